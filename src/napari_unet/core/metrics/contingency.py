"""The sparse contingency table every metric is computed from, and input checks.

One pass over the pixels counts the (ground-truth id, predicted id) pairs: with
:func:`numpy.bincount` while the table is small, else by sorting the runs of equal pairs
along the rows. Images with thousands of cells cost about as much as a few array passes;
large images are counted a chunk of pixels at a time, reporting progress. Label ids need
not be consecutive.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import check_labels


@dataclass(frozen=True)
class Contingency:
    """The sparse contingency of two label images (ids relabelled to 1..n)."""

    gt_ids: np.ndarray  # original id of each relabelled gt object (index i -> gt_ids[i-1])
    pred_ids: np.ndarray
    gt_area: np.ndarray  # pixels per gt object, indexed 0..n_gt-1
    pred_area: np.ndarray
    pair_gt: np.ndarray  # 0-based gt index of each overlapping pair
    pair_pred: np.ndarray
    pair_count: np.ndarray  # pixels in common
    n_pixels: int

    @property
    def pair_iou(self) -> np.ndarray:
        """Intersection over union of each overlapping pair."""
        union = self.gt_area[self.pair_gt] + self.pred_area[self.pair_pred] - self.pair_count
        return self.pair_count / union


def check_pair(gt: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check a ground truth and a prediction as label images of equal shapes.

    Lazy (dask) arrays are read: every pixel is compared anyway (they failed before).
    Colour images (:func:`~napari_unet.core.images.labels.looks_like_colour`) are refused
    by :func:`~napari_unet.core.images.labels.check_labels`: their channels, scored as three
    planes of a volume, gave numbers without meaning.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    gt = check_labels(gt, "the ground truth", ndim=None, allow_bool=True)
    pred = check_labels(pred, "the prediction", ndim=None, allow_bool=True)
    if gt.shape != pred.shape:
        raise InputError(
            f"the prediction has shape {pred.shape} but the ground truth has shape "
            f"{gt.shape}; expected label images of the same shape"
        )
    return gt, pred


def warn_if_masks(gt: np.ndarray, pred: np.ndarray, stacklevel: int = 3, name: str = "") -> None:
    """Warn, once, when the ground truth or the prediction looks like a binary mask.

    One id over several separate pieces (a boolean or 0/255 mask;
    :func:`~napari_unet.core.images.labels.mask_pieces`): instance scores count it as one
    object (AP50 0 for a ground truth of 75 nuclei, with nothing said). Pixel scores
    (IoU, Dice) of a mask mean what they say, so it is scored, not refused.
    """
    from napari_unet.core.images.labels import mask_pieces

    found = [
        f"{what} looks like a binary mask (its one id {m[0]} covers {m[1]} separate pieces)"
        for what, labels in (("the ground truth", gt), ("the prediction", pred))
        if (m := mask_pieces(labels)) is not None
    ]
    if found:
        import warnings

        warnings.warn(
            f"{f'{name}: ' if name else ''}{'; '.join(found)}: instance scores (AP, "
            "matches, PQ) count it as one object; "
            "label it first (scipy.ndimage.label) for per-cell scores. Pixel scores (IoU, "
            "Dice) are unaffected",
            UserWarning,
            stacklevel=stacklevel,
        )


def check_thresholds(thresholds: Iterable[float] | float) -> tuple[float, ...]:
    """Return the IoU thresholds as a tuple; each must lie in [0, 1).

    A single number is one threshold (``0.5`` is ``(0.5,)``; before, it raised a bare
    TypeError); anything but numbers is an InputError.
    """
    import numbers

    def number(t) -> bool:
        return isinstance(t, numbers.Real) and not isinstance(t, bool)

    if number(thresholds):
        thresholds = (thresholds,)
    try:
        given = None if isinstance(thresholds, str | bytes) else tuple(thresholds)
    except TypeError:  # not iterable (None, an object)
        given = None
    if given is None or not all(number(t) for t in given):
        raise InputError(
            f"IoU thresholds must be a number or a list of numbers in [0, 1); got {thresholds!r}"
        )
    ts = tuple(float(t) for t in given)
    if not ts or any(not 0.0 <= t < 1.0 for t in ts):
        raise InputError(f"IoU thresholds must be in [0, 1) and not empty; got {ts}")
    return ts


#: Pixels counted at a time: a large image reports progress (and can be cancelled) after each.
CHUNK = 1 << 22
#: Tables of up to this many (ground truth, prediction) cells are counted densely.
DENSE_TABLE = 1 << 22


def _ids(x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """The ids present (0 left out), their areas, and a lookup table to 1..n (or None)."""
    top = int(x.max())
    if top <= max(1 << 22, 4 * x.size):  # a lookup table is cheaper than sorting
        counts = np.bincount(x.astype(np.intp, copy=False), minlength=top + 1)
        ids = np.flatnonzero(counts[1:]) + 1
        lut = np.zeros(top + 1, dtype=np.intp)
        lut[ids] = np.arange(1, ids.size + 1)
        return lut, ids, counts[ids]
    uniq, counts = np.unique(x, return_counts=True)
    if uniq[0] == 0:
        return None, uniq[1:], counts[1:]
    return None, uniq, counts


def _relabel(part: np.ndarray, lut: np.ndarray | None, ids: np.ndarray) -> np.ndarray:
    """Ids of ``part`` as 1..n (0 stays 0): by the lookup table, else by the sorted ids."""
    if lut is not None:
        return lut[part]
    return np.searchsorted(ids, part, side="right")  # id ids[k] -> k + 1, and 0 -> 0


def _runs(codes: np.ndarray, ncols: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pair codes of overlapping pixels and their counts, from runs of equal codes.

    Cells are many pixels wide, so a row holds long runs of one (gt, prediction) pair:
    sorting the runs instead of the pixels made a crowded 8192 x 8192 pair 4 times faster.
    """
    starts = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate(([0], starts))
    lengths = np.diff(np.append(starts, codes.size))
    run = codes[starts]
    keep = (run >= ncols) & (run % ncols != 0)  # both a gt and a predicted object
    return _merge(run[keep], lengths[keep])


def _merge(codes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the counts of equal codes; the codes come back sorted."""
    uniq, inv = np.unique(codes, return_inverse=True)
    return uniq, np.bincount(inv.reshape(-1), weights=counts, minlength=uniq.size).astype(np.int64)


def iter_contingency(gt: np.ndarray, pred: np.ndarray) -> Generator[float, None, Contingency]:
    """:func:`contingency`, yielding the fraction done (below 0.9) as it goes.

    An image of more than :data:`CHUNK` pixels is counted a chunk at a time, with a yield
    after each (and after each image's ids are found); a smaller one yields nothing.
    """
    x, y = gt.reshape(-1), pred.reshape(-1)
    steps = x.size > CHUNK
    glut, gt_ids, gt_area = _ids(x)
    if steps:
        yield 0.1
    plut, pred_ids, pred_area = _ids(y)
    if steps:
        yield 0.2
    ncols = pred_ids.size + 1
    size = (gt_ids.size + 1) * ncols
    dense = np.zeros(size, dtype=np.int64) if size <= DENSE_TABLE else None
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, x.size, CHUNK):
        stop = min(start + CHUNK, x.size)
        codes = _relabel(x[start:stop], glut, gt_ids) * ncols
        codes += _relabel(y[start:stop], plut, pred_ids)
        if dense is not None:
            dense += np.bincount(codes, minlength=size)
        else:
            parts.append(_runs(codes, ncols))
        if steps:
            yield 0.2 + 0.7 * stop / x.size
    if dense is not None:
        codes = np.flatnonzero(dense)
        counts = dense[codes]
    else:
        codes, counts = _merge(*(np.concatenate(c) for c in zip(*parts, strict=True)))
    pair_gt, pair_pred = np.divmod(codes, ncols)
    both = (pair_gt > 0) & (pair_pred > 0)
    return Contingency(
        gt_ids, pred_ids, gt_area, pred_area, pair_gt[both] - 1, pair_pred[both] - 1,
        counts[both], int(x.size),
    )  # fmt: skip


def contingency(gt: np.ndarray, pred: np.ndarray) -> Contingency:
    """Count the pixels shared by each (ground truth, prediction) pair of checked labels."""
    from napari_unet.core.progress import drain

    return drain(iter_contingency(gt, pred))


def ratio(num: float, den: float, both_empty: bool) -> float:
    """num/den, or 1 where both images are empty (perfect agreement), else 0."""
    if den > 0:
        return float(num / den)
    return 1.0 if both_empty else 0.0
