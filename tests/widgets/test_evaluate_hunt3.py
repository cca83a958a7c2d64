"""Evaluate dock: tables of an earlier run stay out of date after a run that gave no results.

Before, a run's start forgot which scored layers had been edited since the tables were
made: after a Cancel or a failed run, tables of the uncorrected ground truth came back as
current ("AP 1.000" for a ground truth that now gives 0.5).
"""

from __future__ import annotations

import threading

import numpy as np
from test_evaluate_widget import blocked_job, docked, run_and_wait, squares

TWO = [(2, 12, 2, 12), (20, 30, 20, 30)]


def _scored(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(TWO), name="gt")
    pred = viewer.add_labels(squares(TWO), name="A")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, pred
    widget._compare.value = []
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
    viewer = make_napari_viewer()
    gt = viewer.add_labels(squares(TWO), name="gt")
    pred = viewer.add_labels(squares(TWO), name="A")
    widget = docked(viewer)
    widget._ground_truth.value, widget._prediction.value = gt, pred
    widget._compare.value = []
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
