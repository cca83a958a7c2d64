"""A closed Predict dock goes away, with its model, image and last segmentation.

Before, a closed dock stayed alive for good: the layer list held a function of it (each
closed dock refreshed its pickers at every layer added, removed or renamed), and napari's
task list kept each run's worker with the functions its signals called, which held the
dock; a cancelled run's job also kept its image. 80 to 100 MB a cycle at 2048 x 2048.
"""

from __future__ import annotations

import gc
import types
import weakref

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.widgets import _workers
from napari_unet.widgets.predict import PredictWidget


def _open(viewer, tiny=None):
    dock = PredictWidget(viewer)
    wrapper = viewer.window.add_dock_widget(dock, name="Predict")
    if tiny is not None:
        dock.set_model(*tiny, name="tiny")
    return dock, wrapper


def _gone(qtbot, *refs) -> None:
    def dead():
        gc.collect()
        assert all(ref() is None for ref in refs), [ref() is None for ref in refs]

    qtbot.waitUntil(dead, timeout=3000)


def test_a_closed_dock_that_never_ran_goes_away(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    closed = []
    for _ in range(3):
        dock, wrapper = _open(viewer)
        viewer.window.remove_dock_widget(wrapper)
        closed.append(weakref.ref(dock))
        del dock, wrapper
    _gone(qtbot, *closed)
    viewer.add_image(np.zeros((32, 32), np.float32), name="more")  # no closed dock is called


def test_a_closed_dock_lets_go_of_its_image_and_segmentation(
    make_napari_viewer, qtbot, run_predict, tiny
):
    pytest.importorskip("torch")
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((64, 64), n_cells=6)[0], name="img")
    dock, wrapper = _open(viewer, tiny)
    dock._image.value = image
    run_predict(dock)
    refs = [weakref.ref(dock), weakref.ref(image), weakref.ref(viewer.layers[-1])]
    viewer.window.remove_dock_widget(wrapper)  # the user closes the dock...
    viewer.layers.clear()  # ...and deletes the layers
    del dock, wrapper, image
    _gone(qtbot, *refs)


def test_a_cancelled_run_lets_go_of_its_image_once_the_dock_is_closed(
    make_napari_viewer, qtbot, monkeypatch, tiny
):
    pytest.importorskip("torch")

    def endless(*_args):  # a run that goes on until it is cancelled
        while True:
            yield types.SimpleNamespace(done=0, total=1)

    monkeypatch.setattr(_workers, "predict_job", endless)
    viewer = make_napari_viewer()
    pixels = np.zeros((64, 64), np.float32)
    image = viewer.add_image(pixels, name="img")
    dock, wrapper = _open(viewer, tiny)
    dock._image.value = image
    dock._run.clicked.emit()
    worker = dock._worker
    qtbot.waitUntil(lambda: worker.is_running, timeout=10_000)
    dock._cancel.clicked.emit()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    refs = [weakref.ref(dock), weakref.ref(pixels)]
    viewer.window.remove_dock_widget(wrapper)
    viewer.layers.clear()
    del dock, wrapper, image, pixels  # the worker is kept (napari keeps it too)
    _gone(qtbot, *refs)
