"""The Train dock: two docks never write one model file, a model put at the dock's earlier
output is not replaced, a Resume on other validation data says the best model starts over,
and the progress bar shows the step a run stopped at."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_widget import setup  # noqa: E402

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets._train_outputs import run_of  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def wait(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: bool(widget._done.is_set() and widget._start.enabled), timeout=120_000)


def train(qtbot, widget, resume: bool = False) -> None:
    (widget._resume if resume else widget._start).native.click()
    wait(qtbot, widget)


def gate_runs(monkeypatch) -> threading.Event:
    """Hold every run's worker before its first work until the returned event is set."""
    from napari_unet.widgets import _workers

    gate, real = threading.Event(), _workers.train_job

    def held(data, config, kwargs, done):
        gate.wait(60)
        return (yield from real(data, config, kwargs, done))

    monkeypatch.setattr(_workers, "train_job", held)
    return gate


def dock(viewer, steps: int = 2):
    from napari_unet.widgets.train import SCRATCH, TrainWidget

    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._preset.value = "tiny"
    widget._start_from.value = SCRATCH
    widget._steps.value = steps
    widget._batch.value = 2
    widget._crop.value = 48
    widget._val_every.value = 1
    widget._device.value = "cpu"
    return widget


# -- 1: two docks running at once --------------------------------------------------------
def test_two_running_docks_never_write_the_same_default_file(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, both wrote ``cells.unet.safetensors`` (the file exists only at a run's end):
    the first dock's model was silently replaced by the second's."""
    from PIL import Image

    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8)).save(tmp_path / "cells.png")
    viewer = make_napari_viewer()
    [_image] = viewer.open(str(tmp_path / "cells.png"))
    viewer.add_labels(lab, name="cells labels")
    first, second = dock(viewer), dock(viewer)
    gate = gate_runs(monkeypatch)
    first._start.native.click()
    second._start.native.click()
    assert first.running and second.running
    assert first._output == tmp_path / "cells.unet.safetensors"
    assert second._output == tmp_path / "cells.unet-2.safetensors"
    assert "being written by another Train dock" in second._status.value
    gate.set()
    wait(qtbot, first)
    wait(qtbot, second)
    assert not errors
    assert first._result.saved_to == first._output
    assert second._result.saved_to == second._output
    assert run_of(first._output) == first._result.run_id  # the first dock's model is kept
    assert run_of(second._output) == second._result.run_id


def test_a_save_to_another_running_dock_writes_is_refused_until_its_run_ends(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, the second dock trained into the first one's chosen file, not yet written."""
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    viewer = make_napari_viewer()
    viewer.add_image(img, name="cells")
    viewer.add_labels(lab, name="cells labels")
    target = tmp_path / "shared.safetensors"
    first, second = dock(viewer), dock(viewer)
    first._save_path.value = second._save_path.value = target
    gate = gate_runs(monkeypatch)
    first._start.native.click()
    assert first.running
    second._start.native.click()
    assert not second.running  # refused, said
    assert "shared.safetensors is being written by another Train dock" in second._status.value
    first._stop.native.click()  # its run ends before its first step: nothing written
    gate.set()
    wait(qtbot, first)
    assert first._result is None and not target.exists()
    train(qtbot, second)  # the claim ended with the run
    assert second._result is not None and second._result.saved_to == target
    assert run_of(target) == second._result.run_id


# -- 2: a model the user put at the dock's earlier output -----------------------------------
def test_a_model_put_at_the_docks_earlier_output_is_not_replaced(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, the path alone counted as the dock's own: the next Train wrote over it."""
    from napari_unet.core.models.pretrained import pretrained_path

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=2)
    target = tmp_path / "cells.safetensors"
    train(qtbot, widget)
    assert widget._result.saved_to == target
    train(qtbot, widget)  # the dock's own file, untouched: written again
    assert widget._result.saved_to == target and run_of(target) == widget._result.run_id
    shutil.copy(pretrained_path("nuclei"), target)  # the user's model, put there meanwhile
    before = target.read_bytes()
    widget._start.native.click()
    assert not widget.running
    assert "not replaced" in widget._status.value
    assert target.read_bytes() == before


# -- 3: Resume on other validation data ------------------------------------------------------
def test_resuming_on_other_validation_data_says_the_best_model_starts_over(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, the trainer's UserWarning was dropped: the best of the first part was
    silently forgotten."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=2)
    widget._val_every.value = 1
    img, lab = touching_cells((96, 96), n_cells=10, seed=3)
    other = viewer.add_image(img, name="other")
    viewer.add_labels(lab, name="other labels")
    train(qtbot, widget)
    assert widget._result.best_metrics is not None  # the first part validated
    widget._image.value = other
    assert widget._labels_box.value.name == "other labels"
    widget._steps.value = 4
    train(qtbot, widget, resume=True)
    assert widget._result.steps_done == 4 and not errors
    assert any("the best model starts over" in s for s in shown)
    assert "the best model starts over" in widget._status.value


# -- 4: the progress bar after a Stop ----------------------------------------------------------
def test_the_progress_bar_shows_the_step_a_stopped_run_ended_at(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, the bar stayed where its last (throttled) update left it."""
    from napari_unet.core.training import validation
    from napari_unet.widgets import train as train_module
    from napari_unet.widgets.train import SCRATCH

    monkeypatch.setattr(train_module, "BAR_INTERVAL_S", 1e9)  # only the last step updates it
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=8)
    widget._start_from.value = SCRATCH
    widget._val_every.value = 2
    real = validation.evaluate_pairs

    def stopping(*args, **kwargs):  # the first evaluation (step 2) presses Stop
        widget._stop_flag.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(validation, "evaluate_pairs", stopping)
    train(qtbot, widget)
    result = widget._result
    assert result is not None and result.stopped and 0 < result.steps_done < 8
    assert widget._progress.value == result.steps_done
