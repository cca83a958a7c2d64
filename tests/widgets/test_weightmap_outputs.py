"""The Weight map dock: renamed result layers are the user's; live updates follow the region."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import target_and_weights, touching_cells
from napari_unet.widgets.weightmap import WeightMapWidget


def settle(qtbot, widget: WeightMapWidget) -> None:
    qtbot.wait(50)
    qtbot.waitUntil(
        lambda: widget._worker is None and not widget._timer.isActive() and not widget._pending,
        timeout=20000,
    )


@pytest.fixture
def dock(make_napari_viewer, qtbot):
    _, labels = touching_cells((64, 64), n_cells=10, seed=1)
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    widget._labels_box.value = viewer.layers["cells"]
    return viewer, widget, labels


def test_result_layers_the_user_renamed_are_never_rewritten_or_removed(dock, qtbot):
    """Renamed to keep them, the weights and a painted-into target were overwritten by the
    next run, and the target was removed with "show the separated target" off."""
    viewer, widget, labels = dock
    widget._run.native.click()
    settle(qtbot, widget)
    viewer.layers["cells weights"].name = "weights w0=10 (keep)"
    target = viewer.layers["cells target"]
    target.name = "my edited target"
    target.data[0:5, 0:5] = 1  # a fix painted into the kept target
    kept_weights = viewer.layers["weights w0=10 (keep)"].data.copy()
    kept_target = target.data.copy()
    widget._w0.value = 30.0
    widget._run.native.click()
    settle(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers["weights w0=10 (keep)"].data, kept_weights)
    np.testing.assert_array_equal(viewer.layers["my edited target"].data, kept_target)
    # The new map got layers of its own, under the names the dock gives.
    ref_t, ref_w = target_and_weights(labels, w0=30.0)
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, ref_w)
    np.testing.assert_array_equal(viewer.layers["cells target"].data, ref_t)
    widget._show_target.value = False
    widget._run.native.click()
    settle(qtbot, widget)
    names = [layer.name for layer in viewer.layers]
    assert names == ["cells", "weights w0=10 (keep)", "my edited target", "cells weights"]
    np.testing.assert_array_equal(viewer.layers["my edited target"].data, kept_target)


def test_update_on_change_follows_edits_of_the_annotated_region(dock, qtbot, runs):
    """Painting the region layer (or drawing in a Shapes region) never recomputed the map."""
    viewer, widget, labels = dock
    region = viewer.add_labels(np.zeros(labels.shape, np.uint8), name="region")
    widget._mask.value = region
    widget._live.value = True
    settle(qtbot, widget)
    assert not viewer.layers["cells weights"].data.any()  # nothing annotated yet
    del runs[:]
    region.brush_size = 9
    region.paint((32, 32), 1)  # one dab of the brush in the region
    settle(qtbot, widget)
    assert len(runs) == 1
    ref = target_and_weights(labels, mask=region.data > 0)[1]
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, ref)
    # A Shapes region: drawing a shape recomputes the map too.
    shapes = viewer.add_shapes(name="shapes")
    widget._mask.value = shapes
    settle(qtbot, widget)
    del runs[:]
    shapes.add_rectangles(np.array([[0, 0], [40, 40]]))
    settle(qtbot, widget)
    assert len(runs) == 1 and runs[0]["mask"][:41, :41].all() and runs[0]["mask"].sum() == 41**2
    # The layer no longer picked is no longer followed; nor one removed from the viewer.
    region.paint((10, 10), 1)
    settle(qtbot, widget)
    assert len(runs) == 1
    viewer.layers.remove(shapes)
    settle(qtbot, widget)
    del runs[:]
    shapes.add_rectangles(np.array([[50, 50], [60, 60]]))
    settle(qtbot, widget)
    assert runs == []
