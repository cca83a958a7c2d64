"""'Current view/plane only' on a thin image, or a thin strip of one at the view's edge.

Before: the one-tile fallback of a deep zoom (a view under 16 pixels on a side) was taken
whenever the image's part in view was under 16 pixels on a side, so a 12 x 2400 image fully
in view predicted only a 128 px box of it, and a strip of an image at the view's edge a
128 px box partly off screen.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets._layers import camera, view_extent, visible_box  # noqa: E402
from napari_unet.widgets._view_region import view_region  # noqa: E402
from napari_unet.widgets.predict import VIEW, PredictWidget, result_name  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _dock(viewer, layer, tiny):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = layer
    widget._scope.value = VIEW
    return widget


def _strip() -> np.ndarray:
    """A 12 x 2400 strip of touching cells: 12-row bands of several images side by side."""
    bands = [touching_cells((96, 96), seed=s)[0][40:52] for s in range(25)]
    return np.concatenate(bands, axis=1)


def test_thin_image_in_view_is_predicted_along_its_length(make_napari_viewer, run_predict, tiny):
    viewer = make_napari_viewer()
    image = viewer.add_image(_strip(), name="strip")
    widget = _dock(viewer, image, tiny)
    viewer.reset_view()  # all of it on screen
    run_predict(widget)
    seg = np.asarray(viewer.layers[result_name("strip", "tiny")].data)
    cols = np.flatnonzero(seg.any(0))
    assert cols.size and cols.max() - cols.min() > 1500  # not one 128 px box of it
    assert widget._req["region"] is None  # all of it is in view: the whole image
    assert visible_box(viewer, image, (12, 2400)) == (0, 12, 0, 2400)  # the Live dock's box


def test_strip_at_the_view_edge_is_its_visible_part(make_napari_viewer, run_predict, tiny):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((320, 320))[0], name="img")
    widget = _dock(viewer, image, tiny)
    camera(viewer).zoom = 2
    lo, hi = view_extent(viewer, image)
    camera(viewer).center = (160, 312 + (hi[1] - lo[1]) / 2)  # only the last 8 columns shown
    y0, y1, x0, x1 = view_region(viewer, image, (320, 320), 64)
    assert x1 == 320 and 300 < x0 < 316  # the strip, not a 64 px box beside the view
    assert y1 - y0 > 100  # the view's height of it
    run_predict(widget)
    assert "rror" not in widget._status.value
    (ry0, ry1), (rx0, rx1) = widget._req["region"]
    assert (rx0, rx1) == (x0, x1) and (ry0, ry1) == (y0, y1)
    seg = np.asarray(viewer.layers[result_name("img", "tiny")].data)
    assert not seg[:, :x0].any()  # nothing off screen
    camera(viewer).zoom = 200  # a real deep zoom still predicts one tile around the centre
    camera(viewer).center = (160, 160)
    assert view_region(viewer, image, (320, 320), 64) == (128, 192, 128, 192)
