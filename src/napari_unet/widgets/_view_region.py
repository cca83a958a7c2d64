"""The part of a plane the Predict dock's "current view/plane only" predicts.

:func:`view_region` is :func:`~napari_unet.widgets._view_box.visible_box` where that finds a
box; it also tells apart the cases that function gives None for: zoomed in so far that the
view spans fewer than 16 pixels on a side (a small box around the view's centre, on the
image), a view beside the image (refused: :class:`~napari_unet.core.errors.InputError`),
and a view that is not of the plane (3D display, a stack seen from its side: None, the
whole plane). A thin image in view, or a thin strip of one at the view's edge, is its
visible part: the fallback is for the view's size, not the image's.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.widgets._view_box import (
    pixels_in_view,
    shows_image_plane,
    view_extent,
    visible_box,
)

#: The side (px) of the box predicted around the view's centre when zoomed in very far.
SMALL_VIEW = 128


def view_region(viewer, layer, plane_shape: tuple, side: int = SMALL_VIEW) -> tuple | None:
    """``(y0, y1, x0, x1)`` of ``layer``'s plane to predict for the view, or None (all).

    A view under 16 pixels on a side (a deep zoom): the ``side`` x ``side`` box (at most
    the plane) around the view's centre, moved onto the plane. Raises InputError when no
    pixel is in view.
    """
    box = visible_box(viewer, layer, plane_shape)
    if box is not None or not shows_image_plane(viewer):  # by napari's ndisplay: a 2D
        return box  # image in 3D display, camera turned, took the box as if seen from above
    lo, hi = view_extent(viewer, layer)
    h, w = plane_shape
    first, end = pixels_in_view(lo, hi, (h, w))  # pixel i spans i - 0.5 to i + 0.5
    if np.any(end <= first):
        raise InputError(f"no part of {layer.name!r} is in view: pan onto it or zoom out")
    centre = np.clip((lo + hi) / 2, 0, (h, w))
    sides = np.minimum(max(int(side), 16), (h, w))
    y0, x0 = (int(v) for v in np.clip(np.round(centre - sides / 2), 0, (h, w) - sides))
    return y0, y0 + int(sides[0]), x0, x0 + int(sides[1])
