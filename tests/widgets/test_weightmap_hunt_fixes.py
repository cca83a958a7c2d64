"""The Weight map dock: undo/redo recompute the map, an empty Shapes region is an error, and a
queued run never outlives a removed labels layer."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_weightmap_outputs import settle

from napari_unet import target_and_weights, touching_cells
from napari_unet.widgets import weightmap as weightmap_module
from napari_unet.widgets.weightmap import WeightMapWidget


@pytest.fixture
def dock(make_napari_viewer):
    _, labels = touching_cells((32, 32), n_cells=4, seed=2)
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    widget._timer.setInterval(20)  # a short quiet time: the test need not wait
    return viewer, widget, labels


def test_undo_and_redo_recompute_the_map_and_a_redraw_does_not(dock, qtbot, runs):
    viewer, widget, labels = dock
    layer = viewer.layers["cells"]
    widget._live.value = True
    settle(qtbot, widget)
    layer.brush_size = 7
    layer.paint((16, 16), 9)  # one dab of the brush, kept in the undo history
    settle(qtbot, widget)
    shown = viewer.layers["cells weights"]
    painted = layer.data.copy()
    np.testing.assert_array_equal(shown.data, target_and_weights(painted)[1])
    layer.undo()  # what Ctrl+Z does
    settle(qtbot, widget)
    np.testing.assert_array_equal(layer.data, labels)
    np.testing.assert_array_equal(shown.data, target_and_weights(labels)[1])
    layer.redo()
    settle(qtbot, widget)
    np.testing.assert_array_equal(shown.data, target_and_weights(painted)[1])
    # A redraw that changes nothing (a new slice, a refresh) computes nothing.
    done = len(runs)
    layer.refresh()
    settle(qtbot, widget)
    assert len(runs) == done


def test_undo_in_a_labels_region_recomputes_the_map(dock, qtbot):
    viewer, widget, labels = dock
    region = viewer.add_labels(np.ones(labels.shape, np.uint8), name="region")
    widget._mask.value = region
    widget._live.value = True
    settle(qtbot, widget)
    region.brush_size = 9
    region.selected_label = 0
    region.paint((16, 16), 0)  # a hole in the region, kept in its undo history
    settle(qtbot, widget)
    shown = viewer.layers["cells weights"]
    assert (shown.data[16, 16] == 0) and region.data[16, 16] == 0
    region.undo()  # before: only the labels' undo recomputed the map
    settle(qtbot, widget)
    assert region.data.all()
    np.testing.assert_array_equal(shown.data, target_and_weights(labels)[1])


def test_a_shapes_region_of_lines_only_is_an_error_not_weights_zero(dock, qtbot, errors):
    viewer, widget, _ = dock
    path = np.array([[2, 2], [2, 28], [28, 28]])
    viewer.add_shapes([path], shape_type="path", name="region")
    widget._mask.value = viewer.layers["region"]
    widget._run.native.click()
    settle(qtbot, widget)
    assert "'region' is empty; draw or paint it" in widget._status.value
    assert "cells weights" not in viewer.layers and len(errors) == 1
    widget._live.value = True  # updating on change: said again once, not on every redraw
    settle(qtbot, widget)
    viewer.layers["cells"].refresh()
    settle(qtbot, widget)
    assert len(errors) == 2


def test_removing_the_labels_with_a_run_queued_says_it_was_removed(
    dock, qtbot, errors, monkeypatch
):
    viewer, widget, _ = dock
    gate = threading.Event()
    real = weightmap_module.iter_target_and_weights

    def held(labels, **kwargs):  # the computation waits until the layer is gone
        gate.wait(10)
        return (yield from real(labels, **kwargs))

    monkeypatch.setattr(weightmap_module, "iter_target_and_weights", held)
    try:
        widget._run.native.click()
        widget._run.native.click()  # pressed again meanwhile: one run queued
        assert widget._pending
        viewer.layers.remove("cells")
    finally:
        gate.set()
    settle(qtbot, widget)
    assert widget._status.value == "The annotations layer was removed; no weight map is shown."
    assert errors == [] and [ly.name for ly in viewer.layers] == []
