"""What users of the Evaluate, Review and Live docks rely on (a UX review's findings).

Evaluate keeps the ground truth the user picked across new predictions, explains each table
header, offers no "compare with" of the prediction itself and shows the stacks option for
stacks only; Review draws its labels as outlines over the image and names its table columns
with units; the Live dock's idle status follows the picks.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_evaluate_widget import THREE, docked, run_and_wait, squares
from test_review_dock_fixes import _dock as _open_review
from test_review_dock_fixes import _shown

from napari_unet.core.images.io import read_image, write_image

pytest.importorskip("napari")


@pytest.fixture
def folder(tmp_path):
    """Two small grey images with label files beside (no prediction needed)."""
    images, labels = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels.mkdir()
    for k, name in enumerate("ab"):
        lab = np.zeros((96, 96), np.uint16)
        for i in range(4):
            lab[10 + 20 * i : 20 + 20 * i, 10 + 10 * k : 30 + 10 * k] = i + 1
        write_image(images / f"{name}.tif", ((lab > 0) * 1000 + 100).astype(np.uint16))
        write_image(labels / f"{name}_labels.tif", lab)
    return images, labels


# -- Evaluate -------------------------------------------------------------------------------
def test_the_ground_truth_the_user_picked_survives_a_new_prediction(make_napari_viewer, qtbot):
    """Before: each Predict reset it to "(none: no 'nuclei annotations')"."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40)), name="nuclei")
    truth = viewer.add_labels(squares(THREE), name="my truth")  # not the image's own name
    pred = viewer.add_labels(squares(THREE[:2]), name="nuclei segmentation")
    widget = docked(viewer)
    widget.suggest("nuclei", prediction="nuclei segmentation")  # no "nuclei annotations"
    assert widget._ground_truth.value is None
    widget._ground_truth.value = truth  # the user's pick
    run_and_wait(qtbot, widget)
    pred.data = squares(THREE)  # Predict again: new data in the same layer
    widget.suggest("nuclei", prediction="nuclei segmentation")
    assert widget._ground_truth.value is truth
    assert "no annotations layer" not in widget._status.value
    run_and_wait(qtbot, widget)
    assert "AP 1.000" in widget._status.value
    # Another image's prediction is never scored against this image's annotations ...
    viewer.add_labels(squares(THREE), name="other segmentation")
    widget.suggest("other", prediction="other segmentation")
    assert widget._ground_truth.value is None
    # ... and a removed pick is forgotten.
    widget.suggest("nuclei", prediction="nuclei segmentation")
    assert widget._ground_truth.value is truth
    viewer.layers.remove(truth)
    widget.suggest("nuclei", prediction="nuclei segmentation")
    assert widget._ground_truth.value is None


def test_a_removed_ground_truth_pick_is_not_kept_in_memory(make_napari_viewer, qtbot):
    """Before, the pick held the layer (and its data) until another pick."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40)), name="nuclei")
    viewer.add_labels(squares(THREE[:2]), name="nuclei segmentation")
    truth = viewer.add_labels(squares(THREE), name="my truth")
    widget = docked(viewer)
    widget._ground_truth.value = truth  # the user's pick
    assert widget._ground_truth.value is truth
    ref = weakref.ref(truth)
    viewer.layers.remove(truth)
    del truth
    qtbot.wait(10)
    gc.collect()
    assert ref() is None
    widget.suggest("nuclei", prediction="nuclei segmentation")
    assert widget._ground_truth.value is None


def _tips(header_item) -> str:
    return header_item.toolTip() if header_item is not None else ""


def test_every_table_header_says_what_it_counts(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_labels(squares(THREE), name="gt")
    viewer.add_labels(squares(THREE[:2]), name="pred")
    widget = docked(viewer)
    widget._ground_truth.value = viewer.layers["gt"]
    widget._prediction.value = viewer.layers["pred"]
    run_and_wait(qtbot, widget)
    summary, thresholds = widget._summary.native, widget._thresholds.native
    rows = {summary.verticalHeaderItem(i).text(): _tips(summary.verticalHeaderItem(i))
            for i in range(summary.rowCount())}  # fmt: skip
    for name in ("GT", "pred", "AP", "AP50", "AP75", "F1@0.5", "mIoU", "PQ", "pix IoU",
                 "Dice", "pix err", "Rand err"):  # fmt: skip
        assert rows[name], name
    assert "higher is better" in rows["AP"] and "lower is better" in rows["pix err"]
    assert "lower is better" in rows["Rand err"]
    columns = {thresholds.horizontalHeaderItem(i).text(): _tips(thresholds.horizontalHeaderItem(i))
               for i in range(thresholds.columnCount())}  # fmt: skip
    for name in ("TP", "FP", "FN", "precision", "recall", "F1", "AP", "mIoU"):
        assert columns[name], name
    assert "false positives" in columns["FP"]
    assert "0.5" in _tips(thresholds.verticalHeaderItem(0))


def test_compare_with_leaves_out_the_prediction_and_stacks_only_show_for_stacks(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(THREE), name="gt")
    a = viewer.add_labels(squares(THREE), name="a")
    b = viewer.add_labels(squares(THREE[:1]), name="b")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, a
    assert a not in widget._compare.choices and b in widget._compare.choices
    widget._prediction.value = b
    assert b not in widget._compare.choices and a in widget._compare.choices
    assert widget._per_plane.native.isHidden()  # 2D layers: no planes to score
    stack = np.stack([squares(THREE)] * 3)
    viewer.add_labels(stack, name="gt stack")
    widget._ground_truth.value = viewer.layers["gt stack"]
    assert not widget._per_plane.native.isHidden()


# -- Review ---------------------------------------------------------------------------------
def test_review_labels_are_outlines_and_painting_still_fills(make_napari_viewer, qtbot, folder):
    """Before: a filled layer at opacity 0.7 hid the nuclei under it."""
    viewer, widget = _open_review(make_napari_viewer, qtbot, folder[0], labels_folder=folder[1])
    layer = widget._labels_layer
    assert layer.contour > 0 or layer.opacity <= 0.4
    assert layer.contour > 0  # small images: outlines
    layer.selected_label = 77
    layer.paint((5, 5), 77)  # the brush still writes the labels (not just an outline)
    assert (layer.data == 77).sum() > 1
    layer.opacity = 0.5  # the user's own drawing is kept from image to image
    widget.next_image()
    _shown(widget, qtbot, 1)
    assert widget._labels_layer.opacity == 0.5 and widget._labels_layer.contour == layer.contour
    widget.shutdown()


def test_review_table_headers_are_readable_with_units_csv_names_kept(
    make_napari_viewer,
    qtbot,
    folder,
    tmp_path,
):
    viewer, widget = _open_review(make_napari_viewer, qtbot, folder[0], labels_folder=folder[1])
    table = widget._table
    qtbot.waitUntil(lambda: table.rowCount() > 0, timeout=60_000)
    shown = [table.header(c) for c in range(table.columnCount())]
    assert "area (px²)" in shown and "diameter (px)" in shown
    assert "equivalent_diameter" not in shown and "area" not in shown
    model = table.model()
    tips = [model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
            for c in range(table.columnCount())]  # fmt: skip
    assert all(tips)
    widget.shutdown()
    # The exported CSV keeps the measurement names (only the screen's headers change).
    from napari_unet.core.review.measure import measure_objects, write_csv

    keys = [table.key(c) for c in range(table.columnCount())]
    assert "area" in keys and "equivalent_diameter" in keys
    labels = np.asarray(read_image(folder[1] / "a_labels.tif"))
    head = write_csv(tmp_path / "objects.csv", measure_objects(labels)).read_text()
    assert {"area", "equivalent_diameter"} <= set(head.splitlines()[0].split(","))


# -- Live -----------------------------------------------------------------------------------
def test_live_idle_status_follows_the_picks(make_napari_viewer):
    """Before: "Choose an image and its annotations, then Start." with both chosen."""
    from napari_unet.widgets.live import LiveWidget

    viewer = make_napari_viewer()
    widget = LiveWidget(viewer)
    assert "Choose an image" in widget._status.value
    viewer.add_image(np.zeros((64, 64), np.float32), name="cells")
    assert "Choose the annotations of 'cells'" in widget._status.value
    viewer.add_labels(np.zeros((64, 64), np.int32), name="cells annotations")
    status = widget._status.value
    assert status.startswith("Ready") and "'cells'" in status and "'cells annotations'" in status
    widget.stop()
