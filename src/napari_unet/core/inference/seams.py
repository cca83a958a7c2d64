"""Fast kernels of the post-processing: seams between instances, growth over them, ids.

:func:`~napari_unet.core.inference.postprocess.close_gaps` used to grow every instance with
scikit-image's ``expand_labels`` (a Euclidean feature transform of the whole image) and find
the seams with grey max/min filters, then keep the grown pixels on the seams only. The seams
are a small share of the image, so here the seams are found with shifted slices on a small
integer type and the nearest instance is looked up only on them, by walking the offsets of
the disc of radius ``gap`` nearest first. The results are the same pixel for pixel: where two
instances are equally near, scipy's feature transform (and so ``expand_labels``) picks the one
with the smaller column offset, then the smaller row offset, and the walk uses that order
(``tests/core/test_postprocess.py`` compares both on tie-heavy images). The growth itself
(:func:`grow_connected`) then fills those pixels ring by ring from each instance, so a pixel
whose in-between pixels are not seam pixels is left out rather than cut off from its cell.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "disc_offsets",
    "grow_connected",
    "grow_onto",
    "near_two",
    "sequential",
    "window_extreme",
]


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
    ys, xs = np.divmod(np.flatnonzero(where), labels.shape[1])  # np.nonzero's order, faster
    return _nearest(labels, ys, xs, distance)


def _nearest(labels: np.ndarray, ys: np.ndarray, xs: np.ndarray, distance: float) -> np.ndarray:
    """:func:`grow_onto` of the pixels ``(ys, xs)``."""
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


def grow_connected(labels: np.ndarray, where: np.ndarray, distance: float) -> np.ndarray:
    """A copy of ``labels`` with the pixels of ``where`` grown onto, each joined to its cell.

    Each pixel of ``where`` may take the id :func:`grow_onto` gives it, but only when it
    touches (8 neighbours) a pixel of that id, in ``ceil(distance)`` rounds, each round
    reaching from the pixels filled in the rounds before: so every filled pixel joins its
    instance's body through filled pixels of the same id, at most ``distance`` steps out
    (which also keeps what decides a pixel within ``2 distance + 1`` px of it). Writing the
    ids in one jump left about a third of the cells of a real prediction with stray pixels
    cut off from the cell (not even diagonal neighbours), where the pixels in between had no
    second instance near them. Pixels not reached stay 0.
    """
    out = np.array(labels, copy=True, order="C")
    height, width = out.shape
    at = np.flatnonzero(where)
    ys, xs = np.divmod(at, width)
    values = _nearest(out, ys, xs, distance)
    keep = values > 0
    at, ys, xs, values = at[keep], ys[keep], xs[keep], values[keep]
    flat = out.reshape(-1)  # a view of ``out``: filling it fills ``out``
    # Clipping at the border lands on the pixel itself (still 0) or on another true
    # neighbour, so no padding is needed; the neighbours are found once.
    ring = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    around = np.stack(
        [np.clip(ys + dy, 0, height - 1) * width + np.clip(xs + dx, 0, width - 1)
         for dy, dx in ring], axis=1,
    )  # fmt: skip
    for _ in range(int(np.ceil(distance))):
        if not len(at):
            break
        touch = (flat[around] == values[:, None]).any(axis=1)
        if not touch.any():
            break
        flat[at[touch]] = values[touch]  # after the test: one ring a round
        at, around, values = at[~touch], around[~touch], values[~touch]
    return out


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
