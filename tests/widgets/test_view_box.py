"""'Current view only' and the training preview cover exactly what is on screen."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from napari_unet.widgets._layers import camera, visible_box


def shown_box(viewer, layer):
    """What vispy draws: its camera rectangle in world coordinates -> data pixels."""
    rect = viewer.window._qt_viewer.canvas.view.camera.rect  # the test's independent witness
    scale, translate = np.asarray(layer.scale[-2:]), np.asarray(layer.translate[-2:])
    lo = (np.array([rect.bottom, rect.left]) - translate) / scale
    hi = (np.array([rect.top, rect.right]) - translate) / scale
    return lo, hi


@pytest.mark.parametrize("window", [(900, 700), (1500, 950)])
@pytest.mark.parametrize("zoom", [0.6, 1.7, 4.0])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_box_is_the_view(make_napari_viewer, window, zoom, scale):
    viewer = make_napari_viewer(show=True)
    layer = viewer.add_image(
        np.zeros((1200, 1600), np.uint8), scale=(scale, scale), translate=(30, -20)
    )
    viewer.window._qt_window.resize(*window)
    camera(viewer).zoom = zoom
    camera(viewer).center = (0, 30 + 400 * scale, -20 + 700 * scale)
    for _ in range(20):
        QApplication.processEvents()
    y0, y1, x0, x1 = visible_box(viewer, layer, (1200, 1600))
    (ly, lx), (hy, hx) = shown_box(viewer, layer)
    # napari draws pixel i from i - 0.5 to i + 0.5: the pixels any part of which shows
    expect = [max(int(np.floor(ly + 0.5)), 0), min(int(np.ceil(hy + 0.5)), 1200),
              max(int(np.floor(lx + 0.5)), 0), min(int(np.ceil(hx + 0.5)), 1600)]  # fmt: skip
    # It covers the view, never less, and at most a few pixels more (napari's canvas size
    # counts a pixel or two that vispy's view box does not).
    slack = 3
    assert y0 <= expect[0] and y1 >= expect[1] and x0 <= expect[2] and x1 >= expect[3]
    assert expect[0] - y0 <= slack and y1 - expect[1] <= slack
    assert expect[2] - x0 <= slack and x1 - expect[3] <= slack
    assert (y1 - y0) * (x1 - x0) < 1200 * 1600 or zoom < 1  # zoomed in: only part of it


def test_the_box_follows_transposed_axes(make_napari_viewer):
    """napari's transpose button shows x down and y across: the box was taken as if it
    were not (the Live dock predicted and accepted cells off screen)."""
    viewer = make_napari_viewer(show=True)
    layer = viewer.add_image(np.zeros((520, 696), np.uint8))
    viewer.window._qt_window.resize(900, 700)
    viewer.dims.order = (1, 0)
    camera(viewer).zoom = 3
    camera(viewer).center = (600, 60)  # shown down: x = 600; across: y = 60
    for _ in range(20):
        QApplication.processEvents()
    y0, y1, x0, x1 = visible_box(viewer, layer, (520, 696))
    (cy0, cx0), (cy1, cx1) = np.asarray(layer.corner_pixels)  # napari's own view of it
    assert y0 <= cy0 + 1 and y1 >= cy1 and x0 <= cx0 + 1 and x1 >= cx1 - 1
    assert y0 <= 60 < y1 and x0 <= 600 < x1
    assert (y1 - y0) * (x1 - x0) < 520 * 696 / 2


def test_no_box_in_3d_or_from_the_side_of_a_stack(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((8, 64, 64), np.uint8))
    assert visible_box(viewer, layer, (64, 64)) is not None
    viewer.dims.order = (1, 0, 2)  # z shown down: not a plane of the stack
    assert visible_box(viewer, layer, (64, 64)) is None
    viewer.dims.order = (0, 1, 2)
    viewer.dims.ndisplay = 3
    assert visible_box(viewer, layer, (64, 64)) is None
