"""Evaluate dock: labels with a samples axis are one image; an undo puts the tables out of date.

Before: a ``(Y, X, 1)`` labels layer (a file saved with a samples axis) was scored row by
row, each row a "plane" (256 images and AP 0.473 where the core says one image and AP
0.347); and Ctrl+Z or redo on a scored layer (napari then sends only ``set_data``) left the
tables looking current.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_evaluate_widget import THREE, docked, run_and_wait, squares

from napari_unet import evaluate

pytest.importorskip("napari")


def _pair(viewer, gt, pred):
    widget = docked(viewer)
    widget._ground_truth.value = viewer.add_labels(gt, name="cells annotations")
    widget._prediction.value = viewer.add_labels(pred, name="cells segmentation")
    return widget


def test_labels_with_a_samples_axis_are_scored_as_one_image(make_napari_viewer, qtbot):
    gt, pred = squares(THREE), squares(THREE[:2])
    widget = _pair(make_napari_viewer(), gt[..., None], pred[..., None])  # (40, 40, 1)
    assert widget._per_plane.native.isHidden()  # no planes to score one by one
    run_and_wait(qtbot, widget)
    assert widget._status.value.startswith("1 image, 3 true and 2 predicted objects")
    per_image, total = widget.results
    expected = evaluate(gt, pred)
    assert len(per_image) == 1
    assert (total["n_gt"], total["n_pred"]) == (3, 2)
    assert total["ap"] == pytest.approx(expected["ap"])


def test_a_samples_axis_region_marks_the_one_image(make_napari_viewer, qtbot):
    gt, pred = squares(THREE[:2]), squares(THREE)  # the third cell lies outside the region
    top = np.zeros((40, 40), np.uint8)
    top[:16] = 1
    viewer = make_napari_viewer()
    widget = _pair(viewer, gt[..., None], pred[..., None])
    for region in (
        viewer.add_labels(top, name="done 2D"),
        viewer.add_labels(top[..., None], name="done (Y, X, 1)"),
        viewer.add_shapes([[[0, 0], [0, 39], [15, 39], [15, 0]]], name="done shapes"),
    ):
        widget._region.value = region
        run_and_wait(qtbot, widget)
        per_image, total = widget.results
        first = total["per_threshold"][0]
        assert len(per_image) == 1, region.name
        assert (first["tp"], first["fp"], first["fn"]) == (2, 0, 0), region.name


def _erase(layer, label: int) -> None:
    """Erase part of object ``label`` with one brush stroke (napari records its undo)."""
    layer.brush_size = 6
    yx = tuple(int(c) for c in np.argwhere(layer.data == label).mean(0))
    layer.paint(yx, 0, refresh=True)


def test_an_undo_or_redo_after_evaluate_greys_the_tables(make_napari_viewer, qtbot):
    widget = _pair(make_napari_viewer(), squares(THREE), squares(THREE))
    pred = widget._prediction.value
    _erase(pred, 2)
    run_and_wait(qtbot, widget)
    assert widget._summary.enabled
    pred.undo()  # Ctrl+Z: the prediction is no longer what the tables scored
    assert not widget._summary.enabled
    assert "'cells segmentation' edited since" in widget._status.value
    run_and_wait(qtbot, widget)
    assert widget._summary.enabled
    pred.redo()
    assert not widget._summary.enabled
    assert "edited since" in widget._status.value


def test_a_redraw_that_changes_nothing_keeps_the_tables_current(make_napari_viewer, qtbot):
    """A new plane of a stack (``set_data`` too), after a stroke made before Evaluate."""
    stack = np.stack([squares(THREE)] * 3)
    viewer = make_napari_viewer()
    widget = _pair(viewer, stack, stack.copy())
    _erase(widget._prediction.value, 1)  # undo history to keep through the run
    run_and_wait(qtbot, widget)
    assert widget._summary.enabled
    for z in (1, 2, 0):
        viewer.dims.set_current_step(0, z)
    widget._prediction.value.refresh()
    assert widget._summary.enabled
    assert widget._status.value.startswith("3 images")
