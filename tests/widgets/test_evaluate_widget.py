"""The Evaluate dock in a real viewer: layer pickers, off-thread scoring, tables, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from qtpy.QtWidgets import QScrollArea

from napari_unet import evaluate, summarize
from napari_unet.widgets import _workers
from napari_unet.widgets.evaluate import EvaluateWidget

THREE = [(2, 12, 2, 12), (2, 12, 20, 30), (20, 30, 5, 15)]


def squares(boxes, shape=(40, 40)) -> np.ndarray:
    lab = np.zeros(shape, dtype=np.int32)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        lab[r0:r1, c0:c1] = k + 1
    return lab


def docked(viewer) -> EvaluateWidget:
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Evaluate")
    return widget


def run_and_wait(qtbot, widget: EvaluateWidget) -> None:
    widget.results = None
    widget._run.native.click()  # a Cancel button until the run has finished
    qtbot.waitUntil(lambda: widget._run.text == "Evaluate", timeout=20000)


def test_scores_a_real_prediction_against_annotations(make_napari_viewer, qtbot, shared_data):
    import tifffile

    gt = tifffile.imread(shared_data / "dsb2018" / "masks" / "000_00071198d059.tif")
    pred = np.roll(gt, 1, axis=1).astype(np.int32)
    viewer = make_napari_viewer()
    viewer.add_labels(gt, name="annotations")
    viewer.add_labels(pred, name="prediction")
    widget = docked(viewer)
    # Defaults: two different layers, annotations as ground truth, the newer one predicted.
    assert widget._ground_truth.value.name == "annotations"
    assert widget._prediction.value.name == "prediction"
    run_and_wait(qtbot, widget)
    per_image, total = widget.results
    expected = evaluate(gt, pred)
    assert per_image[0]["ap"] == pytest.approx(expected["ap"])
    assert per_image[0]["rand_error"] == pytest.approx(expected["rand_error"])
    # One image: one column (metrics are rows), no separate total.
    assert widget._summary.column_headers == ("prediction",)
    column = dict(zip(widget._summary.row_headers, widget._summary["prediction"], strict=True))
    assert column["GT"] == str(expected["n_gt"]) and column["pred"] == str(expected["n_pred"])
    assert float(column["AP"]) == pytest.approx(expected["ap"], abs=1e-3)
    assert float(column["PQ"]) == pytest.approx(expected["pq"], abs=1e-3)
    assert float(column["Rand err"]) == pytest.approx(expected["rand_error"], abs=1e-3)
    assert widget._thresholds.shape == (10, 8)
    assert widget._thresholds.row_headers[0] == "IoU > 0.5"
    assert int(widget._thresholds.to_dict("records")[0]["TP"]) == expected["per_threshold"][0]["tp"]
    assert "AP" in widget._status.value and f"{expected['ap']:.3f}" in widget._status.value


def test_stack_is_scored_per_plane_and_in_total(make_napari_viewer, qtbot):
    gt = np.stack([squares(THREE), squares(THREE), squares(THREE[:1])])
    pred = np.stack([squares(THREE), squares(THREE[:2]), np.zeros((40, 40), np.int32)])
    viewer = make_napari_viewer()
    viewer.add_labels(gt, name="gt")
    viewer.add_labels(pred, name="pred")
    widget = docked(viewer)
    run_and_wait(qtbot, widget)
    per_image, total = widget.results
    assert [r["name"] for r in per_image] == ["plane 0", "plane 1", "plane 2"]
    expected = summarize([evaluate(g, p) for g, p in zip(gt, pred, strict=True)])
    assert total["dataset_ap"] == pytest.approx(expected["dataset_ap"])
    names = ("total (pooled)", "plane 0", "plane 1", "plane 2")
    assert widget._summary.column_headers == names
    pred_row = widget._summary.to_dict("index")["pred"]
    assert [pred_row[n] for n in names] == ["5", "3", "2", "0"]
    assert "AP img mean" in widget._thresholds.column_headers
    # Unticked, the stack is one 3D volume.
    widget._per_plane.value = False
    run_and_wait(qtbot, widget)
    assert len(widget.results[0]) == 1
    assert widget.results[0][0]["n_gt"] == 3  # cells span planes: ids 1..3 as volumes


def test_annotated_region_scores_only_the_annotated_part(make_napari_viewer, qtbot, errors):
    """Partial annotation: predicted cells outside the annotated region are not errors."""
    gt = squares(THREE[:2])  # the user annotated the top rows only
    pred = squares(THREE)  # the model also (rightly) found the cell in the bottom rows
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40)), name="img")
    viewer.add_labels(gt, name="img annotations")
    viewer.add_labels(pred, name="img segmentation")
    viewer.add_shapes([[[0, 0], [0, 39], [15, 39], [15, 0]]], name="img annotated region")
    widget = docked(viewer)
    widget.suggest("img")
    assert widget._region.value.name == "img annotated region"
    run_and_wait(qtbot, widget)
    first = widget.results[1]["per_threshold"][0]
    assert (first["tp"], first["fp"], first["fn"]) == (2, 0, 0)
    widget._region.value = None  # the whole image: the unannotated cell counts as an FP
    run_and_wait(qtbot, widget)
    assert widget.results[1]["per_threshold"][0]["fp"] == 1
    empty = viewer.add_labels(np.zeros((40, 40), np.int32), name="nothing")
    widget._region.value = empty
    run_and_wait(qtbot, widget)  # the region is read in the worker, with the layers
    assert errors and "empty" in errors[-1] and widget.results is None


def test_stack_planes_without_annotated_region_are_skipped(make_napari_viewer, qtbot):
    gt = np.stack([squares(THREE)] * 3)
    pred = np.stack([squares(THREE), squares(THREE[:1]), squares(THREE[:1])])
    region = np.zeros(gt.shape, np.uint8)
    region[0] = 1  # only the first plane has been annotated
    viewer = make_napari_viewer()
    viewer.add_labels(gt, name="gt")
    viewer.add_labels(pred, name="pred")
    widget = docked(viewer)
    widget._ground_truth.value = viewer.layers["gt"]
    widget._prediction.value = viewer.layers["pred"]
    widget._region.value = viewer.add_labels(region, name="done")
    run_and_wait(qtbot, widget)
    per_image, total = widget.results
    assert [r["name"] for r in per_image] == ["plane 0"]
    assert total["per_threshold"][0]["f1"] == 1.0


def test_computation_runs_off_the_gui_thread(make_napari_viewer, qtbot, monkeypatch):
    seen = []
    original = _workers.evaluate_job

    def spy(*args, **kwargs):
        seen.append(threading.current_thread() is threading.main_thread())
        return (yield from original(*args, **kwargs))

    monkeypatch.setattr(_workers, "evaluate_job", spy)
    viewer = make_napari_viewer()
    viewer.add_labels(squares(THREE), name="gt")
    viewer.add_labels(squares(THREE[1:]), name="pred")
    widget = docked(viewer)
    run_and_wait(qtbot, widget)
    assert seen == [False]
    assert widget.results[1]["n_pred"] == 2


def test_layer_pickers_follow_the_layer_list(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40)), name="image")
    widget = docked(viewer)
    assert widget._prediction.choices == ()
    viewer.add_labels(squares(THREE), name="a")
    viewer.add_labels(squares(THREE), name="b")
    names = [c.name for c in widget._prediction.choices]
    assert names == ["a", "b"]
    viewer.layers.remove("a")
    assert [c.name for c in widget._ground_truth.choices] == ["b"]


def test_user_mistakes_become_notifications(make_napari_viewer, qtbot, errors):
    viewer = make_napari_viewer()
    widget = docked(viewer)
    widget._run.native.click()
    assert errors and "choose a prediction" in errors[-1]
    viewer.add_labels(squares(THREE), name="gt")
    viewer.add_labels(squares(THREE, shape=(40, 30)), name="pred")
    widget._run.native.click()
    assert "has shape (40, 30)" in errors[-1] and widget._worker is None
    widget._ground_truth.value = widget._prediction.value
    widget._run.native.click()
    assert "choose two layers" in errors[-1]
    widget._ground_truth.value = viewer.layers["gt"]
    widget._prediction.value = viewer.layers["pred"]
    # Neither the prediction nor the ground truth is offered to compare with (before, the
    # ground truth was, and picking it gave "choose two layers").
    assert [lyr.name for lyr in widget._compare.choices] == []
    widget._ground_truth.value = viewer.layers["pred"]
    widget._prediction.value = viewer.layers["gt"]
    assert [lyr.name for lyr in widget._compare.choices] == []
    viewer.add_labels(squares(THREE), name="other")
    assert [lyr.name for lyr in widget._compare.choices] == ["other"]
    widget._ground_truth.value = viewer.layers["other"]
    assert [lyr.name for lyr in widget._compare.choices] == ["pred"]
    viewer.layers.remove("other")
    widget._ground_truth.value = viewer.layers["gt"]
    widget._prediction.value = viewer.layers["pred"]
    # An error inside the worker (negative ids) arrives as a notification too.
    viewer.layers.remove("pred")
    bad = squares(THREE)
    bad[0, 0] = -1
    viewer.add_labels(bad, name="negative")
    widget._ground_truth.value = viewer.layers["gt"]
    widget._prediction.value = viewer.layers["negative"]
    run_and_wait(qtbot, widget)
    assert "negative labels" in errors[-1]
    assert widget.results is None and "Error" in widget._status.value


def test_the_predict_dock_holds_a_collapsed_evaluate_section(make_napari_viewer, qtbot):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer(show=True)  # sizes are only real on screen
    viewer.add_image(np.zeros((40, 40)), name="img")
    viewer.add_labels(squares(THREE), name="img annotations")
    viewer.add_labels(squares(THREE[1:]), name="other")
    viewer.add_labels(squares(THREE[:2]), name="img segmentation")
    viewer.add_labels(squares(THREE), name="last")
    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict, name="Predict")
    section = predict._evaluate
    assert not section.isExpanded()  # the dock stays short until the user opens it
    panel = section.panel
    assert not panel.native.isVisible()
    panel.suggest("img")  # what the dock does after each prediction
    assert panel._prediction.value.name == "img segmentation"
    assert panel._ground_truth.value.name == "img annotations"
    assert panel._compare.value == []  # the image has one segmentation: nothing to compare
    section.expand(animate=False)
    qtbot.wait(50)
    assert panel.native.isVisible() and not panel._summary.native.isVisible()  # no results yet
    # One scroll area, the dock's: none inside the section (it used to nest one).
    assert not section.findChildren(QScrollArea)
    run_and_wait(qtbot, panel)
    per_image, total = panel.results
    assert (total["n_gt"], total["n_pred"]) == (3, 2)
    assert per_image[0]["per_threshold"][0]["fn"] == 1
    assert panel._summary.native.isVisible() and panel._thresholds.native.isVisible()


def rows_visible(table) -> bool:
    """Every row of a table lies inside its viewport, with no vertical scroll bar."""
    view = table.native
    last = view.rowCount() - 1
    bottom = view.rowViewportPosition(last) + view.rowHeight(last)
    return not view.verticalScrollBar().isVisible() and bottom <= view.viewport().height()


def test_tables_show_every_row_of_ten_images(make_napari_viewer, qtbot):
    """The tables are as tall as their rows: no scroll bar inside the dock's scrolling."""
    gt = np.stack([squares(THREE)] * 10)
    pred = np.stack([squares(THREE[: 1 + z % 3]) for z in range(10)])
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    viewer.add_labels(gt, name="gt")
    viewer.add_labels(pred, name="pred")
    widget = docked(viewer)
    run_and_wait(qtbot, widget)
    qtbot.wait(50)
    assert len(widget.results[0]) == 10
    assert widget._summary.shape[1] == 11 and widget._thresholds.shape[0] == 10
    assert rows_visible(widget._summary) and rows_visible(widget._thresholds)
    # Narrower, the columns scroll sideways and the rows stay visible.
    viewer.window._qt_window.resize(900, 768)
    qtbot.wait(100)
    assert rows_visible(widget._summary) and rows_visible(widget._thresholds)


def test_several_predictions_are_scored_side_by_side(make_napari_viewer, qtbot):
    """Predictions of two models against the same annotations, one column each."""
    gt = np.stack([squares(THREE), squares(THREE), squares(THREE[:2])])
    model_a = gt.copy()
    model_b = np.stack([squares(THREE[:1]), np.roll(squares(THREE), 3, axis=1), gt[2]])
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros(gt.shape), name="img")
    viewer.add_labels(gt, name="img annotations")
    viewer.add_labels(model_a, name="img segmentation (model A)")
    viewer.add_labels(model_b, name="img segmentation (model B)")
    viewer.add_labels(squares(THREE, shape=(40, 40)), name="unrelated")
    widget = docked(viewer)
    widget.suggest("img", prediction="img segmentation (model A)")  # the one just made
    assert widget._prediction.value.name == "img segmentation (model A)"
    assert [lyr.name for lyr in widget._compare.value] == ["img segmentation (model B)"]
    assert widget._ground_truth.value.name == "img annotations"
    run_and_wait(qtbot, widget)
    assert list(widget.scores) == ["img segmentation (model A)", "img segmentation (model B)"]
    assert widget.results is widget.scores["img segmentation (model A)"]
    assert widget._summary.column_headers == ("model A", "model B")
    assert widget._thresholds.column_headers == ("model A", "model B")
    table = widget._summary.to_dict("dict")
    for name, pred in (("model A", model_a), ("model B", model_b)):
        expected = summarize([evaluate(g, p) for g, p in zip(gt, pred, strict=True)])
        column = table[name]
        first = expected["per_threshold"][0]
        assert float(column["AP"]) == pytest.approx(expected["ap"], abs=1e-3)
        assert float(column["F1@0.5"]) == pytest.approx(first["f1"], abs=1e-3)
        assert float(column["precision@0.5"]) == pytest.approx(first["precision"], abs=1e-3)
        assert float(column["recall@0.5"]) == pytest.approx(first["recall"], abs=1e-3)
        assert float(column["mIoU"]) == pytest.approx(expected["mean_matched_iou"], abs=1e-3)
        assert float(column["AP img mean"]) == pytest.approx(expected["dataset_ap"], abs=1e-3)
        ap = [float(v) for v in widget._thresholds[name]]
        assert ap == pytest.approx([p["ap"] for p in expected["per_threshold"]], abs=1e-3)
    assert "model A" in widget._status.value  # the better one is named
    # Without the prediction to start from, the newest segmentation comes first.
    widget.suggest("img")
    assert widget._prediction.value.name == "img segmentation (model B)"
    assert [lyr.name for lyr in widget._compare.value] == ["img segmentation (model A)"]


def test_a_long_error_wraps_and_never_widens_the_dock(make_napari_viewer, qtbot, errors):
    viewer = make_napari_viewer(show=True)
    widget = docked(viewer)
    dock = widget.native.parentWidget()
    qtbot.wait(50)
    width, hint = dock.width(), widget.native.minimumSizeHint().width()
    path = "/".join(["a_folder_with_a_rather_long_name"] * 30)  # no space to wrap at
    widget._on_error(OSError(f"cannot read {path}"))  # what a failed worker reports
    qtbot.wait(50)
    assert path in errors[-1]  # the notification has the full text
    assert dock.width() == width and widget.native.minimumSizeHint().width() <= hint


def test_renaming_a_layer_keeps_every_picker_on_it(make_napari_viewer, qtbot):
    """magicgui found the chosen item again by its name: renamed, a layer was dropped and
    its picker jumped to the first layer (Evaluate scored against another segmentation)."""
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40), np.float32), name="a")
    b = viewer.add_image(np.ones((40, 40), np.float32), name="b")
    first = viewer.add_labels(squares(THREE[:1]), name="first")
    truth = viewer.add_labels(squares(THREE), name="truth")
    pred = viewer.add_labels(squares(THREE[:2]), name="pred")
    region = viewer.add_shapes([np.array([[0, 0], [39, 19]])], shape_type="rectangle")
    widget = docked(viewer)
    widget._prediction.value, widget._ground_truth.value = pred, truth
    widget._region.value, widget._compare.value = region, [first]
    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict, name="Predict")
    predict._image.value = b
    for layer, name in ((truth, "truth (checked)"), (pred, "pred v2"), (region, "left half"),
                        (first, "first run"), (b, "b renamed")):  # fmt: skip
        layer.name = name
        viewer.add_points(name=f"after {name}")  # any later layer event
        assert widget._prediction.value is pred and widget._ground_truth.value is truth
        assert widget._region.value is region and list(widget._compare.value) == [first]
        assert predict._image.value is b
    run_and_wait(qtbot, widget)
    mask = np.zeros((40, 40), bool)
    mask[:, :20] = True
    from napari_unet import restrict_to_region

    expected = evaluate(*restrict_to_region(squares(THREE), squares(THREE[:2]), mask))["ap"]
    assert widget.results[1]["ap"] == pytest.approx(expected)


def test_planes_empty_in_both_layers_are_left_out_of_the_plane_mean(make_napari_viewer, qtbot):
    """A prediction that finds nothing scores 0, not 0.8 for 8 empty planes of 10."""
    gt = np.zeros((10, 40, 40), np.int32)
    gt[4], gt[5] = squares(THREE), squares(THREE[:1])
    viewer = make_napari_viewer()
    viewer.add_labels(gt, name="annotations")
    viewer.add_labels(np.zeros_like(gt), name="prediction")
    widget = docked(viewer)
    run_and_wait(qtbot, widget)
    per_image, total = widget.results
    assert len(per_image) == 10  # every plane keeps its column
    assert total["dataset_ap"] == 0.0 and total["n_empty"] == 8
    status = widget._status.value
    assert "AP 0.000" in status and "8 planes empty in both layers left out" in status
    assert [float(v) for v in widget._thresholds["AP img mean"]] == [0.0] * 10
    viewer.layers["annotations"].data = np.zeros_like(gt)  # nothing anywhere
    run_and_wait(qtbot, widget)
    status = widget._status.value
    assert "no plane holds an object" in status and "1.000" not in status
    assert set(widget._thresholds["AP img mean"]) == {"n/a"}


def blocked_job(monkeypatch, release: threading.Event):
    """Make the dock's scoring wait for ``release`` after its first progress event."""
    from napari_unet.core.metrics import EvaluateProgress

    original = _workers.evaluate_job

    def slow(pairs, thresholds, total):
        yield EvaluateProgress(0, total, "waiting")
        release.wait(20)
        return (yield from original(pairs, thresholds, total))

    monkeypatch.setattr(_workers, "evaluate_job", slow)


def test_closing_napari_while_it_scores_raises_nothing(make_napari_viewer, qtbot, monkeypatch):
    release = threading.Event()
    blocked_job(monkeypatch, release)
    viewer = make_napari_viewer()
    viewer.add_labels(squares(THREE), name="gt")
    viewer.add_labels(squares(THREE[1:]), name="pred")
    widget = docked(viewer)
    widget._run.native.click()
    worker = widget._worker
    qtbot.waitUntil(lambda: "waiting" in widget._status.value, timeout=20000)
    viewer.close()  # the dock's labels and buttons are deleted
    release.set()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=20000)
    qtbot.wait(100)  # the worker's last signals arrive: no RuntimeError from deleted widgets


def test_cancel_stops_the_evaluation_and_gives_the_layers_back(
    make_napari_viewer, qtbot, monkeypatch
):
    release = threading.Event()
    blocked_job(monkeypatch, release)
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(THREE), name="gt")
    pred = viewer.add_labels(squares(THREE[1:]), name="pred")
    gt.mode = "paint"
    widget = docked(viewer)
    widget._run.native.click()
    worker = widget._worker
    qtbot.waitUntil(lambda: "waiting" in widget._status.value, timeout=20000)
    assert widget._run.text == "Cancel" and widget._run.enabled
    widget._run.native.click()  # Cancel
    assert widget._run.text == "Evaluate" and "Cancelled" in widget._status.value
    assert gt.editable and pred.editable and gt.mode == "paint"
    release.set()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=20000)
    qtbot.wait(100)
    assert widget.results is None and "Cancelled" in widget._status.value  # the run is dropped


def test_layers_are_copied_in_the_worker_while_they_are_read_only(
    make_napari_viewer, qtbot, monkeypatch
):
    """Copying 8192 x 8192 layers froze napari for 2 s: the worker copies them now, and the
    layers cannot be painted until their copies are made (then their undo history is back)."""
    import importlib

    work = importlib.import_module("napari_unet.widgets._evaluate_work")
    seen = []
    original = work.copy_layers

    def spy(plan):
        seen.append(
            (threading.current_thread() is threading.main_thread(), gt.editable, pred.editable)
        )
        return original(plan)

    monkeypatch.setattr(work, "copy_layers", spy)
    viewer = make_napari_viewer()
    gt = viewer.add_labels(np.zeros((40, 40), np.int32), name="gt")
    pred = viewer.add_labels(squares(THREE[1:]), name="pred")
    gt.mode = "paint"
    gt.paint((5, 5), 1)  # a stroke, undoable
    gt.paint((25, 10), 3)
    history = len(gt._undo_history)
    widget = docked(viewer)
    run_and_wait(qtbot, widget)
    assert seen == [(False, False, False)]  # in the worker, with the layers read-only
    assert gt.editable and pred.editable and gt.mode == "paint"
    assert len(gt._undo_history) == history  # the strokes can still be undone
    assert widget.results[1]["n_pred"] == 2


def test_a_large_plane_shows_progress_within_it(make_napari_viewer, qtbot, monkeypatch):
    from napari_unet.core.metrics import contingency

    monkeypatch.setattr(contingency, "CHUNK", 500)  # a 40 x 40 plane counts as large
    viewer = make_napari_viewer()
    viewer.add_labels(squares(THREE), name="gt")
    viewer.add_labels(squares(THREE[1:]), name="pred")
    widget = docked(viewer)
    shown = []
    original = EvaluateWidget._on_progress

    def spy(self, event, *args):
        original(self, event, *args)
        shown.append(self._status.value)

    monkeypatch.setattr(EvaluateWidget, "_on_progress", spy)
    run_and_wait(qtbot, widget)
    assert any("%" in text and "pred" in text for text in shown), shown
    assert widget.results[1]["n_pred"] == 2


def test_a_layer_read_only_before_evaluate_is_left_to_its_holder():
    """Evaluate pressed while the Annotate dock accepts a prediction (the annotations read-only
    for that moment): putting back 'read-only' after Annotate gave the layer back locked it."""
    from napari.layers import Labels

    from napari_unet.widgets._evaluate_work import ReadOnly

    layer = Labels(np.zeros((8, 8), np.int32))
    layer.editable = False  # the Annotate dock's accept holds it
    hold = ReadOnly([layer])
    layer.editable = True  # the accept ends: the Annotate dock gives it back
    hold.release()
    assert layer.editable


def test_a_napari_without_readable_undo_history_is_said_when_evaluate_locks_a_layer(
    monkeypatch,
):
    """The history of a layer made read-only (napari clears it) is put back only where
    napari keeps it readably; elsewhere it was lost without a word."""
    from types import SimpleNamespace

    from napari_unet.widgets import _history
    from napari_unet.widgets._evaluate_work import ReadOnly

    class Layer(SimpleNamespace):  # a layer of a napari whose history is not readable
        __hash__ = object.__hash__  # by identity, as napari's layers

    monkeypatch.setattr(_history, "_NO_HISTORY", [])
    layer = Layer(editable=True, mode="paint")
    with pytest.warns(RuntimeWarning, match="loses its undo history"):
        hold = ReadOnly([layer])
    assert not layer.editable
    hold.release()
    assert layer.editable and layer.mode == "paint"
