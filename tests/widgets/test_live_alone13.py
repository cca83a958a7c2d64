"""The Live dock: a long session's erase, what the stopped line says, the layer, Save, Stop.

- Past 100 strokes napari's undo history is full and each stroke pushes the oldest item
  out: that item was taken for an undo, and an erased cell's background was no longer
  annotated.
- After Stop, the status line said "Start continues it" after another model (even the
  same entry, picked again) or image was picked: Start began afresh, the steps lost.
- The image renamed between Stop and Start: a new prediction layer was made, the dock's
  own left with stale outlines.
- A slow Save of the last run, ending after Start, put "saved step N" on the new run's line.
- Stop was greyed out while Start loaded the model.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_live_hunt_fixes2 import _applied, _discs, _dock
from test_live_start import _gated_loading

pytest.importorskip("napari")


def _setup(make_napari_viewer, model_file, painted: bool = True):
    img, lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    if painted:
        labels.data_setitem(np.nonzero(lab == 1), 1)
    return viewer, image, labels, _dock(viewer, image, labels, model_file), lab


def test_an_erase_stays_annotated_background_past_100_strokes(make_napari_viewer, qtbot,
                                                              model_file):  # fmt: skip
    viewer, image, labels, dock, lab = _setup(make_napari_viewer, model_file, painted=False)
    assert dock.start(), dock._status.value
    trainer = dock.trainer
    trainer.pause()
    dock._timers["diff"].stop()  # the once-a-second look, made here
    cell = np.nonzero(lab == 1)
    labels.data_setitem(cell, 1)
    qtbot.wait(50)  # sent: the cell is in the trainer's labels
    labels.data_setitem(cell, 0)  # erased: "no cell here"
    qtbot.wait(50)
    dock._send_diff()
    _applied(qtbot, trainer)
    assert trainer.data.mask[cell].all()
    ys, xs = np.nonzero(lab == 4)
    for k in range(labels._history_limit + 5):  # the erase falls off napari's history
        labels.data_setitem((ys[k : k + 1], xs[k : k + 1]), 4)
    qtbot.wait(50)
    dock._send_diff()
    _applied(qtbot, trainer)
    assert trainer.data.mask[cell].all()  # still annotated background
    assert (trainer.data.labels[cell] == 0).all()
    dock.stop()


def test_the_stopped_line_says_what_start_does_as_picks_change(make_napari_viewer, qtbot,
                                                               model_file):  # fmt: skip
    from napari_unet.widgets._live_parts import FILE

    viewer, image, labels, dock, lab = _setup(make_napari_viewer, model_file)
    other = viewer.add_image(np.asarray(image.data).copy(), name="other")
    dock._image_box.value, dock._labels_box.value = image, labels
    assert dock.start(), dock._status.value
    qtbot.waitUntil(lambda: dock.trainer.step >= 2, timeout=60_000)
    dock.stop()
    steps = dock.trainer.step
    assert "Start continues it" in dock._status.value
    dock._image_box.value = other  # another image: afresh, said
    assert "'other' is picked" in dock._status.value
    assert "Start begins afresh" in dock._status.value
    dock._image_box.value, dock._labels_box.value = image, labels
    assert "Start continues it" in dock._status.value
    builtin = next(c for c in dock._model.choices if c != FILE)
    dock._model.value = builtin
    assert f"Start begins afresh from {builtin}" in dock._status.value
    dock._model.value = FILE  # the same file, picked again through another entry
    note = dock._status.value
    assert "Start continues" not in note and "Start begins afresh from tiny" in note, note
    assert f"Save model first to keep the {steps} steps" in note
    assert dock.start(), dock._status.value
    assert dock.trainer.start_step == 0  # what the line said
    dock.stop()
    assert "Start continues it" in dock._status.value
    dock._model.native.activated.emit(dock._model.native.currentIndex())  # the same entry
    assert "Start begins afresh from tiny" in dock._status.value, dock._status.value


def test_stop_then_start_reuses_the_layer_of_a_renamed_image(make_napari_viewer, qtbot,
                                                             model_file):  # fmt: skip
    viewer, image, labels, dock, lab = _setup(make_napari_viewer, model_file)
    assert dock.start(), dock._status.value
    old = dock._live
    old.data = lab.copy()  # stands for a prediction drawn
    image.name = "nuclei"
    dock.stop()
    assert dock.start(), dock._status.value
    assert dock._live is old and old in viewer.layers
    assert int(old.data.max()) == 0  # emptied, no stale outlines
    assert [ly.name for ly in viewer.layers if "live prediction" in ly.name] == [old.name]
    dock.stop()


def test_a_slow_save_of_the_last_run_is_not_said_on_a_new_run(
    make_napari_viewer, qtbot, model_file, tmp_path, monkeypatch
):
    from napari_unet.core.live.trainer import LiveTrainer
    from napari_unet.widgets import _saving

    real, gate = LiveTrainer.save, threading.Event()

    def slow(self, path):
        assert gate.wait(60)
        return real(self, path)

    monkeypatch.setattr(LiveTrainer, "save", slow)
    viewer, image, labels, dock, lab = _setup(make_napari_viewer, model_file)
    assert dock.start(), dock._status.value
    qtbot.waitUntil(lambda: dock.trainer.step >= 2, timeout=60_000)
    out = tmp_path / "a.unet.safetensors"
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: out)
    dock._on_save()
    dock.stop()
    dock._kept_for = None  # afresh
    assert dock.start(), dock._status.value
    gate.set()
    qtbot.waitUntil(lambda: "Saved the model" in dock._status.value, timeout=30_000)
    assert out.exists() and "of the last run" in dock._status.value
    dock._show_status()
    assert "saved step" not in dock._status.value, dock._status.value
    dock.stop()


def test_stop_while_the_model_loads_cancels_the_start(make_napari_viewer, qtbot, model_file,
                                                      monkeypatch):  # fmt: skip
    viewer, image, labels, dock, lab = _setup(make_napari_viewer, model_file)
    gate, done, threads = _gated_loading(monkeypatch)
    dock._start.native.click()
    qtbot.waitUntil(lambda: bool(threads), timeout=10_000)
    assert dock._stop.enabled and not dock._start.enabled
    dock._stop.native.click()
    assert dock._start.enabled and not dock._stop.enabled
    assert dock._status.value.startswith("Start cancelled")
    gate.set()
    qtbot.waitUntil(lambda: bool(done), timeout=30_000)
    qtbot.wait(200)  # the loaded model comes: dropped
    assert dock.trainer is None
