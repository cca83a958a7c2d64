"""The sparse contingency table every metric is computed from, and input checks.

One pass over the pixels with :func:`numpy.bincount` counts the (ground-truth id,
predicted id) pairs, so images with thousands of cells cost about as much as a few array
passes. Label ids need not be consecutive.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def check_thresholds(thresholds: Iterable[float]) -> tuple[float, ...]:
    """Return the IoU thresholds as a tuple; each must lie in [0, 1)."""
    ts = tuple(float(t) for t in thresholds)
    if not ts or any(not 0.0 <= t < 1.0 for t in ts):
        raise InputError(f"IoU thresholds must be in [0, 1) and not empty; got {ts}")
    return ts


def _relabel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map ids to 1..n (0 stays 0); return labels, original ids and areas."""
    x = x.reshape(-1)
    top = int(x.max())
    if top <= max(1 << 22, 4 * x.size):  # a lookup table is cheaper than sorting
        counts = np.bincount(x.astype(np.intp, copy=False), minlength=top + 1)
        ids = np.flatnonzero(counts[1:]) + 1
        lut = np.zeros(top + 1, dtype=np.intp)
        lut[ids] = np.arange(1, ids.size + 1)
        return lut[x], ids, counts[ids]
    uniq, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    if uniq[0] == 0:
        return inv.reshape(-1), uniq[1:], counts[1:]
    return inv.reshape(-1) + 1, uniq, counts


def contingency(gt: np.ndarray, pred: np.ndarray) -> Contingency:
    """Count the pixels shared by each (ground truth, prediction) pair of checked labels."""
    g, gt_ids, gt_area = _relabel(gt)
    p, pred_ids, pred_area = _relabel(pred)
    both = (g > 0) & (p > 0)
    ncols = pred_ids.size + 1
    codes = g[both] * ncols + p[both]
    if (gt_ids.size + 1) * ncols <= 2 * codes.size + 1024:
        # A dense count is fastest while the table is no bigger than the pixel list.
        counts = np.bincount(codes, minlength=(gt_ids.size + 1) * ncols)
        codes = np.flatnonzero(counts)
        counts = counts[codes]
    else:  # many objects: sorting the overlapping pixels' codes is cheaper and small
        codes, counts = np.unique(codes, return_counts=True)
    pair_gt, pair_pred = np.divmod(codes, ncols)
    return Contingency(
        gt_ids, pred_ids, gt_area, pred_area, pair_gt - 1, pair_pred - 1, counts, g.size
    )


def ratio(num: float, den: float, both_empty: bool) -> float:
    """num/den, or 1 where both images are empty (perfect agreement), else 0."""
    if den > 0:
        return float(num / den)
    return 1.0 if both_empty else 0.0
