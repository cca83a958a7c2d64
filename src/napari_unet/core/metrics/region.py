"""Score only where annotation is complete: restrict both label images to an annotated region.

With partial annotation the ground truth is complete inside the annotated region only; a
predicted cell outside it is not a false positive, it is simply unannotated. The rule here
(the usual one for partly annotated data): an object, predicted or true, is scored when at
least half of its pixels lie inside the region, and then with all of its pixels (so a cell
cut by the region's border keeps its true IoU); every other object is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.metrics.contingency import check_pair


def _inside(labels: np.ndarray, region: np.ndarray, min_fraction: float) -> np.ndarray:
    """``labels`` without the objects that have under ``min_fraction`` of pixels in ``region``."""
    # Dense indices first: label ids may be large and sparse (uint32 ids from other tools).
    ids, index = np.unique(labels.ravel(), return_inverse=True)
    total = np.bincount(index, minlength=ids.size)
    inside = np.bincount(index[region.ravel()], minlength=ids.size)
    keep = (inside >= min_fraction * total) & (ids != 0)
    return np.where(keep[index].reshape(labels.shape), labels, 0).astype(labels.dtype, copy=False)


def restrict_to_region(
    gt: Any, pred: Any, region: Any, min_fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and prediction reduced to the objects that lie in the annotated region.

    Parameters
    ----------
    gt, pred : array-like
        Instance label images of the same shape (0 background).
    region : array-like of bool
        The annotated region, same shape (True = annotation complete there).
    min_fraction : float
        Fraction of an object's pixels that must lie inside the region for it to be scored.

    Returns
    -------
    tuple of numpy.ndarray
        ``(gt, pred)`` with the objects outside the region set to 0; pass them to
        :func:`~napari_unet.core.metrics.evaluate` or ``evaluate_many``. Their pixel
        error is then over the whole image: ``evaluate(gt, pred, region=region)`` scores
        the same objects with the pixel error over the region's pixels.
    """
    gt, pred = check_pair(gt, pred)
    mask = np.asarray(region)
    if mask.shape != gt.shape:
        raise InputError(
            f"the annotated region has shape {mask.shape}, but the labels have shape "
            f"{gt.shape}; expected the same shape"
        )
    if not 0.0 < min_fraction <= 1.0:
        raise InputError(f"min_fraction must be in (0, 1]; got {min_fraction}")
    mask = mask.astype(bool)
    if not mask.any():
        raise InputError("the annotated region is empty: nothing would be scored")
    return _inside(gt, mask, min_fraction), _inside(pred, mask, min_fraction)
