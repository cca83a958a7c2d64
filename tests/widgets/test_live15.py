"""The Live dock's fifteenth hunt: which model a run continues, a model picked while Start
loads, a Labels region's undo, strokes queued with one that failed.

- On *auto*, with the image's data replaced by a bright one while stopped, Start continued
  the nuclei weights under nuclei-brightfield's metadata (and so did a model file rewritten
  in place): the saved file mixed the two. A run continued now keeps its own metadata.
- A model picked while Start loaded was ignored: the model of the click was trained while
  the picker showed the other one. A trainer refused at Start raised a traceback.
- Undo (Ctrl+Z) on a Labels layer used as the annotated region was never followed.
- After a trainer error, Start never trained the strokes queued with the failing one.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_live_hunt_fixes2 import _applied, _discs, _dock
from test_live_start import _gated_loading

pytest.importorskip("napari")


def _stopped_after_steps(qtbot, dock, steps: int = 2) -> None:
    assert dock.start(), dock._status.value
    qtbot.waitUntil(lambda: dock.trainer.step >= steps, timeout=60_000)
    dock.stop()


def test_auto_choosing_another_model_begins_afresh_and_says_so(make_napari_viewer, qtbot):
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.widgets import _live_runs as runs
    from napari_unet.widgets._live_parts import model_path
    from napari_unet.widgets.live import LiveWidget

    img, _lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    dock._image_box.value, dock._labels_box.value = image, labels
    assert dock._model.value.startswith("auto")
    assert str(model_path(dock)).endswith("nuclei.unet.safetensors")  # a dark background
    assert dock.start(), dock._status.value  # nothing painted: no steps, the weights as loaded
    dock.stop()
    image.data = (255 - img).astype(np.uint8)  # the Review dock's next image, a bright one
    runs.show_stopped(dock)  # (the line follows the picks; said again here)
    assert "Start continues it" not in dock._status.value, dock._status.value
    assert "afresh from nuclei-brightfield" in dock._status.value, dock._status.value
    assert dock.start(), dock._status.value
    try:
        bright = str(model_path(dock))
        assert bright.endswith("nuclei-brightfield.unet.safetensors")
        want = load_model(bright)[0].state_dict()
        got = dock.trainer.average.state_dict()
        assert all(np.array_equal(got[k].numpy(), want[k].numpy()) for k in want)  # not nuclei
        assert dock._kept_for.source[0] == str(Path(bright).resolve())
        dock._show_status()
        assert "begun afresh from nuclei-brightfield" in dock._status.value, dock._status.value
    finally:
        dock.stop()


def test_a_model_file_rewritten_in_place_is_not_continued(make_napari_viewer, qtbot,
                                                          model_file, tiny, tmp_path):  # fmt: skip
    import torch

    from napari_unet.core.models.modelfile import save_model

    path = tmp_path / "start.unet.safetensors"
    shutil.copy(model_file, path)
    img, lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    labels.data_setitem(np.nonzero(lab == 1), 1)
    dock = _dock(viewer, image, labels, path)
    _stopped_after_steps(qtbot, dock)
    first = dock.trainer
    assert dock.start(), dock._status.value  # the same file: continued, its metadata kept
    assert dock.trainer.start_step == first.step > 0
    assert dock.trainer.metadata == first.metadata  # before: another run id
    dock.stop()
    model, meta = tiny
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    save_model(path, other, **{k: v for k, v in meta.items() if k != "final_loss"})
    assert dock.start(), dock._status.value
    try:
        assert dock.trainer.start_step == 0  # before: the stopped run's weights went on
        dock._show_status()
        assert "it changed since the stopped run" in dock._status.value, dock._status.value
    finally:
        dock.stop()


def test_a_model_picked_while_start_loads_cancels_it(make_napari_viewer, qtbot, model_file,
                                                     monkeypatch):  # fmt: skip
    from napari_unet.widgets._live_parts import FILE

    img, lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(lab.copy(), name="cells annotations")
    dock = _dock(viewer, image, labels, model_file)
    gate, done, threads = _gated_loading(monkeypatch)
    dock._start.native.click()
    qtbot.waitUntil(lambda: bool(threads), timeout=10_000)
    dock._model.value = next(c for c in dock._model.choices if c != FILE and "bright" in c)
    assert dock._status.value.startswith("Start cancelled: another model"), dock._status.value
    assert dock._start.enabled and not dock._stop.enabled
    gate.set()
    qtbot.waitUntil(lambda: bool(done), timeout=30_000)
    qtbot.wait(200)  # the loaded model comes: dropped
    assert dock.trainer is None  # before: the tiny model trained, the picker said brightfield


def test_a_trainer_refused_at_start_is_a_message(make_napari_viewer, monkeypatch, model_file):
    from napari_unet.core.errors import InputError
    from napari_unet.core.live import trainer as trainer_module

    def refused(raw, channels):
        raise InputError("raw must be the plane as the model reads it, (C, H, W) with C = 1")

    monkeypatch.setattr(trainer_module, "check_plane", refused)
    img, lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(lab.copy(), name="cells annotations")
    dock = _dock(viewer, image, labels, model_file)
    assert not dock.start()  # before: InputError raised out of the dock
    assert dock._status.value.startswith("Error: could not start live training"), dock._status.value
    assert dock._start.enabled and not dock._stop.enabled and dock.trainer is None


def test_an_undo_on_a_labels_region_is_followed(make_napari_viewer, qtbot, model_file):
    img, lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(lab.copy(), name="cells annotations")
    region = viewer.add_labels(np.zeros(img.shape, np.int32), name="bg region")
    dock = _dock(viewer, image, labels, model_file)
    dock._annotated_box.value = region
    assert dock.start(), dock._status.value
    try:
        dock.trainer.pause()
        region.data_setitem(np.nonzero(np.ones((30, 30), bool)), 1)
        qtbot.waitUntil(lambda: bool(dock.trainer.data.region.sum() == 900), timeout=10_000)
        region.undo()  # napari emits no event
        assert int(region.data.sum()) == 0
        qtbot.waitUntil(lambda: bool(dock.trainer.data.region.sum() == 0), timeout=5_000)
        region.redo()
        qtbot.waitUntil(lambda: bool(dock.trainer.data.region.sum() == 900), timeout=5_000)
    finally:
        dock.stop()


def test_strokes_queued_with_a_failing_one_are_sent_again_at_start(make_napari_viewer, qtbot,
                                                                   model_file):  # fmt: skip
    img, lab = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.uint64), name="cells annotations")
    dock = _dock(viewer, image, labels, model_file)
    assert dock.start(), dock._status.value
    big = 2**63 + 5
    with dock.trainer._model_lock:  # the three strokes reach the thread together
        for cell, value in ((1, 1), (2, big), (3, 3)):
            labels.data_setitem(np.nonzero(lab == cell), value)
            qtbot.wait(30)  # sent on the next loop turn
    qtbot.waitUntil(lambda: "renumber" in dock._status.value, timeout=10_000)
    assert not dock.trainer.running
    assert dock.start(), dock._status.value  # the failing stroke is sent again: said again
    qtbot.waitUntil(lambda: "renumber" in dock._status.value, timeout=5_000)  # before: silent
    labels.data_setitem(np.nonzero(lab == 2), 2)  # renumbered while stopped
    assert dock.start(), dock._status.value
    try:
        _applied(qtbot, dock.trainer)
        qtbot.wait(100)
        _applied(qtbot, dock.trainer)
        got = dock.trainer.data.labels
        for cell in (1, 2, 3):
            assert (got[lab == cell] == cell).all(), cell  # before: cell 3 never trained
        assert dock.trainer.error is None
    finally:
        dock.stop()
