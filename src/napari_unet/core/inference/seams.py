"""Fast kernels of the post-processing: seams between instances, growth over them, ids.

:func:`~napari_unet.core.inference.postprocess.close_gaps` used to grow every instance with
scikit-image's ``expand_labels`` (a Euclidean feature transform of the whole image) and find
the seams with grey max/min filters, then keep the grown pixels on the seams only. The seams
are a small share of the image, so here the seams are found with shifted slices on a small
integer type and the nearest instance is looked up only on them, by walking the offsets of
the disc of radius ``gap`` nearest first. The results are the same pixel for pixel: where two
instances are equally near, scipy's feature transform (and so ``expand_labels``) picks the one
with the smaller column offset, then the smaller row offset, and the walk uses that order
(``tests/core/test_postprocess.py`` compares both on tie-heavy images).
"""

from __future__ import annotations

import numpy as np

__all__ = ["disc_offsets", "grow_onto", "near_two", "sequential", "window_extreme"]


def _small(labels: np.ndarray) -> np.ndarray:
    """The labels in the smallest unsigned type that holds them and a spare top value."""
    top = int(labels.max()) if labels.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top < np.iinfo(dtype).max:
            return labels.astype(dtype, copy=False)
    return labels.astype(np.uint64, copy=False)


def window_extreme(values: np.ndarray, radius: int, pick) -> np.ndarray:
    """``pick`` (``np.maximum`` or ``np.minimum``) over the square window of ``radius``.

    The window is clipped at the image border, which is what scipy's ``maximum_filter`` and
    ``minimum_filter`` give in their default ``reflect`` mode. Separable, with shifted slices:
    ``2 radius`` passes per axis, each a plain ufunc over the array.
    """
    out = values
    for axis in (0, 1):
        res = out.copy()
        n = out.shape[axis]
        for s in range(1, min(radius, n - 1) + 1):
            lo = (slice(None),) * axis + (slice(None, n - s),)
            hi = (slice(None),) * axis + (slice(s, None),)
            pick(res[hi], out[lo], out=res[hi])
            pick(res[lo], out[hi], out=res[lo])
        out = res
    return out


def near_two(labels: np.ndarray, distance: int) -> np.ndarray:
    """Pixels with two different instances within ``distance`` (chessboard).

    Exactly the grey max/min filter test ``max != min over nonzero`` of the window.
    """
    small = _small(labels)
    spare = np.iinfo(small.dtype).max
    highest = window_extreme(small, distance, np.maximum)
    lowest = window_extreme(
        np.where(small > 0, small, spare).astype(small.dtype), distance, np.minimum
    )
    return (lowest != spare) & (highest != lowest)


def disc_offsets(radius: int) -> np.ndarray:
    """``(K, 2)`` offsets ``(dy, dx)`` with ``0 < dy^2 + dx^2 <= radius^2``, nearest first.

    Equal distances come in the order a feature transform breaks ties: ``dx``, then ``dy``.
    """
    r = int(radius)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    d2 = dy * dy + dx * dx
    keep = (d2 > 0) & (d2 <= radius * radius)
    order = np.lexsort((dy[keep], dx[keep], d2[keep]))
    return np.stack([dy[keep][order], dx[keep][order]], axis=1)


def grow_onto(labels: np.ndarray, where: np.ndarray, distance: float) -> np.ndarray:
    """The label ``expand_labels(labels, distance)`` gives each pixel of ``where``.

    ``where`` is a boolean mask (background pixels); returns the int labels of those pixels in
    ``np.nonzero`` order, 0 where no instance lies within ``distance`` (Euclidean).
    """
    ys, xs = np.nonzero(where)
    found = np.zeros(len(ys), labels.dtype)
    height, width = labels.shape
    open_ = np.arange(len(ys))
    reach = min(distance, np.ceil(np.hypot(height, width)))  # a wider disc adds nothing
    for dy, dx in disc_offsets(reach):
        if not len(open_):
            break
        yy, xx = ys[open_] + dy, xs[open_] + dx
        inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
        hit = np.zeros(len(open_), bool)
        values = labels[yy[inside], xx[inside]]
        hit[inside] = values > 0
        found[open_[hit]] = values[values > 0]
        open_ = open_[~hit]
    return found


def sequential(labels: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """int32 labels with ids ``1..N`` in the order of the old ids (``relabel_sequential``).

    ``present`` (bool per old id, optional) saves the count when the caller knows it.
    """
    labels = np.asarray(labels)
    top = int(labels.max()) if labels.size else 0
    if present is None and top > max(labels.size, 2**16):  # huge sparse ids: no id table
        ids = np.unique(labels)
        ids = ids[ids > 0]
        return np.where(labels > 0, np.searchsorted(ids, labels) + 1, 0).astype(np.int32)
    if present is None:
        present = np.bincount(labels.ravel()) > 0 if labels.size else np.zeros(1, bool)
    present = present.copy()
    present[0] = False
    n = int(present.sum())
    if n == len(present) - 1:  # already 1..N
        return labels.astype(np.int32, copy=False)
    lut = np.zeros(len(present), np.int32)
    lut[present] = np.arange(1, n + 1, dtype=np.int32)
    return lut[labels]
