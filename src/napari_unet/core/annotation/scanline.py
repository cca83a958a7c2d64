"""Polygon rasterisation by scanlines: the pixels ``skimage.draw.polygon`` returns, faster.

Why hand-written: ``skimage.draw.polygon`` tests every pixel of the polygon's bounding box
against every edge (O(area x edges)) in a loop that holds Python's GIL: 1.8 s for a
4-vertex polygon on a 4096 x 4096 image, 6.4 s for 64 vertices, and napari froze for all of
it even when a dock ran it in a worker thread. Here each pixel row meets the edges once
(rows x edges, vectorised), and the runs between crossings are filled by an exclusive-or
accumulation along the rows (O(area)): numpy operations that release the GIL.

The result equals skimage's, boundary pixels included. skimage's test
(``skimage/_shared/geometry.pxd``, ``point_in_polygon``) takes a pixel centre (row ``r``,
column ``c``) when a vertex lies within 1e-12 of it, or when either of two crossing counts
is odd: ``right``, the edges (y0 > 0) != (y1 > 0) whose crossing
``(x0 * y1 - x1 * y0) / (y1 - y0)`` is > 0, and ``left``, the edges (y0 < 0) != (y1 < 0)
whose crossing is < 0 (x, y: vertex minus pixel centre; an odd ``left`` with an even
``right`` is a pixel on an edge). For one edge on one row that crossing is positive left of
the true intersection and negative right of it; only at the column nearest the
intersection can rounding decide, so the same expression is evaluated there, in the same
order, and the edge's run ends one column further or not.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError

#: skimage's tolerance for a pixel centre on a vertex.
VERTEX_EPS = 1e-12
#: Upper bound on the elements of one block of rows (rows x edges, rows x columns).
_BLOCK_ELEMENTS = 1 << 22


def polygon_block(rows, cols, shape) -> tuple[slice, slice, np.ndarray]:
    """The pixels inside a polygon, as ``skimage.draw.polygon(rows, cols, shape)`` gives them.

    Parameters
    ----------
    rows, cols : array_like
        The vertices' row and column coordinates (at least one vertex).
    shape : tuple of int
        The image's (height, width); pixels outside it are left out.

    Returns
    -------
    tuple
        ``(row_slice, col_slice, inside)``: ``inside`` is a bool array of the slices' extent
        (possibly empty), True on the polygon's pixels.

    Raises
    ------
    InputError
        A vertex coordinate that is NaN or infinite.
    """
    y = np.ascontiguousarray(rows, dtype=np.float64).ravel()
    x = np.ascontiguousarray(cols, dtype=np.float64).ravel()
    if not (np.isfinite(y).all() and np.isfinite(x).all()):  # before: int(nan), a ValueError
        raise InputError("a shape's vertices must be finite numbers; got NaN or infinity")
    # skimage's bounding box, clipped to the image.
    r0, r1 = int(max(0, y.min())), min(int(shape[0]) - 1, int(np.ceil(y.max())))
    c0, c1 = int(max(0, x.min())), min(int(shape[1]) - 1, int(np.ceil(x.max())))
    n_rows, n_cols = max(r1 - r0 + 1, 0), max(c1 - c0 + 1, 0)
    inside = np.zeros((n_rows, n_cols), dtype=bool)
    if n_rows and n_cols:
        step = max(1, _BLOCK_ELEMENTS // max(len(y), n_cols + 1))
        for start in range(0, n_rows, step):
            stop = min(start + step, n_rows)
            inside[start:stop] = _rows_inside(y, x, r0 + start, r0 + stop, c0, n_cols)
        _mark_vertices(inside, y, x, r0, c0)
    return slice(r0, r0 + n_rows), slice(c0, c0 + n_cols), inside


def _rows_inside(y, x, first: int, stop: int, c0: int, n_cols: int) -> np.ndarray:
    """Rows ``first .. stop - 1`` (columns ``c0 ..``) by the crossing counts, no vertices."""
    # Edge i runs from vertex i - 1 (x1, y1) to vertex i (x0, y0), as in skimage's loop.
    x0, y0 = x, y
    x1, y1 = np.roll(x, 1), np.roll(y, 1)
    r = np.arange(first, stop, dtype=np.float64)[:, None]
    right = (y0 > r) != (y1 > r)  # rows x edges; the signs of y - r are exact
    left = (y0 < r) != (y1 < r)
    toggles = np.zeros((stop - first, n_cols + 1), dtype=np.uint8)
    for crossed, bit in ((right, 1), (left, 2)):
        row, edge = np.nonzero(crossed)
        xa, xb = x0[edge], x1[edge]
        ya, yb = y0[edge] - (row + first), y1[edge] - (row + first)
        # The column nearest the intersection: there only, the rounding of skimage's
        # crossing expression decides on which side the pixel is.
        near = np.rint(xa + (xb - xa) * (ya / (ya - yb)))
        near = np.clip(near, c0 - 1, c0 + n_cols)  # farther off, only the side counts
        xa, xb = xa - near, xb - near
        value = (xa * yb - xb * ya) / (yb - ya)
        if bit == 1:  # counts for columns < end: on from the row's start, off at end
            end = near + (value > 0)
            np.bitwise_xor.at(toggles, (row, 0), bit)
        else:  # counts for columns >= end
            end = near + (value >= 0)
        end = np.clip(end - c0, 0, n_cols).astype(np.intp)
        np.bitwise_xor.at(toggles, (row, end), bit)
    parity = np.bitwise_xor.accumulate(toggles[:, :n_cols], axis=1)
    return parity != 0


def _mark_vertices(inside: np.ndarray, y, x, r0: int, c0: int) -> None:
    """Mark the pixel centres within skimage's tolerance of a vertex."""
    ry, rx = np.rint(y), np.rint(x)
    dy, dx = y - ry, x - rx
    on = (-VERTEX_EPS < dy) & (dy < VERTEX_EPS) & (-VERTEX_EPS < dx) & (dx < VERTEX_EPS)
    rr, cc = ry[on].astype(np.intp) - r0, rx[on].astype(np.intp) - c0
    keep = (rr >= 0) & (rr < inside.shape[0]) & (cc >= 0) & (cc < inside.shape[1])
    inside[rr[keep], cc[keep]] = True
