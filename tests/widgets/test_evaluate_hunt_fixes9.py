"""Evaluate in the Predict dock: results scrolled to, the sample data's ground truth picked.

Before: after Evaluate its status and tables stayed below the visible part of the Predict
dock (nothing seemed to happen); on the plugin's own samples, whose ground truth is named
``"<image> ground truth"``, the ground truth was left unpicked ("'nuclei' has no annotations
layer"); the status said "1 image(s)" and named the best of several predictions by a
fragment of its name ("best: nuclei").
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QPoint
from test_evaluate_widget import THREE, docked, run_and_wait, squares

pytest.importorskip("napari")

SCREEN = (1280, 720)


def _in_view(scroll, widget) -> bool:
    """Whether ``widget`` lies wholly inside the scroll area's viewport."""
    top = widget.mapTo(scroll.viewport(), QPoint(0, 0)).y()
    return top >= 0 and top + widget.height() <= scroll.viewport().height()


def _top_in_view(scroll, widget) -> bool:
    top = widget.mapTo(scroll.viewport(), QPoint(0, 0)).y()
    return 0 <= top < scroll.viewport().height()


@pytest.fixture
def predict_panel(make_napari_viewer, qtbot):
    """A Predict dock on a 1280 x 720 window, its Evaluate section open, scrolled to the top."""
    pytest.importorskip("torch")
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)  # napari has no public name for its window
    viewer.add_image(np.zeros((40, 40)), name="cells")
    truth = viewer.add_labels(squares(THREE), name="cells ground truth")
    viewer.add_labels(squares(THREE[:2]), name="cells segmentation")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", "Predict")
    panel = widget._evaluate.panel
    panel.suggest("cells", prediction="cells segmentation")  # what a Predict run calls
    panel._ground_truth.value = truth
    widget._evaluate.expand(animate=False)
    qtbot.wait(100)
    bar = widget._scroll.verticalScrollBar()
    bar.setValue(0)
    qtbot.wait(50)
    assert bar.maximum() > 0  # 720 px: the dock does scroll
    assert not _in_view(widget._scroll, panel._status.native)
    return widget, panel


def test_a_finished_evaluation_scrolls_the_predict_dock_to_its_results(predict_panel, qtbot):
    widget, panel = predict_panel
    panel._run.native.click()
    qtbot.waitUntil(lambda: bool(panel._run.text == "Evaluate" and panel.results), timeout=20_000)
    qtbot.wait(100)
    assert "AP" in panel._status.value
    assert _in_view(widget._scroll, panel._status.native)
    assert _top_in_view(widget._scroll, panel._summary.native)


def test_a_failed_evaluation_scrolls_the_predict_dock_to_its_message(
    predict_panel, qtbot, errors, monkeypatch
):
    from napari_unet.widgets import _evaluate_work

    def fails(*_args, **_kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(_evaluate_work, "copy_layers", fails)
    widget, panel = predict_panel
    panel._run.native.click()
    qtbot.waitUntil(lambda: bool(errors) and panel._run.text == "Evaluate", timeout=20_000)
    qtbot.wait(100)
    assert "Evaluation failed" in panel._status.value
    assert _in_view(widget._scroll, panel._status.native)


def test_the_sample_datas_ground_truth_is_picked(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "touching_cells")
    truth = viewer.layers["touching cells ground truth"]
    pred = viewer.add_labels(np.zeros_like(truth.data), name="touching cells segmentation")
    widget = docked(viewer)
    widget.suggest("touching cells", prediction=pred.name)
    assert widget._prediction.value is pred
    assert widget._ground_truth.value is truth
    assert widget._status.value == (
        "Press Evaluate to score 'touching cells segmentation' against "
        "'touching cells ground truth'."
    )
    # The Annotate dock's layer comes first.
    annotations = viewer.add_labels(truth.data.copy(), name="touching cells annotations")
    widget.suggest("touching cells", prediction=pred.name)
    assert widget._ground_truth.value is annotations


def test_without_either_the_status_names_both(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_labels(squares(THREE), name="A ground truth")
    viewer.add_labels(squares(THREE), name="B segmentation")
    widget = docked(viewer)
    widget.suggest("B", prediction="B segmentation")
    assert widget._ground_truth.value is None  # never another image's
    status = widget._status.value
    assert "'B annotations' or 'B ground truth'" in status, status
    assert widget._ground_truth.current_choice == "(none: no ground truth of 'B')"


def test_the_status_counts_images_in_words_and_names_the_best_in_full(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((40, 40)), name="cells")
    viewer.add_labels(squares(THREE), name="cells annotations")
    viewer.add_labels(squares(THREE[:1]), name="cells segmentation (worse)")
    viewer.add_labels(squares(THREE), name="cells segmentation (nuclei)")
    widget = docked(viewer)
    widget.suggest("cells", prediction="cells segmentation (worse)")
    assert len(widget._predictions()) == 2
    run_and_wait(qtbot, widget)
    status = widget._status.value
    assert status.startswith("2 predictions, 1 image each; "), status
    assert "best: 'cells segmentation (nuclei)', AP 1.000" in status, status
    assert "image(s)" not in status
    widget._compare.value = []
    run_and_wait(qtbot, widget)
    status = widget._status.value
    assert status.startswith("1 image, 3 true and 1 predicted object;"), status
