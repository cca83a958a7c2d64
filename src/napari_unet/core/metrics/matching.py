"""Instance matching at IoU thresholds: precision, recall, F1, DSB2018 AP, panoptic quality."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.metrics.contingency import (
    Contingency,
    check_pair,
    check_thresholds,
    contingency,
    ratio,
)

#: The DSB2018 IoU thresholds 0.5, 0.55, ..., 0.95.
DSB_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@dataclass(frozen=True)
class MatchResult:
    """Instance matching of one prediction against its ground truth.

    Per-threshold fields are tuples aligned with ``thresholds``. A prediction and a
    ground-truth object match at threshold ``t`` when their IoU is strictly greater
    than ``t``, each object matching at most one other.

    Attributes
    ----------
    thresholds : tuple of float
        The IoU thresholds.
    n_gt, n_pred : int
        Number of ground-truth and predicted objects.
    tp, fp, fn : tuple of int
        Matched pairs, unmatched predictions, unmatched ground-truth objects.
    precision, recall, f1 : tuple of float
        TP/(TP+FP), TP/(TP+FN), 2TP/(2TP+FP+FN).
    ap : tuple of float
        DSB2018 average precision TP/(TP+FP+FN).
    sum_matched_iou, mean_matched_iou : tuple of float
        Sum and mean of the IoU of the matched pairs.
    pq, sq, rq : float
        Panoptic, segmentation and recognition quality at IoU 0.5 (PQ = SQ x RQ). SQ
        is the mean IoU of the pairs matched at 0.5.
    tp50 : int
        Matched pairs at IoU 0.5.
    """

    thresholds: tuple[float, ...]
    n_gt: int
    n_pred: int
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    fn: tuple[int, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    ap: tuple[float, ...]
    sum_matched_iou: tuple[float, ...]
    mean_matched_iou: tuple[float, ...]
    pq: float
    sq: float
    rq: float
    tp50: int

    @property
    def mean_ap(self) -> float:
        """AP averaged over the thresholds (the DSB2018 score of one image)."""
        return float(np.mean(self.ap))


PER_THRESHOLD = (
    "tp", "fp", "fn", "precision", "recall", "f1", "ap", "sum_matched_iou", "mean_matched_iou",
)  # fmt: skip


def _match_pairs(table: Contingency, threshold: float) -> np.ndarray:
    """Indices into the pair list of a one-to-one matching at IoU > threshold."""
    iou = table.pair_iou
    cand = np.flatnonzero(iou > threshold)
    if threshold >= 0.5:
        # IoU > 0.5 means more than half of each object lies in the other, so no object
        # has two such partners: the candidates already are the unique best matching.
        return cand
    return _assign(table.pair_gt[cand], table.pair_pred[cand], iou[cand], cand)


def _assign(rows: np.ndarray, cols: np.ndarray, iou: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Maximum-cardinality matching (ties broken by total IoU), per connected cluster.

    Below IoU 0.5 an object can have several candidates; scipy's Hungarian solver
    (linear_sum_assignment) finds the best one-to-one matching. Solving each connected
    cluster of candidates on its own keeps the dense cost matrices tiny.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    if idx.size == 0:
        return idx
    _, r = np.unique(rows, return_inverse=True)
    _, c = np.unique(cols, return_inverse=True)
    nr = int(r.max()) + 1
    n = nr + int(c.max()) + 1
    graph = coo_array((np.ones(idx.size), (r, c + nr)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    edge_comp = comp[r]
    sizes = np.bincount(edge_comp)
    keep = [idx[sizes[edge_comp] == 1]]  # a lone candidate pair is always matched
    for k in np.flatnonzero(sizes > 1):
        e = np.flatnonzero(edge_comp == k)
        rr, ri = np.unique(r[e], return_inverse=True)
        cc, ci = np.unique(c[e], return_inverse=True)
        # Each match is worth 1, plus a tie-breaking share of its IoU below 1/min(n, m).
        weight = np.zeros((rr.size, cc.size))
        weight[ri, ci] = 1.0 + iou[e] / (2 * min(rr.size, cc.size))
        edge = np.full(weight.shape, -1)
        edge[ri, ci] = e
        a, b = linear_sum_assignment(weight, maximize=True)
        keep.append(idx[edge[a, b][weight[a, b] > 0]])
    return np.sort(np.concatenate(keep))


def match_scores(tp: int, fp: int, fn: int, sum_iou: float, empty: bool) -> dict[str, Any]:
    """The per-threshold scores from the match counts (see :class:`MatchResult`)."""
    return {
        "tp": tp, "fp": fp, "fn": fn,
        "precision": ratio(tp, tp + fp, empty),
        "recall": ratio(tp, tp + fn, empty),
        "f1": ratio(2 * tp, 2 * tp + fp + fn, empty),
        "ap": ratio(tp, tp + fp + fn, empty),
        "sum_matched_iou": sum_iou,
        "mean_matched_iou": ratio(sum_iou, tp, empty),
    }  # fmt: skip


def panoptic(tp: int, sum_iou: float, n_gt: int, n_pred: int, empty: bool) -> dict[str, float]:
    """Panoptic quality PQ = SQ x RQ from the matches at IoU 0.5."""
    sq = ratio(sum_iou, tp, empty)
    rq = ratio(tp, tp + 0.5 * (n_pred - tp) + 0.5 * (n_gt - tp), empty)
    return {"pq": sq * rq, "sq": sq, "rq": rq}


def match_table(table: Contingency, thresholds: tuple[float, ...]) -> MatchResult:
    """Match the objects of a contingency table at each threshold (and at 0.5 for PQ)."""
    n_gt, n_pred = int(table.gt_ids.size), int(table.pred_ids.size)
    empty = n_gt == 0 and n_pred == 0
    iou = table.pair_iou
    per = []
    for t in (*thresholds, 0.5):
        m = _match_pairs(table, t)
        per.append(match_scores(m.size, n_pred - m.size, n_gt - m.size, float(iou[m].sum()), empty))
    at50 = per.pop()
    return MatchResult(
        thresholds, n_gt, n_pred,
        **{k: tuple(p[k] for p in per) for k in PER_THRESHOLD},
        **panoptic(at50["tp"], at50["sum_matched_iou"], n_gt, n_pred, empty),
        tp50=at50["tp"],
    )  # fmt: skip


def match_instances(
    gt: Any, pred: Any, thresholds: Iterable[float] = DSB_THRESHOLDS
) -> MatchResult:
    """Match predicted objects to ground-truth objects at IoU thresholds.

    Parameters
    ----------
    gt, pred : array-like of int
        Instance label images of the same shape (0 = background; ids need not be
        consecutive). Any number of dimensions: a 3D array is one volume.
    thresholds : float or iterable of float
        IoU thresholds in [0, 1) (one number: one threshold); a pair matches when
        IoU > threshold (strictly, as in the DSB2018 Kaggle metric). Defaults to 0.5,
        0.55, ..., 0.95.

    Returns
    -------
    MatchResult
        Counts and scores per threshold, mean matched IoU and panoptic quality.

    Raises
    ------
    InputError
        If the shapes differ, a label image is not integer or has negative ids, or a
        threshold is outside [0, 1).
    """
    gt, pred = check_pair(gt, pred)
    return match_table(contingency(gt, pred), check_thresholds(thresholds))


def instance_ious(gt: Any, pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """List every overlapping (ground truth, prediction) pair with its IoU.

    Parameters
    ----------
    gt, pred : array-like of int
        Instance label images of the same shape.

    Returns
    -------
    gt_ids, pred_ids, iou : numpy.ndarray
        The original ids of each overlapping pair and their intersection over union.
    """
    gt, pred = check_pair(gt, pred)
    t = contingency(gt, pred)
    return t.gt_ids[t.pair_gt], t.pred_ids[t.pair_pred], t.pair_iou
