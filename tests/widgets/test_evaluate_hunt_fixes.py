"""The Evaluate dock never scores against another image's annotations, and says when its
tables are out of date (other picks, or a scored layer removed)."""

from __future__ import annotations

import numpy as np
import pytest
from test_evaluate_widget import docked, run_and_wait, squares

from napari_unet.widgets.evaluate import EvaluateWidget

TWO = [(2, 12, 2, 12), (20, 30, 20, 30)]


def fresh(widget: EvaluateWidget) -> bool:
    return widget._summary.enabled and widget._thresholds.enabled


def two_images(viewer) -> None:
    """Image A annotated (with a region) and segmented; image B segmented, not annotated."""
    viewer.add_labels(squares(TWO), name="A annotations")
    viewer.add_shapes(
        [np.array([[0, 0], [0, 39], [39, 39], [39, 0]], float)],
        shape_type="rectangle",
        name="A annotated region",
    )
    viewer.add_labels(squares(TWO), name="A segmentation")
    viewer.add_labels(squares(TWO[:1]), name="B segmentation")


def test_suggesting_an_image_without_annotations_picks_no_ground_truth(make_napari_viewer):
    viewer = make_napari_viewer()
    two_images(viewer)
    widget = docked(viewer)
    widget.suggest("A", prediction="A segmentation")
    assert widget._ground_truth.value is viewer.layers["A annotations"]
    assert widget._region.value is viewer.layers["A annotated region"]
    widget.suggest("B", prediction="B segmentation")
    assert widget._prediction.value is viewer.layers["B segmentation"]
    assert widget._ground_truth.value is None and widget._region.value is None
    assert "'B' has no annotations layer" in widget._status.value
    viewer.add_points(name="later")  # any layer event keeps the ground truth unpicked
    assert widget._ground_truth.value is None
    assert "'B' has no annotations layer" in widget._status.value
    widget._run.native.click()  # refused: nothing scored against A's annotations
    assert widget.results is None and widget._run.text == "Evaluate"
    widget.suggest("A", prediction="A segmentation")
    assert widget._ground_truth.value is viewer.layers["A annotations"]
    assert None not in widget._ground_truth.choices  # "(none)" only while it applies


def test_a_new_suggestion_marks_the_tables_out_of_date(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    two_images(viewer)
    widget = docked(viewer)
    widget.suggest("A", prediction="A segmentation")
    run_and_wait(qtbot, widget)
    assert "AP 1.000" in widget._status.value and fresh(widget)
    assert "'A segmentation' against 'A annotations'" in widget._summary_title.value
    widget.suggest("B", prediction="B segmentation")  # what the Predict dock calls
    status = widget._status.value
    assert "AP 1.000" not in status and not fresh(widget)
    assert "Out of date" in status and "'A segmentation' against 'A annotations'" in status
    assert "'B' has no annotations layer" in status


def test_other_picks_grey_the_tables_until_the_shown_picks_are_back(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(TWO), name="gt")
    good = viewer.add_labels(squares(TWO), name="good")
    bad = viewer.add_labels(np.zeros((40, 40), np.int32), name="bad")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, good
    run_and_wait(qtbot, widget)
    scored = widget._status.value
    assert "AP 1.000" in scored and fresh(widget)
    widget._prediction.value = bad
    status = widget._status.value
    assert not fresh(widget) and "AP 1.000" not in status
    assert "the tables score 'good' against 'gt'" in status
    assert "Press Evaluate to score 'bad' against 'gt'" in status
    widget._prediction.value = good  # the tables' picks again
    assert fresh(widget) and widget._status.value == scored
    widget._per_plane.value = not widget._per_plane.value  # another way of scoring
    assert not fresh(widget)


@pytest.mark.parametrize("removed", ["good", "gt"])
def test_removing_a_scored_layer_marks_the_tables_out_of_date(make_napari_viewer, qtbot, removed):
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(TWO), name="gt")
    good = viewer.add_labels(squares(TWO), name="good")
    viewer.add_labels(np.zeros((40, 40), np.int32), name="bad")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, good
    run_and_wait(qtbot, widget)
    viewer.layers.remove(removed)
    status = widget._status.value
    assert not fresh(widget) and "AP 1.000" not in status
    assert f"'{removed}' since removed" in status


def test_the_pixel_error_counts_the_annotated_region_only(make_napari_viewer, qtbot):
    truth = np.zeros((200, 200), np.int32)
    truth[2:12, 2:12] = 1
    pred = truth.copy()
    pred[2:18, 14:18] = 2  # 64 wrong pixels, all inside the 20 x 20 region
    region = np.zeros(truth.shape, np.int32)
    region[:20, :20] = 1
    viewer = make_napari_viewer()
    gt = viewer.add_labels(truth, name="gt")
    predicted = viewer.add_labels(pred, name="pred")
    painted = viewer.add_labels(region, name="region")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, predicted
    widget._region.value = painted
    run_and_wait(qtbot, widget)
    assert widget.results[1]["pixel_error"] == pytest.approx(64 / 400)
    cells = dict(zip(widget._summary.row_headers, widget._summary["pred"], strict=True))
    assert cells["pix err"] == "0.160"


@pytest.mark.parametrize("edit", ["paint", "new data", "region moved"])
def test_an_edit_of_a_scored_layer_puts_the_tables_out_of_date(make_napari_viewer, qtbot, edit):
    """Before: the ground truth corrected with the brush (or its data replaced) after a run
    left "AP 1.000" tables current for labels no longer shown."""
    viewer = make_napari_viewer()
    two_images(viewer)
    widget = docked(viewer)
    widget.suggest("A", prediction="A segmentation")
    run_and_wait(qtbot, widget)
    assert fresh(widget) and "AP 1.000" in widget._status.value
    gt, region = viewer.layers["A annotations"], viewer.layers["A annotated region"]
    if edit == "paint":
        gt.paint((7, 7), 0)  # the eraser over the first cell
    elif edit == "new data":
        gt.data = squares(TWO[:1])
    else:
        region.data = [np.array([[0, 0], [0, 15], [15, 15], [15, 0]], float)]
    changed = region.name if edit == "region moved" else gt.name
    assert not fresh(widget)
    assert widget._status.value.startswith("Out of date"), widget._status.value
    assert f"{changed!r} edited since" in widget._status.value
    run_and_wait(qtbot, widget)  # evaluated again: current
    assert fresh(widget) and "edited since" not in widget._status.value
