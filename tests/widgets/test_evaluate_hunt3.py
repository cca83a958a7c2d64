"""Evaluate dock: tables of an earlier run stay out of date after a run that gave no results.

Before, a run's start forgot which scored layers had been edited since the tables were
made: after a Cancel or a failed run, tables of the uncorrected ground truth came back as
current ("AP 1.000" for a ground truth that now gives 0.5).
"""

from __future__ import annotations

import threading

import numpy as np
from test_evaluate_widget import blocked_job, docked, run_and_wait, squares

from napari_unet.widgets.evaluate import EvaluateWidget

TWO = [(2, 12, 2, 12), (20, 30, 20, 30)]


def _picked(make_napari_viewer):
    """A docked Evaluate panel with the ground truth 'gt' and the prediction 'A' picked."""
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(TWO), name="gt")
    pred = viewer.add_labels(squares(TWO), name="A")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, pred
    widget._compare.value = []
    return viewer, widget, gt, pred


def _scored(make_napari_viewer, qtbot):
    viewer, widget, gt, pred = _picked(make_napari_viewer)
    run_and_wait(qtbot, widget)
    assert widget._summary.enabled and widget.results is not None
    gt.data = np.where(gt.data == 2, 0, gt.data)  # the user deletes a cell
    assert not widget._summary.enabled and "'gt' edited since" in widget._status.value
    return viewer, widget, gt, pred


def test_a_cancelled_run_leaves_tables_of_edited_layers_out_of_date(
    make_napari_viewer, qtbot, monkeypatch
):
    release = threading.Event()
    blocked_job(monkeypatch, release)
    release.set()  # the first run goes through
    _, widget, gt, _ = _scored(make_napari_viewer, qtbot)
    release.clear()
    widget._run.native.click()  # Evaluate
    qtbot.waitUntil(lambda: "waiting" in widget._status.value, timeout=20000)
    widget._run.native.click()  # Cancel
    release.set()
    assert not widget._summary.enabled
    assert widget._status.value.startswith("Cancelled. Out of date")
    assert "'gt' edited since" in widget._status.value
    widget._show_idle()  # any later refresh
    assert not widget._summary.enabled and "'gt' edited since" in widget._status.value
    qtbot.wait(200)


def test_a_failed_run_leaves_tables_of_edited_layers_out_of_date(make_napari_viewer, qtbot):
    viewer, widget, gt, pred = _scored(make_napari_viewer, qtbot)
    bad = viewer.add_labels(np.where(squares(TWO) > 0, -1, 0).astype(np.int8), name="B")
    widget._prediction.value = bad  # negative ids: refused in the worker
    run_and_wait(qtbot, widget)
    assert "negative" in widget._status.value
    widget._prediction.value = pred  # back to the scored picks
    assert not widget._summary.enabled and "'gt' edited since" in widget._status.value


def test_a_cancel_with_current_tables_says_they_are_the_last_results(
    make_napari_viewer, qtbot, monkeypatch
):
    release = threading.Event()
    blocked_job(monkeypatch, release)
    viewer, widget, gt, pred = _picked(make_napari_viewer)
    release.set()
    run_and_wait(qtbot, widget)
    release.clear()
    widget._run.native.click()
    qtbot.waitUntil(lambda: "waiting" in widget._status.value, timeout=20000)
    widget._run.native.click()  # Cancel: nothing was edited
    release.set()
    assert widget._summary.enabled
    assert widget._status.value == "Cancelled: the tables show the last results"
    qtbot.wait(200)


def test_a_ground_truth_edited_during_a_failed_run_greys_the_tables(
    make_napari_viewer, qtbot, monkeypatch
):
    """The run's copies were made, the user edited the ground truth, then the run failed:
    its error is shown and the tables (of the uncorrected ground truth) are greyed."""
    from napari_unet.core.metrics import EvaluateProgress
    from napari_unet.widgets import _workers

    viewer, widget, gt, pred = _picked(make_napari_viewer)
    run_and_wait(qtbot, widget)
    release = threading.Event()

    def failing(pairs, thresholds, total):
        yield EvaluateProgress(0, total, "waiting")
        release.wait(20)
        raise ValueError("boom")

    monkeypatch.setattr(_workers, "evaluate_job", failing)
    widget._run.native.click()
    qtbot.waitUntil(lambda: "waiting" in widget._status.value, timeout=20000)
    gt.data = np.where(gt.data == 2, 0, gt.data)
    release.set()
    qtbot.waitUntil(lambda: widget._run.text == "Evaluate", timeout=20000)
    assert "boom" in widget._status.value
    assert not widget._summary.enabled  # before: enabled, as if current


def test_a_ground_truth_picked_anew_after_a_removal_is_not_offered_to_compare(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = EvaluateWidget(viewer)  # not docked: napari's own reset of docks hid it
    for name in "ABCD":
        viewer.add_labels(np.zeros((20, 20), np.int32), name=name)
    widget._prediction.value = viewer.layers["D"]
    widget._ground_truth.value = viewer.layers["A"]
    viewer.layers.remove("A")
    gt = widget._ground_truth.value
    assert gt is not None and gt.name != "D"
    offered = [layer.name for layer in widget._compare.choices]
    assert gt.name not in offered and "D" not in offered  # before: B offered, B the truth


def test_a_removed_scored_layer_is_not_held_by_the_tables(make_napari_viewer, qtbot):
    viewer, widget, gt, pred = _picked(make_napari_viewer)
    run_and_wait(qtbot, widget)
    assert any(entry[0] is gt for entry in widget._edits._watched)
    viewer.layers.remove(gt)
    assert not any(entry[0] is gt for entry in widget._edits._watched)  # before: kept
    assert [entry[0] for entry in widget._edits._watched] == [pred] * 4
    assert "'gt' since removed" in widget._status.value
