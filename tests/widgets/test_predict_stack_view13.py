"""Predict's current view/plane only on a stack: the plane on screen, and its count said so."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.widgets.predict import VIEW, PredictWidget

pytest.importorskip("torch")


def _dock(make_napari_viewer, tiny, planes):
    stack = np.stack([touching_cells((96, 96), n_cells=8, seed=s)[0] for s in range(planes)])
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="st")
    dock = PredictWidget(viewer)
    viewer.window.add_dock_widget(dock)
    dock.set_model(*tiny, name="tiny")
    dock._image.value = layer
    return viewer, dock


@pytest.mark.parametrize("how", ["side", "3d"])
def test_a_stack_with_no_plane_on_screen_is_refused(
    run_predict, make_napari_viewer, tiny, errors, how
):
    """Before, the plane the hidden slider was left at was predicted, without a word (the
    Annotate dock refuses the same view)."""
    viewer, dock = _dock(make_napari_viewer, tiny, 3)
    viewer.dims.set_current_step(0, 1)
    if how == "side":
        viewer.dims.order = (1, 0, 2)  # napari's transpose: a Z-X section
    else:
        viewer.dims.ndisplay = 3
    dock._scope.value = VIEW
    run_predict(dock)
    assert any("shows no plane of 'st'" in e for e in errors), errors
    assert "st segmentation (tiny)" not in viewer.layers


def test_one_planes_count_is_said_to_be_the_planes(run_predict, make_napari_viewer, tiny):
    """Before, '2 objects in 'st segmentation (tiny)'' while the layer held 7."""
    viewer, dock = _dock(make_napari_viewer, tiny, 4)
    run_predict(dock)  # the whole stack
    viewer.dims.set_current_step(0, 3)
    dock._scope.value = VIEW
    run_predict(dock)
    seg = viewer.layers["st segmentation (tiny)"].data
    first = dock._status.value.splitlines()[0]
    on_plane = len(np.unique(seg[3][seg[3] > 0]))
    assert first == f"{on_plane} objects in 'st segmentation (tiny)' on plane 3"
