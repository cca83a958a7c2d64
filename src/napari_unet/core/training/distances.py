"""Kernels of the targets and weight maps: touching-cell pixels and border distances.

Kept apart from the public API so each module stays small. Everything here takes 2D numpy
instance labels that were already checked.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from napari_unet.core.device import cpu_workers, thread_map
from napari_unet.core.training import compiled

# A dropped border term t is invisible in float32 when t < w * 2**-25: adding it to w changes w
# by less than half a unit in the last place, so the rounded float32 result is unchanged (an error
# of at most 2**-24 ~ 6e-8 relative, far below the 1e-5 the tests require). Where the weight w_c
# is 0, t must round to 0 itself: below 2**-150 it does (the smallest float32 is 2**-149).
RELATIVE_NEGLIGIBLE = 2.0**-25
ABSOLUTE_NEGLIGIBLE = 2.0**-150


def near_other_cell(labels: np.ndarray, radius: int, higher_only: bool = False) -> np.ndarray:
    """Cell pixels with a pixel of another cell within ``radius`` (chessboard distance).

    With ``higher_only``, only the pixels of the cell with the higher id of each touching pair
    are marked. Written with shifted slices rather than grey max/min filters: for the small
    radii of a separation gap (1-2) this touches each pixel a few times and is about twice as
    fast, and it needs no sentinel value for the background.
    """
    height, width = labels.shape
    cells = labels > 0
    out = np.zeros(labels.shape, bool)
    ry, rx = min(radius, height - 1), min(radius, width - 1)  # no pair lies further apart
    for dy in range(ry + 1):
        for dx in range(-rx, rx + 1):
            if dy == 0 and dx <= 0:
                continue  # each unordered pair of offsets once
            first = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
            second = (slice(dy, height), slice(max(0, dx), width - max(0, -dx)))
            a, b = labels[first], labels[second]
            differ = a != b
            differ &= cells[first]
            differ &= cells[second]
            if higher_only:
                out[first] |= differ & (a > b)
                out[second] |= differ & (b > a)
            else:
                out[first] |= differ
                out[second] |= differ
    return out


def gap_pixels(labels: np.ndarray, gap: int) -> np.ndarray:
    """Cell pixels that become background to leave a ``gap``-pixel gap between touching cells.

    Both cells of a touching pair give up the pixels within ``gap // 2`` of the other; for an
    odd gap the cell with the higher id gives up one more pixel.
    """
    half = gap // 2
    remove = near_other_cell(labels, half) if half else np.zeros(labels.shape, bool)
    if gap % 2:
        remove |= near_other_cell(labels, half + 1, higher_only=True)
    return remove


def contour_pixels(labels: np.ndarray) -> np.ndarray:
    """Cell pixels with an 8-neighbour of another id (background included)."""
    height, width = labels.shape
    cells = labels > 0
    out = np.zeros(labels.shape, bool)
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        first = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
        second = (slice(dy, height), slice(max(0, dx), width - max(0, -dx)))
        differ = labels[first] != labels[second]
        out[first] |= differ
        out[second] |= differ
    return out & cells


def border_cutoff(w0: float, sigma: float, smallest_weight: float) -> float:
    """The sum ``d1 + d2`` beyond which the border term cannot change a float32 weight.

    For ``s`` above the returned value, ``w0 * exp(-s**2 / (2 sigma**2))`` is below
    ``smallest_weight * 2**-25`` (or below ``2**-150`` where that weight is 0), so adding it
    leaves the float32 weight as it was, up to rounding. Returns 0 when the term never matters.
    """
    threshold = smallest_weight * RELATIVE_NEGLIGIBLE
    threshold = threshold if threshold > 0 else ABSOLUTE_NEGLIGIBLE
    if w0 <= threshold:
        return 0.0
    return float(sigma * math.sqrt(2.0 * math.log(w0 / threshold)))


def border_distances(
    labels: np.ndarray, max_distance: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Distances to the nearest and second-nearest distinct cell, exact up to a cut-off.

    Parameters
    ----------
    labels : numpy.ndarray
        2D non-negative integer instance labels (0 background; ids need not be consecutive).
    max_distance : float
        Distances up to this value are exact; larger ones are returned as ``inf``.

    Returns
    -------
    d1, d2 : numpy.ndarray
        float32 arrays of the labels' shape: the Euclidean distance from each pixel (centre to
        centre) to the nearest pixel of its nearest cell (0 inside a cell) and of the
        second-nearest other cell.

    Notes
    -----
    A pixel within ``r = max_distance`` of cell ``k`` lies, coordinate by coordinate, within
    ``r`` of the cell's bounding box. So one distance transform of "not cell ``k``" on the
    bounding box widened by ``floor(r)`` gives ``d_k`` exactly on every pixel where it can be
    ``<= r``: the window holds all of the cell, so the transform inside it equals the
    full-image one. The two smallest values per pixel over all windows are then exact wherever
    they are ``<= r``. The cost is the sum of the window areas, which grows with the image
    area (about 3x it for 1,500 cells in 2048x2048 and r = 31), not with pixels x cells.
    scipy's distance transform does the work; small windows are cache-friendly.
    """
    # Squared distances are integers: the top two are kept exactly in int32 and the square root
    # is taken once at the end, in place.
    labels, top = _compact(labels) if max_distance > 0 else (labels, 0)
    height, width = labels.shape
    reach = math.floor(min(max_distance, height + width)) if top else 0
    # No distance in the image exceeds height + width: a cut-off beyond it takes that, so
    # the compiled kernels' "no cell" value (2 reach^2 + 1) is never read as a distance.
    # (An infinite max_distance raised an OverflowError in floor().)
    limit = float(reach * reach)
    if top and _compiled_path(labels.size, reach, top):
        sq1, sq2 = compiled.squared_border_distances(labels, reach)
        return _root(sq1, limit), _root(sq2, limit)
    # Squares of offsets up to 32767 px fit int32; a longer reach (sigma in the thousands on
    # an image wider than 32768 px) keeps them in int64.
    wide = reach > _INT32_OFFSET
    dtype = np.int64 if wide else np.int32
    sq1 = np.full(labels.shape, np.iinfo(dtype).max, dtype)
    sq2 = np.full(labels.shape, np.iinfo(dtype).max, dtype)
    windows = []
    for k, box in enumerate(ndimage.find_objects(labels) if top else [], start=1):
        if box is not None:
            ys, xs = box
            y0, x0 = max(ys.start - reach, 0), max(xs.start - reach, 0)
            windows.append((k, y0, min(ys.stop + reach, height), x0, min(xs.stop + reach, width)))
    # Threads take bands of rows and keep the two smallest values of their own rows only, so
    # no two write the same pixel; a window across a band edge is transformed by both.
    workers = min(cpu_workers(), max(1, len(windows) // 64))
    edges = np.linspace(0, height, workers + 1).round().astype(int)

    def band(top_row: int, bottom_row: int) -> None:
        for k, y0, y1, x0, x1 in windows:
            if y1 <= top_row or y0 >= bottom_row:
                continue
            sqk = _squared_distances(labels[y0:y1, x0:x1] != k, wide)
            a, b = max(y0, top_row), min(y1, bottom_row)
            sqk = sqk[a - y0 : b - y0]
            near, second = sq1[a:b, x0:x1], sq2[a:b, x0:x1]  # views: updated in place
            np.minimum(second, np.maximum(near, sqk), out=second)
            np.minimum(near, sqk, out=near)

    thread_map(band, zip(edges[:-1], edges[1:], strict=True), workers)
    return _root(sq1, limit), _root(sq2, limit)


_FAR = np.iinfo(np.int32).max
_INT32_OFFSET = 32767  # 2 * 32767^2 < 2^31: the squares of offsets up to it fit int32


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """The labels, with huge sparse ids renumbered 1..n, and the largest id.

    ``find_objects`` lists every id up to the largest, and keys hold the id in their low bits.
    """
    top = int(labels.max()) if labels.size else 0
    if top > max(labels.size // 4, 65536):
        cells = labels > 0
        ids = np.unique(labels[cells])
        compact = np.zeros(labels.shape, np.int32)
        compact[cells] = np.searchsorted(ids, labels[cells]) + 1
        return compact, len(ids)
    return labels, top


def _compiled_path(pixels: int, reach: int, top: int) -> bool:
    """Whether numba's kernels take this image (wanted, fitting, and compiled here)."""
    return compiled.wanted(pixels) and compiled.fits(reach, top) and compiled.ready()


def add_border_term(weights, labels, outside, target, class_weights, w0, sigma, cut) -> None:
    """Add the paper's border term to ``weights`` in place, where it can change them.

    ``weights`` (float32) become ``class_weights[target] + w0 exp(-(d1 + d2)^2 / (2 sigma^2))``
    on the ``outside`` pixels with ``d1 + d2 <= cut`` (the distances to the cells of
    ``labels``), in one float32 rounding; elsewhere they are left as they are. numba's compiled
    transform does it on images of a megapixel or more where it is installed
    (:func:`napari_unet.core.training.compiled.wanted`), otherwise :func:`border_distances`.
    """
    labels, top = _compact(labels)
    if top == 0 or cut < 1:  # no cell, or no pixel outside a cell is close enough
        return
    if _compiled_path(labels.size, int(math.floor(cut)), top):
        compiled.add_border_term(weights, labels, outside, target, class_weights, w0, sigma, cut)
        return
    d1, d2 = border_distances(labels, cut)
    # Bands of rows keep the float64 temporaries small.
    step = max(1, 2**16 // labels.shape[1])
    for y in range(0, labels.shape[0], step):
        rows = slice(y, y + step)
        sel = outside[rows] & np.isfinite(d2[rows])
        s = d1[rows][sel].astype(np.float64) + d2[rows][sel]
        term = w0 * np.exp(-(s * s) / (2.0 * sigma * sigma))
        weights[rows][sel] = class_weights[target[rows][sel]] + term  # one float32 rounding


def _squared_distances(background: np.ndarray, wide: bool = False) -> np.ndarray:
    """Squared distance from each pixel to the nearest ``False`` pixel (int32, or int64 if wide).

    scipy's feature transform finds the nearest pixel; the squared distance is then formed in
    integers, which is exact and lighter than scipy's float64 distance output. A window wider
    than 32768 px squares in int64; then, unless ``wide``, values past int32 become its
    largest ("no cell": the caller's reach is at most 32767 px). Offsets were clipped to
    32767 px before, which shortened longer distances (a weight 27% off at sigma = 3e4).
    """
    height, width = background.shape
    nearest = np.empty((2,) + background.shape, np.int32)
    ndimage.distance_transform_edt(
        background, return_distances=False, return_indices=True, indices=nearest
    )
    dy = nearest[0]
    dy -= np.arange(height, dtype=np.int32)[:, None]
    dx = nearest[1]
    dx -= np.arange(width, dtype=np.int32)[None, :]
    if max(height, width) > _INT32_OFFSET + 1:
        sq = dy.astype(np.int64)
        sq *= sq
        dx = dx.astype(np.int64)
        dx *= dx
        sq += dx
        return sq if wide else np.minimum(sq, _FAR).astype(np.int32)
    dy *= dy
    dx *= dx
    dy += dx
    return dy


def _root(squared: np.ndarray, limit: float) -> np.ndarray:
    """Square roots as float32 (in an int32 array's own memory); ``inf`` above ``limit``."""
    if squared.dtype == np.int32:
        out = squared.view(np.float32)
    else:
        out = np.empty(squared.shape, np.float32)
    step = max(1, 2**16 // max(1, squared.shape[1]))
    for y in range(0, squared.shape[0], step):
        rows = slice(y, y + step)
        band = squared[rows]
        far = band > limit
        root = np.sqrt(band.astype(np.float32))
        root[far] = np.inf
        out[rows] = root  # the band was read in full above: safe to overwrite
    return out
