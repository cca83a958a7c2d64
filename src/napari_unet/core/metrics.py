"""Segmentation metrics: instance matching, DSB2018 average precision, pixel and Rand scores.

Every metric is computed from one sparse contingency table of (ground-truth id,
predicted id) pixel counts, built in a single pass over the pixels with
:func:`numpy.bincount`, so images with thousands of cells cost about as much as a
few array passes. Label ids need not be consecutive. See ``docs/metrics.md`` for the
definitions and the conventions for empty images.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.errors import InputError

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


_PER_THRESHOLD = (
    "tp", "fp", "fn", "precision", "recall", "f1", "ap", "sum_matched_iou", "mean_matched_iou",
)  # fmt: skip


@dataclass(frozen=True)
class EvaluateProgress:
    """Progress of :func:`evaluate_many`: ``done`` of ``total`` images, the last ``name``."""

    done: int
    total: int | None
    name: str


@dataclass(frozen=True)
class _Table:
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
        union = self.gt_area[self.pair_gt] + self.pred_area[self.pair_pred] - self.pair_count
        return self.pair_count / union


def _check_labels(arr: Any, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.view(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{what} has dtype {arr.dtype}; expected an integer label image "
            "(0 = background, 1..N = objects), for example uint16 or int32"
        )
    if arr.size == 0:
        raise InputError(f"{what} is empty (shape {arr.shape}); expected a label image")
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
        raise InputError(
            f"{what} has negative labels (min {arr.min()}); expected 0 = background "
            "and positive ids for objects"
        )
    return arr


def _check_pair(gt: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    gt = _check_labels(gt, "the ground truth")
    pred = _check_labels(pred, "the prediction")
    if gt.shape != pred.shape:
        raise InputError(
            f"the prediction has shape {pred.shape} but the ground truth has shape "
            f"{gt.shape}; expected label images of the same shape"
        )
    return gt, pred


def _check_thresholds(thresholds: Iterable[float]) -> tuple[float, ...]:
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


def _table(gt: np.ndarray, pred: np.ndarray) -> _Table:
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
    return _Table(gt_ids, pred_ids, gt_area, pred_area, pair_gt - 1, pair_pred - 1, counts, g.size)


def _ratio(num: float, den: float, both_empty: bool) -> float:
    """num/den, or 1 where both images are empty (perfect agreement), else 0."""
    if den > 0:
        return float(num / den)
    return 1.0 if both_empty else 0.0


def _match_pairs(table: _Table, threshold: float) -> np.ndarray:
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


def _scores(tp: int, fp: int, fn: int, sum_iou: float, empty: bool) -> dict[str, Any]:
    """The per-threshold scores from the match counts (see :class:`MatchResult`)."""
    return {
        "tp": tp, "fp": fp, "fn": fn,
        "precision": _ratio(tp, tp + fp, empty),
        "recall": _ratio(tp, tp + fn, empty),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, empty),
        "ap": _ratio(tp, tp + fp + fn, empty),
        "sum_matched_iou": sum_iou,
        "mean_matched_iou": _ratio(sum_iou, tp, empty),
    }  # fmt: skip


def _panoptic(tp: int, sum_iou: float, n_gt: int, n_pred: int, empty: bool) -> dict[str, float]:
    sq = _ratio(sum_iou, tp, empty)
    rq = _ratio(tp, tp + 0.5 * (n_pred - tp) + 0.5 * (n_gt - tp), empty)
    return {"pq": sq * rq, "sq": sq, "rq": rq}


def _match(table: _Table, thresholds: tuple[float, ...]) -> MatchResult:
    n_gt, n_pred = int(table.gt_ids.size), int(table.pred_ids.size)
    empty = n_gt == 0 and n_pred == 0
    iou = table.pair_iou
    per = []
    for t in (*thresholds, 0.5):
        m = _match_pairs(table, t)
        per.append(_scores(m.size, n_pred - m.size, n_gt - m.size, float(iou[m].sum()), empty))
    at50 = per.pop()
    return MatchResult(
        thresholds, n_gt, n_pred,
        **{k: tuple(p[k] for p in per) for k in _PER_THRESHOLD},
        **_panoptic(at50["tp"], at50["sum_matched_iou"], n_gt, n_pred, empty),
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
    thresholds : iterable of float
        IoU thresholds in [0, 1); a pair matches when IoU > threshold (strictly, as in
        the DSB2018 Kaggle metric). Defaults to 0.5, 0.55, ..., 0.95.

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
    gt, pred = _check_pair(gt, pred)
    return _match(_table(gt, pred), _check_thresholds(thresholds))


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
    gt, pred = _check_pair(gt, pred)
    t = _table(gt, pred)
    return t.gt_ids[t.pair_gt], t.pred_ids[t.pair_pred], t.pair_iou


def _pixel(table: _Table) -> dict[str, Any]:
    from scipy.sparse import csr_array
    from skimage.metrics import adapted_rand_error

    gt_fg, pred_fg = int(table.gt_area.sum()), int(table.pred_area.sum())
    inter = int(table.pair_count.sum())
    union = gt_fg + pred_fg - inter
    wrong = union - inter
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
        "pixel_iou": _ratio(inter, union, empty),
        "pixel_dice": _ratio(2 * inter, gt_fg + pred_fg, empty),
        "pixel_error": wrong / table.n_pixels,
        "rand_error": rand,
        "counts": {
            "pixels": table.n_pixels,
            "gt_foreground": gt_fg,
            "pred_foreground": pred_fg,
            "intersection": inter,
            "union": union,
        },
    }


def pixel_metrics(gt: Any, pred: Any) -> dict[str, Any]:
    """Foreground (label > 0) pixel scores and the adapted Rand error.

    Parameters
    ----------
    gt, pred : array-like of int
        Label images of the same shape; any id > 0 is foreground.

    Returns
    -------
    dict
        ``pixel_iou``, ``pixel_dice`` (foreground IoU and Dice), ``pixel_error``
        (fraction of pixels whose foreground/background call differs), ``rand_error``
        (1 - adapted Rand F-score, scikit-image's ISBI 2012 definition) and ``counts``
        (pixel totals for pooling over images).
    """
    gt, pred = _check_pair(gt, pred)
    return _pixel(_table(gt, pred))


def evaluate(gt: Any, pred: Any, thresholds: Iterable[float] = DSB_THRESHOLDS) -> dict[str, Any]:
    """Compute every metric of one image; the result is JSON-able.

    Parameters
    ----------
    gt, pred : array-like of int
        Instance label images of the same shape.
    thresholds : iterable of float
        IoU thresholds for matching (default 0.5, 0.55, ..., 0.95).

    Returns
    -------
    dict
        ``n_gt``, ``n_pred``, ``ap`` (mean over thresholds), ``per_threshold`` (a list of
        dicts with ``threshold``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``,
        ``f1``, ``ap``, ``mean_matched_iou``), ``mean_matched_iou`` (of the pairs
        matched at IoU 0.5, equal to ``sq``), ``pq``/``sq``/``rq`` (at 0.5) and the
        keys of :func:`pixel_metrics`.
    """
    gt, pred = _check_pair(gt, pred)
    table = _table(gt, pred)
    m = _match(table, _check_thresholds(thresholds))
    pix = _pixel(table)
    pix["counts"] |= {"tp50": m.tp50, "sum_iou50": m.sq * m.tp50}
    return _as_dict(m) | pix


def _as_dict(m: MatchResult) -> dict[str, Any]:
    per = [
        {"threshold": t, **{name: getattr(m, name)[i] for name in _PER_THRESHOLD}}
        for i, t in enumerate(m.thresholds)
    ]
    return {
        "n_gt": m.n_gt,
        "n_pred": m.n_pred,
        "ap": m.mean_ap,
        "mean_matched_iou": m.sq,
        "pq": m.pq,
        "sq": m.sq,
        "rq": m.rq,
        "per_threshold": per,
    }


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine per-image :func:`evaluate` results into dataset totals.

    Two kinds of total are reported, both labelled. *Pooled* scores sum TP, FP, FN,
    matched IoU and pixel counts over all images and then take the ratios
    (``per_threshold``, ``ap``, ``mean_matched_iou``, ``pq``, pixel scores). The
    DSB2018 dataset score is instead the *mean over images* of each image's AP
    (``dataset_ap``, ``per_threshold[i]["dataset_ap"]``). The Rand error is the mean
    over images (``rand_error``).

    Parameters
    ----------
    results : sequence of dict
        Outputs of :func:`evaluate` computed with the same thresholds.

    Returns
    -------
    dict
        The same keys as :func:`evaluate`, plus ``n_images`` and ``dataset_ap``.
    """
    if not results:
        raise InputError("nothing to summarize: no evaluated images")
    ths = [[p["threshold"] for p in r["per_threshold"]] for r in results]
    if any(t != ths[0] for t in ths):
        raise InputError("cannot summarize results computed at different IoU thresholds")
    n_gt = sum(r["n_gt"] for r in results)
    n_pred = sum(r["n_pred"] for r in results)
    empty = n_gt == 0 and n_pred == 0
    per = []
    for i, t in enumerate(ths[0]):
        tp, fp, fn, s = (
            sum(r["per_threshold"][i][k] for r in results)
            for k in ("tp", "fp", "fn", "sum_matched_iou")
        )
        per.append({"threshold": t, **_scores(tp, fp, fn, s, empty)})
        per[-1]["dataset_ap"] = float(np.mean([r["per_threshold"][i]["ap"] for r in results]))
    # PQ pooled: SQ from summed IoU/TP and RQ from summed counts, both at IoU 0.5.
    c = {k: sum(r["counts"][k] for r in results) for k in results[0]["counts"]}
    pan = _panoptic(c["tp50"], c["sum_iou50"], n_gt, n_pred, empty)
    pix_empty = c["gt_foreground"] == 0 and c["pred_foreground"] == 0
    return {
        "n_images": len(results),
        "n_gt": n_gt,
        "n_pred": n_pred,
        "ap": float(np.mean([p["ap"] for p in per])),
        "dataset_ap": float(np.mean([r["ap"] for r in results])),
        "mean_matched_iou": pan["sq"],
        **pan,
        "per_threshold": per,
        "pixel_iou": _ratio(c["intersection"], c["union"], pix_empty),
        "pixel_dice": _ratio(
            2 * c["intersection"], c["gt_foreground"] + c["pred_foreground"], pix_empty
        ),
        "pixel_error": (c["union"] - c["intersection"]) / c["pixels"],
        "rand_error": float(np.mean([r["rand_error"] for r in results])),
        "counts": c,
    }


def evaluate_many(
    pairs: Iterable[tuple[str, Any, Any]],
    thresholds: Iterable[float] = DSB_THRESHOLDS,
    total: int | None = None,
) -> Generator[EvaluateProgress, None, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Evaluate many (name, ground truth, prediction) pairs; yield progress per image.

    Parameters
    ----------
    pairs : iterable of (str, array-like, array-like)
        Name, ground truth and prediction of each image (loaded lazily if a generator).
    thresholds : iterable of float
        IoU thresholds for matching.
    total : int, optional
        Number of pairs, reported in the progress events.

    Yields
    ------
    EvaluateProgress
        After each image.

    Returns
    -------
    (list of dict, dict)
        The :func:`evaluate` result of each image (with a ``name`` key added) and their
        :func:`summarize` total.
    """
    ths = _check_thresholds(thresholds)
    results = []
    for name, gt, pred in pairs:
        try:
            results.append({"name": name} | evaluate(gt, pred, ths))
        except InputError as exc:
            raise InputError(f"{name}: {exc}") from None
        yield EvaluateProgress(len(results), total, name)
    return results, summarize(results)


def summary_row(result: dict[str, Any]) -> dict[str, float | int]:
    """The headline numbers of an :func:`evaluate` or :func:`summarize` result, by column.

    Columns: ``GT``, ``pred`` (object counts), ``AP`` (mean over thresholds), ``AP50`` and
    ``AP75`` (where evaluated), ``F1@0.5`` (or at the first threshold), ``mIoU`` (mean
    matched IoU at 0.5), ``PQ``, ``pix IoU``, ``Dice``, ``pix err``, ``Rand err``.
    """
    per = {round(p["threshold"], 4): p for p in result["per_threshold"]}
    row: dict[str, float | int] = {"GT": result["n_gt"], "pred": result["n_pred"]}
    row["AP"] = result["ap"]
    for t in (0.5, 0.75):
        if t in per:
            row[f"AP{round(t * 100)}"] = per[t]["ap"]
    first = per.get(0.5, result["per_threshold"][0])
    row[f"F1@{first['threshold']:g}"] = first["f1"]
    row |= {
        "mIoU": result["mean_matched_iou"],
        "PQ": result["pq"],
        "pix IoU": result["pixel_iou"],
        "Dice": result["pixel_dice"],
        "pix err": result["pixel_error"],
        "Rand err": result["rand_error"],
    }
    return row
