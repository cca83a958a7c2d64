"""The Evaluate dock scores only layers the viewer shows on the same pixels.

Scoring compares pixel to pixel: a prediction shown elsewhere (another scale, translate or
rotation) was scored as if it overlaid the ground truth, a shifted copy as AP 1.000.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.widgets.evaluate import EvaluateWidget

PLACES = {
    "scaled and moved": {"scale": (2, 2), "translate": (30, 0)},
    "moved": {"translate": (0, 12)},
    "rotated": {"rotate": 30},
}


def _evaluate(qtbot, widget: EvaluateWidget) -> None:
    widget.results = None
    widget._run.native.click()  # a Cancel button until the run has finished
    qtbot.waitUntil(lambda: widget._run.text == "Evaluate", timeout=20_000)


@pytest.mark.parametrize("place", list(PLACES))
def test_a_prediction_shown_elsewhere_is_refused_until_placed_on_the_truth(
    make_napari_viewer, qtbot, errors, place
):
    viewer = make_napari_viewer()
    _, truth = touching_cells((96, 96), n_cells=10, seed=3)
    gt = viewer.add_labels(truth, name="gt")
    pred = viewer.add_labels(truth.copy(), name="pred", **PLACES[place])
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Evaluate")
    widget._prediction.value, widget._ground_truth.value = pred, gt
    _evaluate(qtbot, widget)
    assert widget.results is None  # not scored (before: AP 1.000, not a word)
    assert widget._status.value.startswith("Error")
    assert "'pred' does not lie on the pixels of 'gt'" in widget._status.value
    assert errors and "does not lie on the pixels" in errors[-1]
    viewer.layers.remove(pred)  # placed as the ground truth: scored
    pred = viewer.add_labels(truth.copy(), name="pred")
    widget._prediction.value = pred
    _evaluate(qtbot, widget)
    assert widget.results is not None and widget.results[1]["ap"] == pytest.approx(1.0)


def test_a_compared_layer_shown_elsewhere_is_refused(make_napari_viewer, qtbot, errors):
    viewer = make_napari_viewer()
    _, truth = touching_cells((64, 64), n_cells=6, seed=4)
    gt = viewer.add_labels(truth, name="gt", scale=(0.5, 0.5))
    pred = viewer.add_labels(truth.copy(), name="pred", scale=(0.5, 0.5))  # on gt's pixels
    other = viewer.add_labels(np.roll(truth, 3, axis=0), name="other")  # scale 1: elsewhere
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Evaluate")
    widget._prediction.value, widget._ground_truth.value = pred, gt
    widget._compare.value = [other]
    _evaluate(qtbot, widget)
    assert widget.results is None and not widget.scores
    assert "'other' does not lie on the pixels of 'gt'" in widget._status.value
