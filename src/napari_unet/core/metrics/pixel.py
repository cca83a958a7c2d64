"""Foreground pixel scores (IoU, Dice, pixel error) and the adapted Rand error."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_unet.core.metrics.contingency import (
    CHUNK,
    Contingency,
    check_pair,
    contingency,
    ratio,
)
from napari_unet.core.metrics.region import restrict_to_region


def region_counts(gt: np.ndarray, pred: np.ndarray, region: np.ndarray) -> tuple[int, int]:
    """``(wrong, pixels)``: pixels of ``region`` whose foreground call differs, and its size.

    Counted a chunk of pixels at a time (no full-size temporary for a large image).
    """
    x, y, m = gt.reshape(-1), pred.reshape(-1), np.asarray(region, bool).reshape(-1)
    wrong = 0
    for start in range(0, x.size, CHUNK):
        part = slice(start, start + CHUNK)
        wrong += int(np.count_nonzero(((x[part] != 0) != (y[part] != 0)) & m[part]))
    return wrong, int(np.count_nonzero(m))


def pixel_scores(table: Contingency, region: tuple[int, int] | None = None) -> dict[str, Any]:
    """The :func:`pixel_metrics` of a contingency table.

    ``region``: the :func:`region_counts` of the annotated region, if there is one; the
    pixel error is then its wrong pixels over its pixels (not over the whole image's).
    """
    from scipy.sparse import csr_array
    from skimage.metrics import adapted_rand_error

    gt_fg, pred_fg = int(table.gt_area.sum()), int(table.pred_area.sum())
    inter = int(table.pair_count.sum())
    union = gt_fg + pred_fg - inter
    wrong, pixels = (union - inter, table.n_pixels) if region is None else region
    empty = gt_fg == 0 and pred_fg == 0
    if gt_fg == 0:
        # skimage ignores ground-truth background, so nothing would be scored.
        rand = 0.0 if pred_fg == 0 else 1.0
    else:
        # scikit-image's adapted Rand error (ISBI 2012 / SNEMI3D), fed our contingency
        # table instead of building its own: rows = gt objects, column 0 = background.
        n_gt, n_pred = table.gt_ids.size, table.pred_ids.size
        missed = table.gt_area - np.bincount(table.pair_gt, table.pair_count, minlength=n_gt)
        rows = np.concatenate([table.pair_gt, np.arange(n_gt)]) + 1
        cols = np.concatenate([table.pair_pred + 1, np.zeros(n_gt, dtype=np.intp)])
        data = np.concatenate([table.pair_count, missed]).astype(float)
        cont = csr_array((data, (rows, cols)), shape=(n_gt + 1, n_pred + 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            are = float(adapted_rand_error(table=cont)[0])
        rand = 0.0 if np.isnan(are) else are  # no pixel pairs in one object anywhere
    return {
        "pixel_iou": ratio(inter, union, empty),
        "pixel_dice": ratio(2 * inter, gt_fg + pred_fg, empty),
        "pixel_error": wrong / pixels,
        "rand_error": rand,
        "counts": {
            "pixels": pixels,
            "wrong": wrong,
            "gt_foreground": gt_fg,
            "pred_foreground": pred_fg,
            "intersection": inter,
            "union": union,
        },
    }


def pixel_metrics(gt: Any, pred: Any, region: Any = None) -> dict[str, Any]:
    """Foreground (label > 0) pixel scores and the adapted Rand error.

    Parameters
    ----------
    gt, pred : array-like of int
        Label images of the same shape; any id > 0 is foreground.
    region : array-like of bool, optional
        The annotated region: the objects outside it are left out
        (:func:`~napari_unet.core.metrics.region.restrict_to_region`) and the pixel error
        is the fraction of the region's pixels that are wrong.

    Returns
    -------
    dict
        ``pixel_iou``, ``pixel_dice`` (foreground IoU and Dice), ``pixel_error``
        (fraction of pixels, of the region where one is given, whose foreground/background
        call differs), ``rand_error``
        (1 - adapted Rand F-score, scikit-image's ISBI 2012 definition) and ``counts``
        (pixel totals for pooling over images: ``pixels`` scored, ``wrong`` among them).
    """
    gt, pred = check_pair(gt, pred)
    if region is None:
        return pixel_scores(contingency(gt, pred))
    gt, pred = restrict_to_region(gt, pred, region)
    return pixel_scores(contingency(gt, pred), region_counts(gt, pred, region))
