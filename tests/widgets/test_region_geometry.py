"""An annotated region marks the pixels it is drawn over, whatever the layers' scale.

napari's New shapes button makes a Shapes layer with scale 1 and translate 0 when nothing
is selected (the image's own geometry otherwise). Before, the docks read its vertices as
pixel indices of the labels, so over labels with a pixel size of 0.5 or a translate they
scored, weighted and trained other cells than the ones the region covers on screen.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, evaluate, restrict_to_region, touching_cells
from napari_unet.widgets._layers import region_array

GEOMETRIES = [
    {"scale": (0.5, 0.5)},
    {"translate": (0, 64)},
    {"scale": (2, 2), "translate": (7, -3)},
]


def _over(viewer, labels, first, last):
    """A Shapes layer of scale 1 with a rectangle over ``labels`` pixels first..last."""
    shapes = viewer.add_shapes(name="region")
    corners = [labels.data_to_world(first), labels.data_to_world(last)]
    shapes.add_rectangles(np.array([shapes.world_to_data(c) for c in corners]))
    return shapes


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_a_shapes_region_marks_the_pixels_it_is_drawn_over(make_napari_viewer, geometry):
    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((128, 128), np.int32), **geometry)
    shapes = _over(viewer, labels, (20, 30), (60, 90))
    mask = region_array(shapes, labels.data.shape, like=labels)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 60, 30, 90)


def test_a_labels_region_on_other_pixels_is_refused(make_napari_viewer):
    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((64, 64), np.int32), scale=(0.5, 0.5))
    painted = np.zeros((64, 64), np.uint8)
    painted[:, :32] = 1
    region = viewer.add_labels(painted, name="annotated")  # scale 1: other pixels on screen
    with pytest.raises(InputError, match="does not lie on the pixels of"):
        region_array(region, labels.data.shape, like=labels)
    region.scale = (0.5, 0.5)
    assert region_array(region, labels.data.shape, like=labels)[:, :32].all()


def test_a_region_rotated_unlike_the_labels_is_refused(make_napari_viewer):
    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((64, 64), np.int32))
    shapes = viewer.add_shapes(np.array([[[2, 2], [20, 20]]]), shape_type="rectangle")
    shapes.rotate = 30
    with pytest.raises(InputError, match="rotated, sheared or transformed"):
        region_array(shapes, labels.data.shape, like=labels)


@pytest.mark.parametrize("geometry", GEOMETRIES[:2])
def test_evaluate_scores_the_cells_inside_the_drawn_region(make_napari_viewer, qtbot, geometry):
    from napari_unet.widgets.evaluate import EvaluateWidget

    viewer = make_napari_viewer()
    _, truth = touching_cells((128, 128), n_cells=30, seed=3)
    pred = np.roll(truth, 1, 1)
    gt = viewer.add_labels(truth, name="gt", **geometry)
    viewer.add_labels(pred, name="pred", **geometry)
    shapes = _over(viewer, gt, (0, 0), (127, 63))
    dock = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Evaluate")
    dock._ground_truth.value, dock._prediction.value = gt, viewer.layers["pred"]
    dock._region.value = shapes
    dock._run.native.click()
    qtbot.waitUntil(lambda: dock._run.text == "Evaluate", timeout=30000)
    region = np.zeros(truth.shape, bool)
    region[:, :64] = True
    expected = evaluate(*restrict_to_region(truth, pred, region))
    assert dock.results[0][0]["n_gt"] == expected["n_gt"]


def test_the_weight_map_is_computed_inside_the_drawn_region(make_napari_viewer, qtbot):
    from napari_unet.widgets.weightmap import WeightMapWidget

    viewer = make_napari_viewer()
    _, truth = touching_cells((128, 128), n_cells=30, seed=3)
    gt = viewer.add_labels(truth, name="gt", scale=(0.5, 0.5))
    shapes = _over(viewer, gt, (0, 0), (127, 63))
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    dock._labels_box.value, dock._mask.value = gt, shapes
    dock._run.native.click()
    qtbot.waitUntil(lambda: "gt weights" in viewer.layers and dock._worker is None, timeout=30000)
    weights = viewer.layers["gt weights"].data
    assert weights[:, :64].all() and not weights[:, 64:].any()
