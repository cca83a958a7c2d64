"""The Weight map dock: one id 1 over many pieces (napari's boolean mask) is computed, as the
Train dock trains it, with the status saying all its pieces share one id; and the status's
least cell weight is that of the cells inside the annotated region, not the 0 outside it."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from test_weightmap_outputs import settle

from napari_unet import target_and_weights, touching_cells
from napari_unet.core.training.pairs import make_pairs
from napari_unet.widgets.weightmap import WeightMapWidget


def _dock(viewer):
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    return widget


def test_a_boolean_mask_layer_says_all_its_pieces_share_one_id(make_napari_viewer, qtbot, errors):
    image, labels = touching_cells((64, 64), n_cells=10, seed=2)  # cells in 4 pieces
    viewer = make_napari_viewer()
    layer = viewer.add_labels(labels > 0, name="boolmask")  # napari makes it uint8 0/1
    assert layer.data.dtype != bool and int(layer.data.max()) == 1
    pieces = ndimage.label(layer.data > 0, np.ones((3, 3)))[1]
    assert pieces >= 3  # MASK_PIECES: fewer may be cells painted with one id, by choice
    # The Train dock trains this layer as painted (make_pairs is what it runs): no refusal.
    assert len(make_pairs([image], [np.array(layer.data)])) == 1
    widget = _dock(viewer)
    widget._labels_box.value = layer
    widget._run.native.click()
    settle(qtbot, widget)
    status = widget._status.value
    assert status.startswith("boolmask weights:"), status
    assert f"all {pieces} separate pieces share one id (1)" in status, status
    assert "no gaps to emphasise" in status and "label the mask first" in status, status
    assert not errors
    np.testing.assert_array_equal(
        viewer.layers["boolmask weights"].data, target_and_weights(layer.data)[1]
    )


def test_cell_labels_say_nothing_of_one_shared_id(make_napari_viewer, qtbot):
    _, labels = touching_cells((64, 64), n_cells=10, seed=1)
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    widget = _dock(viewer)
    widget._run.native.click()
    settle(qtbot, widget)
    assert "share one id" not in widget._status.value, widget._status.value


def test_the_least_cell_weight_is_that_inside_the_region(make_napari_viewer, qtbot):
    _, labels = touching_cells((64, 64), n_cells=10, seed=1)
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    region = viewer.add_shapes(
        [np.array([[0, 0], [32, 63]])], shape_type="rectangle", name="region"
    )
    widget = _dock(viewer)
    widget._labels_box.value = viewer.layers["cells"]
    widget._mask.value = region
    widget._run.native.click()
    settle(qtbot, widget)
    status = widget._status.value
    weights = viewer.layers["cells weights"].data
    assert (weights[40:, :] == 0).all()  # the region leaves cells out: weights 0 there
    target = target_and_weights(labels)[0]
    inside = (target == 1) & (weights > 0)
    expected = f"; cells {weights[inside].min():.3g}"
    assert status.endswith(expected), status
    assert "; cells 0" not in status, status  # before: the 0 of the cells outside the region
