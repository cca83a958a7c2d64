"""The Train dock in a real viewer: background training, progress, curves, preview, stop."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest
from gui_meter import GapMeter

torch = pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def fake_predict_dock():
    """Stands in for the Predict dock: a QWidget with ``set_model`` that records calls."""
    from qtpy.QtWidgets import QWidget

    class FakePredict(QWidget):
        def __init__(self):
            super().__init__()
            self.received = []

        def set_model(self, model, metadata, name, saved=None):
            self.received.append((model, metadata, name, saved))

    return FakePredict()


def setup(make_napari_viewer, tmp_path, steps=30, img=None, lab=None):
    if img is None:
        img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    viewer = make_napari_viewer()
    viewer.add_image(img, name="cells")
    viewer.add_labels(lab, name="cells labels")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._preset.value = "tiny"
    widget._steps.value = steps
    widget._batch.value = 2
    widget._crop.value = 48
    widget._val_every.value = 10
    widget._device.value = "cpu"
    widget._save_path.value = tmp_path / "cells.safetensors"
    return viewer, widget


def test_trains_in_the_background_with_progress_curves_and_preview(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    import threading

    from napari_unet.core.training import trainer

    threads = []
    original_iter = trainer.iter_train

    def iter_train(*args, **kwargs):  # which thread trains (it runs the generator's body)
        threads.append(threading.get_ident())
        return (yield from original_iter(*args, **kwargs))

    monkeypatch.setattr(trainer, "iter_train", iter_train)
    viewer, widget = setup(make_napari_viewer, tmp_path)
    predict = fake_predict_dock()
    viewer.window.add_dock_widget(predict, name="Predict")
    gc.unfreeze()  # the test session's own freeze (conftest.py) undone: the dock's is checked
    assert gc.get_freeze_count() == 0
    meter = GapMeter()
    meter.start()
    started = time.perf_counter()
    widget._start.native.click()
    assert widget._stop.enabled and not widget._start.enabled
    assert gc.get_freeze_count() > 0  # napari's objects left out of collections meanwhile
    qtbot.waitUntil(lambda: widget._result is not None, timeout=120000)
    run_ms = (time.perf_counter() - started) * 1000
    meter.stop()  # the run is what is measured, not the test's own checks after it
    qtbot.waitUntil(lambda: widget._start.enabled, timeout=10000)
    # every step ran off the GUI thread
    assert threads and threading.main_thread().ident not in threads
    assert gc.get_freeze_count() == 0  # and collectable again afterwards
    assert not errors
    assert widget._result.steps_done == 30 and not widget._result.stopped
    assert widget._progress.value == 30
    assert "finished at step 30" in widget._status.value
    # the curves got training losses and three evaluations
    assert len(widget.plot.steps) >= 2 and widget.plot.eval_steps == [10, 20, 30]
    # drawn again as points arrived (the render thread may still be on the last points)
    qtbot.waitUntil(lambda: widget.plot.n_draws >= 2, timeout=10_000)
    # the preview layer was created and filled in place
    preview = viewer.layers["cells preview"]
    assert preview.data.shape == (96, 96) and preview.data.max() > 0
    # the model files were written by the worker
    assert (tmp_path / "cells.safetensors").exists()
    assert (tmp_path / "cells.best.safetensors").exists()
    assert len(predict.received) == 1
    model, metadata, name, saved = predict.received[0]
    assert name == "cells" and metadata["normalization"]["method"] == "percentile"
    assert saved == tmp_path / "cells.safetensors"  # on disk: nothing to save by hand
    assert model(torch.zeros(1, 1, 48, 48)).shape == (1, 2, 48, 48)
    # the GUI thread stayed responsive: the 10 ms timer never waited a second, or (on a
    # machine loaded by other work, where one hiccup passed 2.5 s of a 4.8 s run in CI)
    # never for most of the run: training on the GUI thread would hold it for all of it
    gaps = meter.percentiles()
    assert gaps["n"] > 10
    assert gaps["max"] < max(1000, 0.8 * run_ms), (gaps, run_ms)
    print("GUI gaps", gaps)


def test_stop_keeps_the_weights_and_resume_continues(make_napari_viewer, qtbot, tmp_path):
    from napari_unet import TrainStep

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=100000)
    widget._val_every.value = 100000
    widget._save_path.value = tmp_path / "stop.safetensors"
    seen = []
    original = widget._on_event

    def spy(ev):
        original(ev)
        if isinstance(ev, TrainStep):
            seen.append(ev.step)

    widget._on_event = spy
    widget._start.native.click()
    qtbot.waitUntil(lambda: len(seen) >= 1 and seen[-1] >= 2, timeout=60000)
    widget._stop.native.click()
    qtbot.waitUntil(lambda: widget._result is not None, timeout=60000)
    qtbot.waitUntil(lambda: widget._resume.enabled, timeout=10000)
    first = widget._result
    assert first.stopped and 2 <= first.steps_done < 100000
    assert (tmp_path / "stop.safetensors").exists()
    # resume: continues the step count
    widget._steps.value = first.steps_done + 3
    widget._resume.native.click()
    qtbot.waitUntil(lambda: widget._result is not first, timeout=60000)
    assert widget._result.steps_done == first.steps_done + 3


def test_closing_the_viewer_during_training_stops_the_worker(make_napari_viewer, qtbot, tmp_path):
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=100000)
    widget._val_every.value = 100000
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=60000)
    assert not widget._done.is_set()
    viewer.close()
    assert widget._done.wait(30), "training thread still running after the viewer closed"
    assert widget._stop_flag.is_set()


def test_removing_the_dock_stops_training(make_napari_viewer, qtbot, tmp_path):
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=100000)
    widget._val_every.value = 100000
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=60000)
    viewer.window.remove_dock_widget(widget.native)
    assert widget._done.wait(30)


def test_bad_input_is_reported_before_training(make_napari_viewer, qtbot, tmp_path, errors):
    viewer, widget = setup(make_napari_viewer, tmp_path)
    viewer.layers["cells labels"].data = np.zeros((96, 96), np.int32)
    widget._start.native.click()
    # weight maps are computed in the worker: the message arrives before any training step
    qtbot.waitUntil(lambda: len(errors) == 1 and widget._start.enabled, timeout=30000)
    assert "no annotated cell" in errors[-1]
    assert widget._result is None and widget._progress.value == 0
    viewer.add_labels(np.ones((50, 50), np.int32), name="small")
    widget._labels_box.value = viewer.layers["small"]
    widget._start.native.click()
    qtbot.waitUntil(lambda: len(errors) == 2 and widget._start.enabled, timeout=30000)
    assert "does not match labels shape" in errors[-1]
    assert not widget._resume.enabled  # nothing trained yet


def test_a_model_trained_without_a_file_can_be_saved_from_the_dock(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    from pathlib import Path

    from qtpy.QtWidgets import QFileDialog

    from napari_unet import load_model
    from napari_unet.core.training.checkpoint import optimizer_path

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=4)
    widget._save_path.line_edit.value = ""  # an image without a file, no "save to": no file
    predict = fake_predict_dock()
    viewer.window.add_dock_widget(predict, name="Predict")
    assert not widget._save.enabled  # nothing trained yet
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=60000)
    assert widget._result.saved_to is None and predict.received[-1][3] is None
    assert widget._save.enabled and not list(tmp_path.iterdir())
    chosen = tmp_path / "kept"  # the dialog's name, without a suffix
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), ""))
    widget._save.native.click()
    qtbot.waitUntil(lambda: widget._status.value.startswith("Saved"), timeout=30000)
    path = tmp_path / "kept.safetensors"
    assert path.exists() and optimizer_path(path).exists()  # resumable
    model, _ = load_model(path)
    last = widget._result.model.state_dict()
    assert all(torch.equal(t, last[k]) for k, t in model.state_dict().items())
    assert predict.received[-1][2:] == ("kept", path)  # the Predict dock knows it is saved
    assert Path(str(widget._save_path.value)) == path  # Resume writes there too
    assert not errors


def test_the_learning_rate_reads_auto_and_the_status_shows_the_choice(
    make_napari_viewer, qtbot, tmp_path, tiny, errors
):
    from tiny_model import separate_discs

    from napari_unet import TrainStarted, save_model

    model, meta = tiny
    start = save_model(tmp_path / "tiny.safetensors", model, normalization=meta["normalization"])
    image, labels = separate_discs(0)  # the tiny model already segments these discs
    viewer = make_napari_viewer()
    viewer.add_image(image, name="discs")
    viewer.add_labels(labels, name="discs labels")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    # the default is auto: the control shows the word, the settings leave the rate open
    assert widget._lr.value == widget._lr.min == 0
    assert widget._lr.native.text() == "auto" and widget._form.config().lr is None
    widget._lr.value = 3e-4
    assert widget._lr.native.text() != "auto" and widget._form.config().lr == 3e-4
    widget._lr.value = 0
    widget._init_file.value = start  # fine-tune this file
    widget._steps.value, widget._batch.value, widget._crop.value = 3, 2, 48
    widget._val_every.value, widget._device.value = 1000, "cpu"
    widget._save_path.value = tmp_path / "ft.safetensors"
    shown = {}
    original = widget._on_event

    def spy(ev):
        original(ev)
        kind = "started" if isinstance(ev, TrainStarted) else type(ev).__name__
        shown.setdefault(kind, widget._status.value)

    widget._on_event = spy
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=60000)
    assert not errors
    assert "learning rate 0.0001 (auto: the start model already segments" in shown["started"]
    assert "lr 0.0001 auto" in shown["TrainStep"]
    assert widget._result.metadata["provenance"]["lr"] == pytest.approx(1e-4)


def _stack_dock(make_napari_viewer, tmp_path, steps):
    cells = [touching_cells((96, 96), n_cells=10, seed=s) for s in range(3)]
    imgs, labs = [c[0] for c in cells], [c[1] for c in cells]
    viewer = make_napari_viewer()
    image = viewer.add_image(np.stack(imgs), name="cells", scale=(2.0, 0.5, 0.5),
                             translate=(0.0, 100.0, 200.0))  # fmt: skip
    viewer.add_labels(np.stack(labs), name="cells labels", scale=(2.0, 0.5, 0.5),
                      translate=(0.0, 100.0, 200.0))  # fmt: skip
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._steps.value, widget._batch.value = steps, 2
    widget._crop.value, widget._val_every.value, widget._device.value = 48, 3, "cpu"
    widget._val_image.value = "none"
    widget._save_path.value = tmp_path / "cells.safetensors"
    from napari_unet.widgets._train_form import BUILTIN

    widget._start_from.value = BUILTIN  # finds cells at once: the preview has objects
    return viewer, widget, image


def test_a_z_scaled_stack_previews_the_plane_in_view_where_the_image_lies(
    make_napari_viewer, qtbot, tmp_path
):
    """The slider's index was taken for the plane: on a z-scaled stack it ran past the
    stack and the preview's error ended the run, and the preview lay at scale 1."""
    viewer, widget, image = _stack_dock(make_napari_viewer, tmp_path, steps=6)
    viewer.dims.set_point(0, 4.0)  # the last plane (2 in the stack's own index)
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=120_000)
    assert widget._result.steps_done == 6, widget._status.value
    preview = viewer.layers["cells preview"]
    np.testing.assert_allclose(preview.scale, image.scale)
    np.testing.assert_allclose(preview.translate, image.translate)
    painted = [z for z in range(3) if preview.data[z].any()]
    assert painted == [2]  # the plane in view only


def test_stop_at_once_keeps_the_last_trained_model(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """A second run stopped before its first step replaced the model with an untrained one."""
    import threading

    from napari_unet.widgets import _workers

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=4)
    widget._save_path.line_edit.value = ""
    predict = fake_predict_dock()
    viewer.window.add_dock_widget(predict, name="Predict")
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=60_000)
    trained, handed = widget._result, len(predict.received)
    go, real = threading.Event(), _workers.train_job

    def held(*args, **kwargs):  # the second run waits until Stop was pressed (a loaded
        go.wait(60)  # machine ran its first step between the two clicks: a flaky test)
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr(_workers, "train_job", held)
    widget._start.native.click()
    widget._stop.native.click()
    go.set()
    qtbot.waitUntil(lambda: widget._start.enabled and widget._done.is_set(), timeout=60_000)
    assert widget._result is trained and len(predict.received) == handed
    assert "last model is kept" in widget._status.value


def test_a_cancelled_window_close_leaves_training_running(make_napari_viewer, qtbot, tmp_path):
    from qtpy.QtCore import QEvent
    from qtpy.QtGui import QCloseEvent
    from qtpy.QtWidgets import QApplication

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=100_000)
    widget._val_every.value = 100_000
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=60_000)
    window = viewer.window._qt_window
    window.show()  # a shown window (a hidden one has no close to cancel)
    event = QCloseEvent()
    widget._watcher.eventFilter(window, event)  # napari asks; the user answers Cancel
    QApplication.sendEvent(window, QEvent(QEvent.Type.WindowActivate))
    qtbot.wait(300)
    assert not widget._stop_flag.is_set() and not widget._done.is_set()
    widget._stop.native.click()
    qtbot.waitUntil(lambda: widget._start.enabled, timeout=60_000)


def test_an_existing_model_file_of_another_session_is_never_replaced(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """A second Train on an image replaced the model beside it, whoever had trained it."""
    import tifffile

    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    tifffile.imwrite(tmp_path / "cells.tif", img.astype(np.float32))
    theirs = tmp_path / "cells.unet.safetensors"  # the default output: a colleague's model
    theirs.write_bytes(b"a model trained in another session")
    viewer = make_napari_viewer()
    (image,) = viewer.open(tmp_path / "cells.tif")
    viewer.add_labels(lab, name="cells labels")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._image.value = image
    widget._labels_box.value = viewer.layers["cells labels"]
    widget._preset.value, widget._steps.value, widget._batch.value = "tiny", 3, 2
    widget._crop.value, widget._device.value, widget._val_image.value = 48, "cpu", "none"
    widget._save_path.line_edit.value = ""  # the default: beside the image

    def run():
        before = widget._result
        widget._start.native.click()
        qtbot.waitUntil(lambda: widget._result is not before and widget._start.enabled,
                        timeout=60000)  # fmt: skip
        return widget._result

    mine = tmp_path / "cells.unet-2.safetensors"
    first = run()
    assert theirs.read_bytes() == b"a model trained in another session"
    assert first.saved_to == mine and mine.exists()
    assert "cells.unet.safetensors exists" in widget._status.value
    assert mine.name in widget._status.value
    again = run()  # a later run of this session writes its own file again
    assert again.saved_to == mine and not (tmp_path / "cells.unet-3.safetensors").exists()
    # Chosen by hand, an existing file of another session is refused, before any work.
    widget._save_path.value = theirs
    widget._start.native.click()
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=10000)
    assert "not replaced" in errors[-1] and "cells.unet.safetensors" in errors[-1]
    assert widget._start.enabled and widget._result is again
    assert theirs.read_bytes() == b"a model trained in another session"


def test_the_status_says_when_no_step_beat_the_start_model(tmp_path):
    from types import SimpleNamespace

    from napari_unet.widgets._train_helpers import result_status

    out = tmp_path / "m.safetensors"
    kept = SimpleNamespace(stopped=False, saved_to=out, steps_done=50, best_metrics={"step": 0})
    assert "no step beat the start model" in result_status(kept, out)[0]
    better = SimpleNamespace(stopped=False, saved_to=out, steps_done=50, best_metrics={"step": 25})
    assert "no step beat" not in result_status(better, out)[0]
