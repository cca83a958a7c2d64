"""A closed dock goes away after an export, a save, or a live save; so does a Live dock.

napari keeps every worker made while a viewer is open (its task list, to cancel them when
the window closes), with what the worker's signals are connected to. Before, those were
functions holding the dock: a Predict dock closed after an export or a segmentation saved,
or a Live dock closed after its model was saved, stayed alive for good, with its model.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np

from napari_unet.widgets import _exporting, _saving
from napari_unet.widgets._live_parts import save_model
from napari_unet.widgets.live import LiveWidget
from napari_unet.widgets.predict import PredictWidget


class Trainer:
    """A Live dock's trainer, saving nothing (its model)."""

    step, running = 3, False

    def save(self, path):
        return path


def _gone(qtbot, *refs) -> None:
    def dead():
        gc.collect()
        assert all(ref() is None for ref in refs), [ref() is None for ref in refs]

    qtbot.waitUntil(dead, timeout=3000)


def _ended(qtbot, worker) -> None:
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    qtbot.wait(50)  # its queued signals delivered


class Status:
    """A dock's status line (what run_saving writes to)."""

    value = ""


def test_a_finished_save_lets_go_of_its_data_status_and_callback(qtbot):
    """What a dock's Save segmentation hands run_saving is let go once the save ends.

    napari keeps the worker for good: before, its callbacks kept the status line (the
    dock), the ``then`` callback and the segmentation's copy alive with it.
    """
    from napari_unet.widgets._layers import run_saving

    status, data, seen = Status(), np.zeros((32, 32), np.int32), []

    def then(path):
        seen.append(path)

    worker = run_saving(status, lambda array: "seg.tif", data, then=then)
    _ended(qtbot, worker)
    assert status.value == "Saved seg.tif" and seen == ["seg.tif"]
    refs = [weakref.ref(status), weakref.ref(data), weakref.ref(then)]
    del status, data, then
    _gone(qtbot, *refs)  # the worker itself is still held here, as napari holds it
    assert worker is not None


def test_a_predict_dock_closed_after_an_export_goes_away(
    make_napari_viewer, qtbot, monkeypatch, tiny, tmp_path
):
    def job(_model, path, _name, _stop, done):  # the export's worker, without bioimageio
        yield "Exporting..."
        done.set()
        return {"path": path, "megabytes": 0.0, "seconds": 0.0, "passed": None, "lines": []}

    monkeypatch.setattr(_exporting, "missing_extra", lambda: None)
    monkeypatch.setattr(_exporting, "_job", job)
    viewer = make_napari_viewer()
    dock = PredictWidget(viewer)
    wrapper = viewer.window.add_dock_widget(dock, name="Predict")
    dock.set_model(*tiny, name="tiny")
    worker = dock._exporter.run(tmp_path / "tiny.zip")
    _ended(qtbot, worker)
    qtbot.waitUntil(lambda s=dock._status: s.value.startswith("exported tiny.zip"), timeout=5000)
    ref = weakref.ref(dock)
    viewer.window.remove_dock_widget(wrapper)
    del dock, wrapper
    _gone(qtbot, ref)


def test_a_live_dock_closed_after_saving_its_model_goes_away(
    make_napari_viewer, qtbot, monkeypatch, tmp_path
):
    saved = tmp_path / "live.unet.safetensors"
    monkeypatch.setattr(_saving, "ask_path", lambda *_args: saved)
    viewer = make_napari_viewer()
    dock = LiveWidget(viewer)
    wrapper = viewer.window.add_dock_widget(dock, name="Live")
    dock.trainer = trainer = Trainer()
    assert save_model(dock) == saved
    text = f"Saved the model at step 3 to {saved.name}"
    qtbot.waitUntil(lambda s=dock._status: s.value == text, timeout=10_000)
    qtbot.wait(50)
    refs = [weakref.ref(dock), weakref.ref(trainer)]
    viewer.window.remove_dock_widget(wrapper)
    del dock, wrapper, trainer
    _gone(qtbot, *refs)  # nor its model (the trainer)


def test_a_closed_live_dock_goes_away_and_is_not_called(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    dock = LiveWidget(viewer)
    wrapper = viewer.window.add_dock_widget(dock, name="Live")
    viewer.add_labels(np.zeros((32, 32), np.int32), name="img annotations")
    ref = weakref.ref(dock)
    viewer.window.remove_dock_widget(wrapper)
    del dock, wrapper
    _gone(qtbot, ref)
    viewer.layers[-1].name = "renamed"  # no closed dock is called
