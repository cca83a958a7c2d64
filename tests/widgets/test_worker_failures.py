"""A RuntimeError (PyTorch's out of memory) in a dock's run ends the run with a message.

superqt's generator workers took such an error for a deleted Qt object: a warning only, no
``errored`` nor ``finished``; the dock stayed on Cancel (Predict: disabled) for good.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from failing_runs import CPU_OOM, failing_at  # noqa: E402

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets import _worker_errors  # noqa: E402

SAID = "out of memory (an array of 8.0 GiB did not fit)"


def oom(*args, **kwargs):
    raise RuntimeError(CPU_OOM)


def test_surfaced_generators_end_with_errored_and_finished(qtbot):
    from napari.qt.threading import create_worker

    def job():
        yield 1
        raise RuntimeError(CPU_OOM)

    seen = {}
    worker = create_worker(_worker_errors.surfaced(job), _start_thread=False, _ignore_errors=True)
    worker.errored.connect(lambda exc: seen.setdefault("errored", exc))
    worker.finished.connect(lambda: seen.setdefault("finished", True))
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    assert isinstance(seen["errored"], _worker_errors.WorkerFailed) and str(seen["errored"]) == SAID
    assert isinstance(seen["errored"].__cause__, RuntimeError)


def test_predict_out_of_memory_is_reported(make_napari_viewer, qtbot, tiny, errors, monkeypatch):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    viewer.add_image(touching_cells((96, 96), n_cells=8, seed=0)[0], name="cells")
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = viewer.layers["cells"]
    monkeypatch.setattr(type(tiny[0]), "forward", oom)
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=60_000)
    assert errors == [f"Prediction failed: {SAID}"]
    assert widget._status.value == f"Error: Prediction failed: {SAID}"


def tiny_train_dock(viewer, out, steps: int):
    """A Train dock on touching cells: the tiny network, ``steps`` steps, saved to ``out``."""
    from napari_unet.widgets.train import TrainWidget

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    viewer.add_image(img, name="cells")
    viewer.add_labels(lab, name="cells annotations")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._preset.value = "tiny"
    for name, value in (("_steps", steps), ("_batch", 2), ("_crop", 48)):
        getattr(widget, name).value = value
    widget._device.value = "cpu"
    widget._save_path.value = out
    return widget


@pytest.mark.usefixtures("one_thread")
def test_training_that_fails_keeps_the_model_it_trained(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    out = tmp_path / "m.safetensors"
    widget = tiny_train_dock(make_napari_viewer(), out, steps=10)
    failing_at(monkeypatch, 4, RuntimeError(CPU_OOM))
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._start.enabled and bool(errors), timeout=60_000)
    assert errors == [
        f"Training failed: {SAID}; the model trained to step 3 is kept (saved to {out})"
    ]
    assert widget._result is not None and widget._result.steps_done == 3 and out.exists()
    assert widget._save.enabled  # the kept model can be saved elsewhere, exported, resumed


def test_evaluate_failure_ends_the_run(make_napari_viewer, qtbot, errors, monkeypatch):
    from napari_unet.widgets import _evaluate_work
    from napari_unet.widgets.evaluate import EvaluateWidget

    monkeypatch.setattr(_evaluate_work, "copy_layers", oom)
    viewer = make_napari_viewer()
    viewer.add_labels(np.eye(20, dtype=np.int32), name="gt")
    viewer.add_labels(np.eye(20, dtype=np.int32), name="pred")
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._ground_truth.value = viewer.layers["gt"]
    widget._prediction.value = viewer.layers["pred"]
    widget._run.native.click()
    qtbot.waitUntil(lambda: widget._run.text == "Evaluate", timeout=20_000)
    assert errors == [f"Evaluation failed: {SAID}"]
    assert viewer.layers["gt"].editable  # given back


def test_weight_map_failure_ends_the_run(make_napari_viewer, qtbot, errors, monkeypatch):
    from napari_unet.widgets import weightmap as weightmap_module
    from napari_unet.widgets.weightmap import WeightMapWidget

    monkeypatch.setattr(weightmap_module, "iter_target_and_weights", oom)
    viewer = make_napari_viewer()
    viewer.add_labels(touching_cells((64, 64), n_cells=6, seed=1)[1], name="cells")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.layers.selection.active = viewer.layers["cells"]
    widget._run.native.click()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=20_000)
    assert any(SAID in e for e in errors), errors
    assert "cells weights" not in viewer.layers


def test_live_training_out_of_memory_is_said_in_words(make_napari_viewer, qtbot, monkeypatch):
    from napari_unet.core.live import trainer as live_trainer
    from napari_unet.widgets.live import LiveWidget

    monkeypatch.setattr(live_trainer.LiveTrainer, "_train_step", oom)
    viewer = make_napari_viewer()
    image, labels = touching_cells((64, 64), n_cells=6, seed=1)
    image_layer = viewer.add_image(image, name="cells")
    labels_layer = viewer.add_labels(labels.astype(np.int32), name="cells annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image_layer, labels_layer
    assert widget.start()
    qtbot.waitUntil(lambda: SAID in widget._status.value, timeout=30_000)
    assert widget._status.value == f"Error: Live training stopped: {SAID}"  # not alloc_cpu.cpp


def test_a_save_out_of_memory_is_said_in_words(
    make_napari_viewer, qtbot, tiny, errors, monkeypatch, tmp_path
):
    # A MemoryError has no text: the dock said "could not save: " with nothing after it.
    from napari_unet.widgets import _saving
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    viewer.add_image(touching_cells((96, 96), n_cells=8, seed=0)[0], name="cells")
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = viewer.layers["cells"]
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: bool(widget._save_labels.enabled), timeout=60_000)

    def no_memory(*args):
        raise MemoryError()

    monkeypatch.setattr(_saving, "save_labels", no_memory)
    widget._on_save_labels(path=tmp_path / "labels.tif")
    qtbot.waitUntil(lambda: widget._status.value.startswith("Error"), timeout=10_000)
    assert errors == ["could not save: out of memory"]
