"""Every metric of one image, totals over many images, and the headline row of a table."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.metrics.contingency import (
    check_pair,
    check_thresholds,
    iter_contingency,
    ratio,
    warn_if_masks,
)
from napari_unet.core.metrics.matching import (
    DSB_THRESHOLDS,
    PER_THRESHOLD,
    MatchResult,
    match_scores,
    match_table,
    panoptic,
)
from napari_unet.core.metrics.pixel import pixel_scores, region_counts
from napari_unet.core.metrics.region import restrict_to_region


@dataclass(frozen=True)
class EvaluateProgress:
    """Progress of :func:`iter_evaluate_many`: ``done`` of ``total`` images, the last ``name``."""

    done: int
    total: int | None
    name: str


@dataclass(frozen=True)
class EvaluateStep:
    """Progress inside one large image of :func:`iter_evaluate_many`.

    ``fraction`` of image ``name``'s work is done (below 1; its :class:`EvaluateProgress`
    follows when it is done).
    """

    name: str
    fraction: float


def evaluate(
    gt: Any, pred: Any, thresholds: Iterable[float] = DSB_THRESHOLDS, region: Any = None
) -> dict[str, Any]:
    """Compute every metric of one image; the result is JSON-able.

    Parameters
    ----------
    gt, pred : array-like of int
        Instance label images of the same shape.
    thresholds : float or iterable of float
        IoU thresholds for matching (default 0.5, 0.55, ..., 0.95); one number is one
        threshold.
    region : array-like of bool, optional
        The annotated region (same shape): only the objects inside it are scored
        (:func:`~napari_unet.core.metrics.region.restrict_to_region`) and the pixel error
        is the fraction of the region's pixels that are wrong.

    Returns
    -------
    dict
        ``n_gt``, ``n_pred``, ``ap`` (mean over thresholds), ``per_threshold`` (a list of
        dicts with ``threshold``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``,
        ``f1``, ``ap``, ``mean_matched_iou``), ``mean_matched_iou`` (of the pairs
        matched at IoU 0.5, equal to ``sq``), ``pq``/``sq``/``rq`` (at 0.5) and the
        keys of :func:`pixel_metrics`.
    """
    from napari_unet.core.progress import drain

    return drain(_iter_evaluate(gt, pred, thresholds, region))


def _iter_evaluate(
    gt: Any, pred: Any, thresholds: Iterable[float], region: Any = None, name: str = ""
) -> Generator[float, None, dict[str, Any]]:
    """:func:`evaluate`, yielding the fraction done while a large image is counted.

    Only the public entry points warn of a mask (:func:`warn_if_masks`, naming ``name``):
    training's validation matches through :func:`match_instances`, where a region cutting
    an early model's one blob into pieces made the warning false, once per validation.
    """
    ths = check_thresholds(thresholds)
    gt, pred = check_pair(gt, pred)
    warn_if_masks(gt, pred, stacklevel=5, name=name)  # user -> evaluate -> drain -> here
    counts = None
    if region is not None:
        gt, pred = restrict_to_region(gt, pred, region)
        counts = region_counts(gt, pred, region)
    table = yield from iter_contingency(gt, pred)
    m = match_table(table, ths)
    pix = pixel_scores(table, counts)
    pix["counts"] |= {"tp50": m.tp50, "sum_iou50": m.sq * m.tp50}
    return _as_dict(m) | pix


def _as_dict(m: MatchResult) -> dict[str, Any]:
    per = [
        {"threshold": t, **{name: getattr(m, name)[i] for name in PER_THRESHOLD}}
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
    over images (``rand_error``). The pixel error is pooled too: the wrong pixels of all
    images over their scored pixels (each image's annotated region, where it has one).

    The means over images leave out the images with no object in either the ground truth
    or the prediction (``n_empty`` of them): each would count as a perfect 1 (nothing to
    find, nothing found), so the empty planes of a stack lifted a prediction that found
    nothing to a high score. Where every image is empty the means are None.

    Parameters
    ----------
    results : sequence of dict
        Outputs of :func:`evaluate` computed with the same thresholds.

    Returns
    -------
    dict
        The same keys as :func:`evaluate`, plus ``n_images``, ``n_empty`` and
        ``dataset_ap``.
    """
    results = _checked_results(results)
    if not results:
        raise InputError("nothing to summarize: no evaluated images")
    ths = [[p["threshold"] for p in r["per_threshold"]] for r in results]
    if any(t != ths[0] for t in ths):
        raise InputError("cannot summarize results computed at different IoU thresholds")
    n_gt = sum(r["n_gt"] for r in results)
    n_pred = sum(r["n_pred"] for r in results)
    empty = n_gt == 0 and n_pred == 0
    scored = [r for r in results if r["n_gt"] or r["n_pred"]]  # for the means over images
    per = []
    for i, t in enumerate(ths[0]):
        tp, fp, fn, s = (
            sum(r["per_threshold"][i][k] for r in results)
            for k in ("tp", "fp", "fn", "sum_matched_iou")
        )
        per.append({"threshold": t, **match_scores(tp, fp, fn, s, empty)})
        per[-1]["dataset_ap"] = _mean([r["per_threshold"][i]["ap"] for r in scored])
    # PQ pooled: SQ from summed IoU/TP and RQ from summed counts, both at IoU 0.5.
    c = {k: sum(r["counts"][k] for r in results) for k in results[0]["counts"]}
    c["wrong"] = sum(  # results saved before "wrong" was counted: the whole image's
        r["counts"].get("wrong", r["counts"]["union"] - r["counts"]["intersection"])
        for r in results
    )
    pan = panoptic(c["tp50"], c["sum_iou50"], n_gt, n_pred, empty)
    pix_empty = c["gt_foreground"] == 0 and c["pred_foreground"] == 0
    return {
        "n_images": len(results),
        "n_empty": len(results) - len(scored),
        "n_gt": n_gt,
        "n_pred": n_pred,
        "ap": float(np.mean([p["ap"] for p in per])),
        "dataset_ap": _mean([r["ap"] for r in scored]),
        "mean_matched_iou": pan["sq"],
        **pan,
        "per_threshold": per,
        "pixel_iou": ratio(c["intersection"], c["union"], pix_empty),
        "pixel_dice": ratio(
            2 * c["intersection"], c["gt_foreground"] + c["pred_foreground"], pix_empty
        ),
        "pixel_error": c["wrong"] / c["pixels"],
        "rand_error": _mean([r["rand_error"] for r in scored]),
        "counts": c,
    }


def _checked_results(results) -> list:
    """The results as a list; what is no list of :func:`evaluate` results is an InputError.

    Before, a KeyError or an IndexError from inside (``summarize([truth])``).
    """
    how = "summarize takes a list of results of evaluate: summarize([nu.evaluate(gt, pred), ...])"
    if isinstance(results, dict | np.ndarray | str):
        raise InputError(f"{how}; got one {type(results).__name__}")
    results = list(results)
    for i, r in enumerate(results):
        if not (isinstance(r, dict) and {"per_threshold", "n_gt", "n_pred", "counts"} <= r.keys()):
            got = f"a dict of {sorted(map(str, r))}" if isinstance(r, dict) else type(r).__name__
            raise InputError(f"{how}; item {i + 1} is no such result ({got})")
    return results


def _mean(values: list[float]) -> float | None:
    """The mean, or None for no values (every image empty: nothing to average)."""
    return float(np.mean(values)) if values else None


def _named(name: str, gen: Generator) -> Generator[EvaluateStep, None, Any]:
    """Re-yield the fractions of ``gen`` as :class:`EvaluateStep` events of image ``name``."""
    while True:
        try:
            fraction = next(gen)
        except StopIteration as stop:
            return stop.value
        yield EvaluateStep(name, fraction)


def iter_evaluate_many(
    pairs: Iterable[tuple],
    thresholds: Iterable[float] = DSB_THRESHOLDS,
    total: int | None = None,
) -> Generator[EvaluateProgress, None, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Evaluate many (name, ground truth, prediction) pairs; yield progress per image.

    Parameters
    ----------
    pairs : iterable of (str, array-like, array-like[, array-like of bool])
        Name, ground truth and prediction of each image (loaded lazily if a generator),
        and optionally its annotated region (the ``region`` of :func:`evaluate`). Any
        other item (a ``(gt, pred)`` pair, a dict) is an InputError naming the form.
    thresholds : float or iterable of float
        IoU thresholds for matching (one number: one threshold).
    total : int, optional
        Number of pairs, reported in the progress events.

    Yields
    ------
    EvaluateProgress or EvaluateStep
        After each image; and while an image of more than
        :data:`~napari_unet.core.metrics.contingency.CHUNK` pixels is counted, a step
        after each chunk of its pixels (a few a second).

    Returns
    -------
    (list of dict, dict)
        The :func:`evaluate` result of each image (with a ``name`` key added) and their
        :func:`summarize` total.
    """
    ths = check_thresholds(thresholds)
    if isinstance(pairs, dict):
        raise InputError(
            f"evaluate_many takes {ITEM_FORM} items, not a dict; for a dict of name: (gt, "
            "pred) pass [(name, *v) for name, v in d.items()]"
        )
    results = []
    for i, item in enumerate(pairs):
        name, gt, pred, *region = _checked_item(item, i)
        try:
            result = yield from _named(name, _iter_evaluate(gt, pred, ths, *region, name=name))
        except InputError as exc:
            raise InputError(f"{name}: {exc}") from None
        results.append({"name": name} | result)
        yield EvaluateProgress(len(results), total, name)
    return results, summarize(results)


#: The form of each item of :func:`iter_evaluate_many`, for messages.
ITEM_FORM = "(name, ground_truth, prediction[, region])"


def _checked_item(item: Any, i: int) -> tuple:
    """``item`` of :func:`iter_evaluate_many` as a tuple, or an InputError saying the form.

    Before, a ``(gt, pred)`` pair or a dict failed with a bare unpacking error.
    """
    import os

    if isinstance(item, tuple | list) and len(item) in (3, 4):
        name = item[0]
        if isinstance(name, str | os.PathLike) and not any(
            isinstance(a, str | bytes) or a is None for a in item[1:3]
        ):
            return tuple(item)
    if isinstance(item, tuple | list):
        kinds = ", ".join(type(a).__name__ for a in item)
        got = f"a {type(item).__name__} of {len(item)} ({kinds})"
    else:
        got = f"a {type(item).__name__}"
    raise InputError(
        f"evaluate_many: item {i + 1} is {got}; expected {ITEM_FORM}, a name (str) then the "
        "ground truth and prediction label arrays and optionally the region mask"
    )


def evaluate_many(
    pairs: Iterable[tuple[str, Any, Any]],
    thresholds: Iterable[float] = DSB_THRESHOLDS,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-image results and their pooled total: :func:`iter_evaluate_many` run to the end."""
    from napari_unet.core.progress import drain

    return drain(iter_evaluate_many(pairs, thresholds))


def summary_row(result: dict[str, Any]) -> dict[str, float | int]:
    """The headline numbers of an :func:`evaluate` or :func:`summarize` result, by column.

    Columns: ``GT``, ``pred`` (object counts), ``AP`` (mean over thresholds), ``AP50`` and
    ``AP75`` (where evaluated), ``F1@0.5`` (or at the first threshold), ``mIoU`` (mean
    matched IoU at 0.5), ``PQ``, ``pix IoU``, ``Dice``, ``pix err``, ``Rand err`` (None
    for a total of images that are all empty).
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
