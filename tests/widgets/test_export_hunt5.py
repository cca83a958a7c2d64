"""The docks' Export button after a hunt: what it exports, napari closing, the Train dock.

Before: the Predict dock exported the weights it had loaded though their file was rewritten
since (Predict reloads it); closing napari during an export aborted Python and lost the
package, the dock's callbacks then touching deleted widgets; an export that ended during a
training run turned the Train dock's Export button back on.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("bioimageio.core")

from napari_unet.widgets import _saving  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

WAIT_MS = 120_000


@pytest.fixture
def untested(monkeypatch):
    """The package's bioimageio test skipped (10 s and more; test_export_widget runs it)."""
    from napari_unet.core.exchange import export

    monkeypatch.setattr(export, "check_package", lambda path: (True, ["not run here"]))


def _press_export(dock, monkeypatch, path: Path) -> None:
    """Press the dock's Export button and answer its save dialog with ``path``."""
    monkeypatch.setattr(_saving, "ask_path", lambda *args, **kwargs: path)
    dock._exporter.button.native.click()


def _tensors(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _rewrite(path: Path, tiny) -> dict:
    """Write other weights to the model file ``path`` (a retraining); those tensors."""
    import torch

    from napari_unet.core.models.modelfile import save_model

    model, meta = copy.deepcopy(tiny[0]), {k: v for k, v in tiny[1].items() if k != "final_loss"}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    save_model(path, model, **meta)
    later = path.stat().st_mtime + 5  # a clearly later stamp, whatever the clock's grain
    os.utime(path, (later, later))
    return _tensors(model)


def _predicted_from_file(make_napari_viewer, model_file, run_predict):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((64, 64)).astype("float32"), name="img")
    dock = PredictWidget(viewer)
    dock._form._model_file.value = model_file
    run_predict(dock)
    assert dock._form.model is not None  # kept in memory for the next run
    return viewer, dock


def test_predict_dock_exports_a_rewritten_model_file_as_it_is_now(
    make_napari_viewer, qtbot, tiny, model_file, run_predict, untested, monkeypatch, tmp_path
):
    from napari_unet import import_bioimageio

    _, dock = _predicted_from_file(make_napari_viewer, model_file, run_predict)
    new = _rewrite(Path(model_file), tiny)  # retrained from the command line meanwhile
    _press_export(dock, monkeypatch, tmp_path / "cells.zip")
    qtbot.waitUntil(lambda: bool(dock._exporter.result), timeout=WAIT_MS)
    back, _ = import_bioimageio(tmp_path / "cells.zip")
    for key, value in _tensors(back).items():  # before: the weights loaded earlier
        assert np.allclose(value.numpy(), new[key].numpy()), key
    assert dock._form.request()["model_file"] == Path(model_file)  # as Predict reloads it


def test_predict_dock_refuses_to_export_a_model_file_deleted_since(
    make_napari_viewer, qtbot, model_file, run_predict, errors, monkeypatch, tmp_path
):
    _, dock = _predicted_from_file(make_napari_viewer, model_file, run_predict)
    Path(model_file).unlink()
    _press_export(dock, monkeypatch, tmp_path / "gone.zip")
    assert dock._exporter.worker is None  # before: the weights loaded earlier, exported
    assert errors and "is gone" in errors[-1], errors
    assert dock._status.value.startswith("Error: "), dock._status.value
    assert not (tmp_path / "gone.zip").exists()


@pytest.mark.parametrize("how", ["docked", "dock-removed", "floating"])
def test_closing_napari_during_an_export_finishes_it(
    make_napari_viewer, qtbot, tiny, monkeypatch, tmp_path, how
):
    from napari_unet import import_bioimageio

    tested = []
    from napari_unet.core.exchange import export

    monkeypatch.setattr(export, "check_package", lambda path: tested.append(path) or (True, []))
    viewer = make_napari_viewer()
    dock = PredictWidget(viewer)
    qdock = viewer.window.add_dock_widget(dock, name="Predict")
    dock.set_model(*tiny, name="tiny model")
    exporter = dock._exporter
    qdock.setFloating(how == "floating")  # a floating dock's window is the dock (a review)
    package = tmp_path / "tiny.zip"
    _press_export(dock, monkeypatch, package)
    qtbot.waitUntil(lambda: dock._status.value.startswith("Exporting: writing"), timeout=WAIT_MS)
    if how == "dock-removed":  # the dock's close button first: harmless, the export goes on
        viewer.window.remove_dock_widget(qdock)
        qtbot.wait(50)
    viewer.close()  # the export ends before napari does (before: Python aborted at exit)
    assert package.is_file()  # written, whole
    assert not tested  # not tested: napari was closing before the test began
    import_bioimageio(package)
    staging = Path(tempfile.gettempdir()).glob(f"napari-unet-export-{os.getpid()}-*")
    assert not list(staging)
    qtbot.waitUntil(lambda: exporter.worker is None, timeout=WAIT_MS)
    qtbot.wait(200)  # its queued signals: no deleted status line or button touched (pytest-qt
    # fails the test on an exception in a slot)


def test_train_dock_export_stays_off_while_a_run_trains(
    make_napari_viewer, qtbot, tiny, untested, monkeypatch, tmp_path
):
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.core.training.events import TrainResult

    viewer = make_napari_viewer()
    dock = TrainWidget(viewer)
    model, metadata = tiny
    dock._result = TrainResult(model=model, history={}, best_metrics={}, steps_done=5,
                               stopped=False, config=TrainConfig(), metadata=dict(metadata),
                               optimizer_state={}, best_state=model.state_dict())  # fmt: skip
    dock._set_running(False)  # a run has ended: Export is on
    assert dock._exporter.button.enabled
    _press_export(dock, monkeypatch, tmp_path / "trained.zip")
    assert dock._exporter.worker is not None and not dock._exporter.button.enabled
    dock._done.clear()  # Train pressed while it exports: what a run's start does
    dock._set_running(True)
    qtbot.waitUntil(lambda: dock._exporter.worker is None, timeout=WAIT_MS)
    assert dock._status.value.startswith("exported trained.zip"), dock._status.value
    assert not dock._exporter.button.enabled  # before: on, in the middle of the run
    status = dock._status.value
    dock._exporter.button.native.click()  # nothing happens (before: "no trained model")
    assert dock._status.value == status
    dock._done.set()  # the run ends: Export is on again
    dock._set_running(False)
    assert dock._exporter.button.enabled
