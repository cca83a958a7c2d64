"""The view on a layer: its box of data pixels, the pixels on screen, and what moves it.

napari gives the camera's centre and zoom (canvas pixels per world unit) and the canvas
size (a grid cell's in grid mode) in the order of the displayed axes (napari's transpose
button swaps them). The view's corners go into a layer's pixels through its
``world_to_data`` (scale, translate, rotation, shear and affine): :func:`visible_box` is the
box that holds them; :func:`view_pixels` also gives, for a rotated or sheared layer, which
pixels of that box any part of which is on screen (the Live dock's *Accept all* writes
those only). :func:`connect_view` follows whatever changes the view: the camera, the
canvas's size (the window resized, a dock closed) and napari's grid mode.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "camera",
    "canvas_size",
    "connect_view",
    "pixels_in_view",
    "shows_image_plane",
    "view_extent",
    "view_pixels",
    "visible_box",
]


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera``, public since napari 0.9)."""
    return viewer.scene.camera


def canvas_size(viewer) -> tuple[int, int]:
    """The canvas's (height, width) in screen pixels (``viewer.canvas.size``, napari 0.9)."""
    size = viewer.canvas.size
    return int(size[-2]), int(size[-1])


def shows_image_plane(viewer) -> bool:
    """Whether the 2D view shows the last two axes (a stack's planes, transposed or not)."""
    dims = viewer.dims
    return dims.ndisplay == 2 and set(dims.displayed) == {dims.ndim - 2, dims.ndim - 1}


def connect_view(viewer, callback, connect: bool = True) -> None:
    """Call ``callback`` whenever the view changes (``connect`` False: no longer).

    The camera (pan, zoom), the canvas's size (napari's ``viewer.canvas.events.size``: the
    window resized, a dock opened or closed) and grid mode (on, off, its shape). Before,
    the camera only: a resized window left the Live dock's and the preview's box stale.
    """
    canvas = viewer.canvas
    for emitter in (camera(viewer).events, canvas.events.size, canvas.grid.events):
        if connect:
            emitter.connect(callback)
        else:
            emitter.disconnect(callback)


def pixels_in_view(lo, hi, plane_shape) -> tuple[np.ndarray, np.ndarray]:
    """First and end (exclusive) data pixel (down, across) of the plane from ``lo`` to ``hi``.

    napari draws pixel ``i`` from ``i - 0.5`` to ``i + 0.5``: it is in view when
    ``i + 0.5 > lo`` and ``i - 0.5 < hi`` (before, the edges were rounded as if it spanned
    ``i`` to ``i + 1``: a column beside the view was counted in, one partly shown left
    out). ``end <= first`` on an axis: no pixel in view.
    """
    first = np.maximum(np.floor(np.asarray(lo, dtype=float) + 0.5), 0).astype(int)
    end = np.minimum(np.ceil(np.asarray(hi, dtype=float) + 0.5), plane_shape).astype(int)
    return first, end


def visible_box(viewer, layer, plane_shape, limit: int | None = None):
    """``(y0, y1, x0, x1)`` of the data pixels of ``layer`` in view, clipped to the plane.

    The box holds the view's corners in the layer's pixels (a rotated layer's view is a
    slanted rectangle there: the box holds more than the screen shows). ``limit``
    caps the half side of the box (data pixels) around the centre of the part of the plane
    in view (before, the view's centre: a view half off the image capped to a sliver at its
    edge). A pixel is in view when any of it is (:func:`pixels_in_view`). None when the view
    itself spans less than 16 pixels on a side (zoomed in very far), when no pixel of the
    plane is in view, in 3D display (before, a 2D image in 3D display gave the box as if
    looked at from straight above, whatever the camera's angles), or when the axes shown
    are not the plane's (a stack viewed from its side). A thin image, or a thin strip of one
    at the view's edge, in a view of 16 pixels or more gives its thin box.
    """
    if not shows_image_plane(viewer):
        return None
    lo, hi = view_extent(viewer, layer)
    if np.any(hi - lo < 16):  # the view, not its part on the image: a deep zoom
        return None
    first, end = pixels_in_view(lo, hi, tuple(plane_shape))
    if np.any(end <= first):
        return None
    if limit is not None:  # the clipped box, at most 2 * limit a side, about its centre
        side = np.minimum(end - first, 2 * int(limit))
        first = first + (end - first - side) // 2
        end = first + side
    (y0, x0), (y1, x1) = first.tolist(), end.tolist()
    return y0, y1, x0, x1


def _corners(viewer, layer) -> np.ndarray:
    """The view's four corners in ``layer``'s data pixels (down, across), around it in turn."""
    cam, displayed = camera(viewer), list(viewer.dims.displayed)
    shown = np.asarray(cam.center[-2:], dtype=float)  # world, the axes shown down, across
    # what shows the layer: the canvas, or in napari's grid mode one cell of it (each at the
    # camera's centre and zoom; before, the whole canvas: a view several times too big)
    half_world = np.asarray(viewer.canvas.viewbox_size(viewer.layers), float) / cam.zoom / 2
    point, corners = np.array(viewer.dims.point, dtype=float), []
    for sign in ((-1, -1), (-1, 1), (1, 1), (1, -1)):
        point[displayed] = shown + np.asarray(sign) * half_world
        corners.append(np.asarray(layer.world_to_data(point), dtype=float)[-2:])
    return np.array(corners)


def view_extent(viewer, layer) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest data pixel (down, across) of the view's corners, unclipped.

    For a 2D display of the layer's plane (:func:`visible_box` checks that first).
    """
    corners = _corners(viewer, layer)
    return np.min(corners, axis=0), np.max(corners, axis=0)


def view_pixels(viewer, layer, plane_shape) -> tuple[tuple | None, np.ndarray | None]:
    """``(box, mask)``: the pixels of ``layer``'s plane any part of which is on screen.

    ``box`` is ``(y0, y1, x0, x1)``, however far zoomed in; ``mask`` marks the pixels of the
    box on screen (shape of the box), None when all are (the layer is not rotated or
    sheared: the box alone is exact). ``(None, None)``: no pixel of the plane is in view.

    Raises
    ------
    InputError
        In 3D display, or when the view is a side section of a stack (no plane is shown).
    """
    from napari_unet.core.errors import InputError

    if not shows_image_plane(viewer):
        raise InputError(
            f"the view shows no plane of {layer.name!r} (the 3D view, or a side section); "
            "show its planes in the 2D view (napari's transpose or roll dims buttons)"
        )
    corners = _corners(viewer, layer)
    first, end = pixels_in_view(corners.min(0), corners.max(0), tuple(plane_shape))
    if np.any(end <= first):
        return None, None
    mask = _slanted_mask(corners, first, end)
    if mask is not None:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if not rows.size:
            return None, None
        mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        first, end = first + (rows[0], cols[0]), first + (rows[-1] + 1, cols[-1] + 1)
    (y0, x0), (y1, x1) = first.tolist(), end.tolist()
    return (y0, y1, x0, x1), mask


def _slanted_mask(corners: np.ndarray, first, end) -> np.ndarray | None:
    """Pixels from ``first`` to ``end`` whose square meets the quadrilateral ``corners``.

    None when its sides are along the axes (the box is exact). Else a pixel (a square of
    side 1 about its centre) meets the convex quadrilateral unless one of its sides
    separates them (the box test covers the square's own sides): for each side, with
    ``n . p <= c`` inside, the square's nearest corner ``n . q - (|n_y| + |n_x|) / 2``
    lies below ``c``. Solved row by row for the columns (bool arrays only, cheap).
    """
    edges = np.roll(corners, -1, axis=0) - corners
    if np.all(np.min(np.abs(edges), axis=1) <= 1e-9 * np.max(np.abs(edges))):
        return None
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)  # (down, across), one side out
    centre = corners.mean(0)
    normals *= np.where(normals @ centre <= np.sum(normals * corners, axis=1), 1, -1)[:, None]
    bound = np.sum(normals * corners, axis=1) + np.abs(normals).sum(1) / 2  # n.q < bound
    ys = np.arange(first[0], end[0], dtype=float)
    lo = np.full(ys.shape, -np.inf)
    hi = np.full(ys.shape, np.inf)
    rows_ok = np.ones(ys.shape, bool)
    for (ny, nx), b in zip(normals, bound, strict=True):
        rest = b - ny * ys  # nx * x < rest
        if abs(nx) <= 1e-12:
            rows_ok &= rest > 0
        elif nx > 0:
            hi = np.minimum(hi, rest / nx)
        else:
            lo = np.maximum(lo, rest / nx)
    xs = np.arange(first[1], end[1], dtype=float)
    return rows_ok[:, None] & (xs > lo[:, None]) & (xs < hi[:, None])
