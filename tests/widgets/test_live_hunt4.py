"""The Live dock's fourth hunt: a ring cell by click, a refused save's note, closing napari
during a save, the built-in model's file as an output (also the Train dock's).

- A click on a predicted object one pixel wider than a painted cell copied its free rim: a
  ring-shaped new cell around the painted one. Accept all added nothing there; the click
  now follows the same rule (and says it added nothing).
- A refused save (a missing folder) showed its error for one refresh, then the status line
  claimed the earlier save again.
- Closing napari while a save was written raised from the save's callback (the status
  label was deleted).
- Saving over a built-in model's file (writable in an editable install) was allowed, and
  every dock's "nuclei" loaded the live weights afterwards; the Train dock's Save model
  wrote it too, and its Train button refused it without saying why.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("napari")

from test_live_hunt_fixes2 import _dock, _gesture, _started  # noqa: E402

SIZE = 96
BUILTIN = "that is the built-in model 'nuclei'; choose another file"


def _layers(viewer):
    image = viewer.add_image(np.full((SIZE, SIZE), 20, np.uint8), name="img")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="img annotations")
    return image, labels


# -- a click adds no ring cell around a painted cell -------------------------------------
def test_a_click_and_accept_all_agree_no_ring_cell(make_napari_viewer, qtbot, model_file):
    viewer = make_napari_viewer()
    image, labels = _layers(viewer)
    widget = _dock(viewer, image, labels, model_file)
    widget._click.value = True
    _started(qtbot, widget)
    labels.data_setitem(np.nonzero(np.pad(np.ones((10, 10), bool), ((40, 46), (40, 46)))), 1)
    labels.data_setitem(np.nonzero(np.pad(np.ones((6, 6), bool), ((64, 26), (64, 26)))), 2)
    widget._live.data[...] = 0
    widget._live.data[39:51, 39:51] = 5  # painted cell 1, its outline one pixel wider
    widget._live.data[64:80, 64:80] = 6  # a cell of its own, painted cell 2 on its corner
    viewer.layers.selection.active = labels
    painted = labels.data.copy()
    _gesture(viewer, [(39, 45)])  # a click on the rim around cell 1
    assert np.array_equal(labels.data, painted), "the click made a ring cell around cell 1"
    assert widget._status.value.startswith("Nothing accepted")
    assert not widget.accept_at(45, 50)  # the rim, on the right
    _gesture(viewer, [(75, 75)])  # object 6: its rest outside cell 2 is a cell
    clicked = labels.data.copy()
    assert set(np.unique(clicked).tolist()) == {0, 1, 2, 3}
    labels.undo()
    assert np.array_equal(labels.data, painted)
    assert widget.accept_in_region() == 1  # Accept all: the same cell, the same pixels
    assert np.array_equal(labels.data, clicked)
    widget.stop()


# -- a refused save keeps its note -------------------------------------------------------
def test_a_refused_save_says_so_until_the_next_start(make_napari_viewer, qtbot, model_file,
                                                    tmp_path, monkeypatch):  # fmt: skip
    from napari_unet.widgets import _saving

    viewer = make_napari_viewer()
    image, labels = _layers(viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    good = tmp_path / "good.unet.safetensors"
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: good)
    widget._save.clicked.emit()
    qtbot.waitUntil(lambda: "; saved step" in widget._save_note, timeout=30_000)
    missing = tmp_path / "no such folder" / "second.unet.safetensors"
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: missing)
    widget._save.clicked.emit()
    assert widget._status.value.startswith("Error: could not save the model")
    # the periodic line is written again: it says the save failed, not the earlier one
    qtbot.waitUntil(lambda: widget._status.value.startswith("Live:") and "; saving failed"
                    in widget._status.value, timeout=10_000)  # fmt: skip
    assert "saved step" not in widget._status.value
    widget.stop()
    assert "; saving failed: " in widget._status.value and "saved step" not in widget._status.value


# -- closing napari while a save is written ------------------------------------------------
@pytest.mark.parametrize("ends", ["written", "failed"])
def test_closing_napari_during_a_save_raises_nothing(make_napari_viewer, qtbot, model_file,
                                                     tmp_path, monkeypatch, ends):  # fmt: skip
    """Closing a napari window cancels the workers started while it was the current one:
    then only a failure is reported. A save started while another window was current (a
    second viewer) is reported when written too. Either way after the window closed, into
    the deleted status label."""
    from napari_unet.widgets import _saving

    viewer = make_napari_viewer()
    image, labels = _layers(viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    entered, release = threading.Event(), threading.Event()

    def held(path):  # the save in flight until released
        entered.set()
        release.wait(60)
        if ends == "failed":
            raise OSError("the disk is full")
        return path

    monkeypatch.setattr(widget.trainer, "save", held)
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: tmp_path / "m.unet.safetensors")
    if ends == "written":
        make_napari_viewer()  # the current window now: closing the first cancels nothing
    with qtbot.capture_exceptions() as caught:
        widget._save.clicked.emit()
        qtbot.waitUntil(entered.is_set, timeout=30_000)
        viewer.close()
        release.set()
        note = "; saved step" if ends == "written" else "; saving failed: the disk is full"
        qtbot.waitUntil(lambda: note in widget._save_note, timeout=30_000)
        qtbot.wait(10)
    assert not caught, [str(c[1]) for c in caught]


# -- the built-in model's file as an output ----------------------------------------------
def test_the_live_model_is_not_saved_over_a_builtin_model(
    make_napari_viewer, qtbot, model_file, monkeypatch, errors
):
    from napari_unet.core.models.pretrained import pretrained_path
    from napari_unet.widgets import _saving

    viewer = make_napari_viewer()
    image, labels = _layers(viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    written = []
    monkeypatch.setattr(widget.trainer, "save", lambda path: written.append(path) or path)
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: pretrained_path("nuclei"))
    widget._save.clicked.emit()
    assert errors and BUILTIN in errors[-1]
    qtbot.waitUntil(lambda: widget._status.value.startswith("Live:") and BUILTIN
                    in widget._status.value, timeout=10_000)  # fmt: skip
    assert not written
    widget.stop()


def _train_dock(make_napari_viewer, tmp_path):
    from test_train_widget import setup

    return setup(make_napari_viewer, tmp_path, steps=2)


@pytest.mark.usefixtures("one_thread")
def test_the_train_dock_refuses_a_builtin_model_as_save_to(make_napari_viewer, tmp_path,
                                                           errors):  # fmt: skip
    from napari_unet.core.models.pretrained import pretrained_path

    _, widget = _train_dock(make_napari_viewer, tmp_path)
    widget._save_path.value = pretrained_path("nuclei")
    widget._start.native.click()
    assert errors and BUILTIN in errors[-1]  # before: "exists and was not trained here"
    assert widget._start.enabled and widget._done.is_set()


@pytest.mark.usefixtures("one_thread")
def test_the_train_dock_does_not_save_a_run_over_a_builtin_model(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    from qtpy.QtWidgets import QFileDialog

    from napari_unet.core.models.pretrained import pretrained_path
    from napari_unet.core.training import checkpoint

    _, widget = _train_dock(make_napari_viewer, tmp_path)
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)
    written = []  # the code before wrote the built-in file: never let it
    for writer in ("save_result", "save_carried_best"):
        monkeypatch.setattr(checkpoint, writer, lambda r, path, *a: written.append(path))
    target = str(pretrained_path("nuclei"))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (target, ""))
    widget._save.native.click()
    qtbot.waitUntil(lambda: widget._status.value.startswith(("Error", "Saved")), timeout=30_000)
    assert BUILTIN in widget._status.value and not written


def test_the_predict_dock_does_not_save_a_model_over_a_builtin_model(
    make_napari_viewer, model_file, monkeypatch
):
    # The Predict dock's Save model wrote any path: the built-in file too.
    from napari_unet import load_model
    from napari_unet.core.models import modelfile
    from napari_unet.core.models.pretrained import pretrained_path
    from napari_unet.widgets.predict import PredictWidget

    written = []  # the code before wrote the built-in file: never let it
    monkeypatch.setattr(modelfile, "save_model", lambda path, *a, **k: written.append(path))
    widget = PredictWidget(make_napari_viewer())
    widget.set_model(*load_model(model_file), name="tiny")
    widget._on_save_model(path=pretrained_path("nuclei"))
    assert BUILTIN in widget._status.value and not written


# -- the step a save reports -----------------------------------------------------------------
def test_a_save_reports_the_step_it_wrote(make_napari_viewer, qtbot, model_file, tmp_path,
                                          monkeypatch):  # fmt: skip
    """The step was read before the copy waited for the trainer's lock: "Saved the model at
    step 8" for weights of step 10 (the file's provenance said so)."""
    import time

    from napari_unet.core.models.modelfile import read_metadata
    from napari_unet.widgets import _saving

    viewer = make_napari_viewer()
    image, labels = _layers(viewer)
    labels.data[10:20, 10:20] = 1  # a painted cell: training takes steps
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    trainer = widget.trainer
    qtbot.waitUntil(lambda: trainer.step >= 1, timeout=60_000)
    save = trainer.save

    def late(path):  # the training thread takes a few more steps before the copy
        begun, deadline = trainer.step, time.monotonic() + 60
        while trainer.step < begun + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return save(path)

    trainer.save = late
    out = tmp_path / "live.unet.safetensors"
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: out)
    widget._save.clicked.emit()
    qtbot.waitUntil(lambda: "; saved step" in widget._save_note, timeout=60_000)
    written = read_metadata(out)["provenance"]["live_steps"]
    assert widget._save_note.startswith(f"; saved step {written} ")
    widget.stop()
