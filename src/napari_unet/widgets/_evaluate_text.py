"""What the Evaluate dock shows: its tables and titles, short column names, its status.

The tables are for the picks of the run that made them (:class:`Picks`); once the picks
change or one of their layers is removed, :func:`stale_text` says what they were for.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_unet.core.metrics import summary_row
from napari_unet.widgets._evaluate_tables import fill, fit_columns

__all__ = [
    "Depth",
    "Picks",
    "ap_text",
    "column",
    "fmt",
    "header_tip",
    "kept_pick",
    "label_headers",
    "picks_text",
    "plural",
    "segmentations_of",
    "show",
    "short_names",
    "stale_text",
    "tables",
    "truth_of",
]

#: The names an image's ground truth is looked for by, in this order: the Annotate dock's
#: layer, then the name the plugin's sample data give theirs.
TRUTH_NAMES = ("{} annotations", "{} ground truth")


class Depth:
    """A re-entrant "inside" flag: true within ``with depth:`` blocks."""

    def __init__(self) -> None:
        self.n = 0

    def __enter__(self) -> None:
        self.n += 1

    def __exit__(self, *_exc) -> None:
        self.n -= 1

    def __bool__(self) -> bool:
        return self.n > 0


@dataclass(frozen=True)
class Picks:
    """What a run scores: the layers picked (compared by identity) and their names then."""

    predictions: tuple
    gt: Any
    region: Any
    per_plane: bool
    names: tuple[str, ...]  # the predictions', then the ground truth's (then the region's)

    @classmethod
    def of(cls, predictions, gt, region, per_plane: bool) -> Picks:
        layers = [*predictions, gt] + ([] if region is None else [region])
        return cls(
            tuple(predictions),
            gt,
            region,
            per_plane,
            tuple(getattr(lyr, "name", "") for lyr in layers),
        )

    def same(self, other: Picks) -> bool:
        """The same layers (the same objects) and the same plane-by-plane choice."""
        mine = (*self.predictions, self.gt, self.region)
        theirs = (*other.predictions, other.gt, other.region)
        return (
            self.per_plane == other.per_plane
            and len(mine) == len(theirs)
            and all(a is b for a, b in zip(mine, theirs, strict=True))
        )

    def gone(self, layers) -> list[str]:
        """The names (when scored) of the picked layers that are no longer in ``layers``."""
        picked = [*self.predictions, self.gt] + ([] if self.region is None else [self.region])
        on = {id(layer) for layer in layers}
        return [name for name, lyr in zip(self.names, picked, strict=True) if id(lyr) not in on]


def kept_pick(pick: tuple | None, choices, image_name: str, main):
    """The user's ground truth ``pick`` = ``(weak reference to the layer, image)``, if it applies.

    It applies while the layer is offered (``choices``), was picked for ``image_name`` (or
    before any image was suggested) and has the shape of the prediction ``main``. The pick
    holds the layer weakly: before, a removed ground truth stayed in memory until another pick.
    """
    if pick is None:
        return None
    ref, image = pick
    layer = ref() if callable(ref) else ref
    if layer is None or layer not in choices or image not in (None, image_name):
        return None
    fits = main is None or list(layer.level_shapes[0]) == list(main.level_shapes[0])
    return layer if fits else None


def segmentations_of(image_name: str, layers) -> list:
    """Those of ``layers`` named ``"<image> segmentation"`` or ``"<image> segmentation (...)"``."""
    base = f"{image_name} segmentation"
    return [lyr for lyr in layers if lyr.name == base or lyr.name.startswith(f"{base} (")]


def truth_of(image_name: str, layers):
    """The layer of ``layers`` named ``"<image> annotations"``, else ``"<image> ground truth"``.

    Before, only ``"<image> annotations"`` was picked: the sample data's ground truth was not.
    """
    by_name = {lyr.name: lyr for lyr in layers if lyr is not None}
    found = (by_name.get(name.format(image_name)) for name in TRUTH_NAMES)
    return next((layer for layer in found if layer is not None), None)


def plural(n: int, word: str) -> str:
    """``"1 image"``, ``"2 images"``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def picks_text(predictions: list, gt, missing: str | None = None) -> str:
    """What Evaluate would score with these picks (``missing``: an image without annotations)."""
    if predictions and gt is None and missing is not None:
        names = " or ".join(repr(name.format(missing)) for name in TRUTH_NAMES)
        return (
            f"{missing!r} has no annotations layer ({names}): choose the ground truth "
            f"to score {predictions[0].name!r} against, then press Evaluate."
        )
    if not predictions or gt is None:
        return "Choose a prediction and its ground truth (two Labels layers)."
    if gt in predictions:
        return f"The prediction and the ground truth are both {gt.name!r}: choose two layers."
    more = f" (and {len(predictions) - 1} more)" if len(predictions) > 1 else ""
    return f"Press Evaluate to score {predictions[0].name!r}{more} against {gt.name!r}."


def stale_text(shown: Picks, gone: list[str], edited=()) -> str:
    """The status once the tables are out of date: what they score, what changed since.

    ``gone``: the scored layers removed since; ``edited``: those edited since.
    """
    n = len(shown.predictions)
    more = f" (and {n - 1} more)" if n > 1 else ""
    text = f"Out of date: the tables score {shown.names[0]!r}{more} against {shown.names[n]!r}"
    if shown.region is not None:
        text += f" in {shown.names[n + 1]!r}"
    if gone:
        text += f" ({', '.join(map(repr, gone))} since removed)"
    edited = [name for name in edited if name not in gone]
    if edited:
        text += f" ({', '.join(map(repr, edited))} edited since)"
    return text + "."


#: What each table header means (its tooltip): what it counts, and which way is better.
HEADER_TIPS = {
    "GT": "ground-truth objects: the cells in the annotations",
    "pred": "predicted objects: the cells in the prediction",
    "TP": "true positives: predicted cells matched to a true cell (higher is better)",
    "FP": "false positives: predicted cells matching no true cell (lower is better)",
    "FN": "false negatives: true cells that no predicted cell matches (lower is better)",
    "precision": "matched predicted cells / all predicted cells (higher is better)",
    "recall": "matched true cells / all true cells (higher is better)",
    "F1": "harmonic mean of precision and recall, TP / (TP + (FP + FN) / 2) (higher is better)",
    "AP": "average precision (DSB2018): TP / (TP + FP + FN), averaged over the IoU "
    "thresholds 0.5..0.95; per threshold, that threshold's (0 to 1, higher is better)",
    "AP50": "TP / (TP + FP + FN) with a match needing IoU > 0.5 (higher is better)",
    "AP75": "TP / (TP + FP + FN) with a match needing IoU > 0.75: a stricter match "
    "(higher is better)",
    "AP img mean": "the DSB2018 AP of each image, averaged over the images (higher is better)",
    "mIoU": "mean IoU (intersection over union) of the matched cells: how well the "
    "matched outlines agree (higher is better)",
    "PQ": "panoptic quality: F1 at IoU 0.5 times the mean IoU of the matches (higher is better)",
    "pix IoU": "pixel IoU: overlap / union of the foreground pixels, ignoring which cell "
    "they belong to (higher is better)",
    "Dice": "2 x overlap / (true + predicted foreground pixels) (higher is better)",
    "pix err": "pixel error: the fraction of pixels (of the annotated region) called "
    "foreground on one side and background on the other (lower is better)",
    "Rand err": "adapted Rand error: 1 - F-score of the pixel pairs in the same cell on "
    "both sides; splits and merges raise it (0 to 1, lower is better)",
    "planes left out (empty)": "planes with no cell in either layer, left out of the image mean",
    "total (pooled)": "all images' cells counted together, then scored",
}


def header_tip(name: str) -> str:
    """The tooltip of a table header: what the row or column means ("" if unknown)."""
    if name.startswith("IoU > "):
        return (
            f"a match needs an intersection over union above {name[6:]} between a true "
            "and a predicted cell"
        )
    for prefix, what in (("F1@", "F1"), ("precision@", "precision"), ("recall@", "recall")):
        if name.startswith(prefix):
            return f"{HEADER_TIPS[what]}; at IoU > {name[len(prefix) :]}"
    return HEADER_TIPS.get(name, "")


def label_headers(table, names: list[str] | None = None) -> None:
    """Give each header item of a QTableWidget its tooltip (:func:`header_tip`).

    ``names``: the full names of the columns (predictions side by side: the header shows
    what tells them apart).
    """
    for i in range(table.rowCount()):
        item = table.verticalHeaderItem(i)
        if item is not None:
            item.setToolTip(header_tip(item.text()))
    for i in range(table.columnCount()):
        item = table.horizontalHeaderItem(i)
        if item is not None:
            item.setToolTip(names[i] if names else header_tip(item.text()))


def show(made: dict[str, Any], outputs: list, names: list[str] | None = None) -> None:
    """Show :func:`tables`' ``made`` in ``outputs``: title, table, title, table (magicgui).

    ``names``: the predictions' full names, side by side (the headers' tooltips). Each
    header says what its row or column means; the columns fit their text.
    """
    pairs = zip(outputs[::2], outputs[1::2], ("summary", "thresholds"), strict=True)
    for title, table, key in pairs:
        title.value = made[f"{key}_title"]
        fill(table, made[key])  # 14,000 cells (1,000 planes): 0.3 s, not 2.3 s
        label_headers(table.native, names)
        fit_columns(table.native, made[key]["data"])
    for widget in outputs:
        widget.visible = True


def fmt(value: Any) -> str:
    """A table cell: counts as integers, scores to 3 decimals, n/a for no value."""
    if value is None:  # a mean over planes when every plane is empty on both sides
        return "n/a"
    return str(value) if isinstance(value, int | np.integer) else f"{value:.3f}"


def short_names(names: list[str]) -> list[str]:
    """What tells the names apart: the words all of them start with are dropped.

    ``"nuclei segmentation (model A)"`` and ``"nuclei segmentation (model B)"`` become
    ``"model A"`` and ``"model B"`` (a bracket is never split); names that would then
    clash are kept whole.
    """
    words = [name.split() for name in names]
    k = 0
    while all(len(w) > k + 1 for w in words) and len({w[k] for w in words}) == 1:
        k += 1
    while k and any(" ".join(w[k:]).count("(") != " ".join(w[k:]).count(")") for w in words):
        k -= 1
    short = [" ".join(w[k:]) for w in words]
    short = [s[1:-1] if s.startswith("(") and s.endswith(")") else s for s in short]
    return short if len(set(short)) == len(short) and all(short) else list(names)


def column(result: dict[str, Any], image_mean: bool = False) -> dict[str, Any]:
    """:func:`summary_row`, with precision and recall beside F1 (and the DSB image mean)."""
    column: dict[str, Any] = {}
    for key, value in summary_row(result).items():
        column[key] = value
        if key.startswith("F1@"):
            at = float(key[3:])
            first = next(p for p in result["per_threshold"] if abs(p["threshold"] - at) < 1e-4)
            column[f"precision@{key[3:]}"] = first["precision"]
            column[f"recall@{key[3:]}"] = first["recall"]
    if image_mean:
        column["AP img mean"] = result["dataset_ap"]
        column["planes left out (empty)"] = result["n_empty"]
    return column


def ap_text(total: dict[str, Any], images: int) -> str:
    """A total's DSB2018 AP for the status line; images empty on both sides are left out."""
    if images == 1:
        if total["n_gt"] == 0 and total["n_pred"] == 0:
            return "no object in either layer: nothing to score"
        return f"AP {total['ap']:.3f} (DSB2018: mean over IoU 0.5..0.95)"
    if total["dataset_ap"] is None:
        return "no plane holds an object in either layer: nothing to score"
    text = f"AP {total['dataset_ap']:.3f} (DSB2018: mean over IoU 0.5..0.95 and over planes)"
    empty = total["n_empty"]
    return text + (f"; {plural(empty, 'plane')} empty in both layers left out" if empty else "")


def tables(scores: dict[str, tuple], gt_name: str) -> dict[str, Any]:
    """The dock's titles, table values and status for the ``scores`` of one run.

    Keys: ``summary_title``, ``summary``, ``thresholds_title``, ``thresholds``, ``status``.
    One prediction: its total and each image; several: their totals side by side.
    """
    if len(scores) == 1:
        return _one(*next(iter(scores.items())), gt_name)
    return _side_by_side(scores, gt_name)


def _quoted(name: str) -> str:
    return html.escape(repr(name), quote=False)


def _one(name: str, result: tuple, gt_name: str) -> dict[str, Any]:
    """One prediction: metrics by total and image, and its total per IoU threshold."""
    per_image, total = result
    columns = [column(r) for r in per_image]
    names = [r["name"] for r in per_image]
    if len(per_image) > 1:
        columns.insert(0, column(total))
        names.insert(0, "total (pooled)")
    # Metrics as rows, images as columns (total first): reads well in a narrow dock.
    metrics = list(columns[0])
    keys = ["tp", "fp", "fn", "precision", "recall", "f1", "ap", "mean_matched_iou"]
    heads = ["TP", "FP", "FN", "precision", "recall", "F1", "AP", "mIoU"]
    if len(per_image) > 1:
        keys.append("dataset_ap")
        heads.append("AP img mean")
    what = f"{_quoted(name)} against {_quoted(gt_name)}"
    return {
        "summary_title": f"<b>Scores</b> of {what} (pooled total, then each image)",
        "summary": {
            "data": [[fmt(col[m]) for col in columns] for m in metrics],
            "index": metrics,
            "columns": names,
        },
        "thresholds_title": (
            f"<b>Total per IoU threshold</b> of {what} (a match needs IoU > threshold)"
        ),
        "thresholds": {
            "data": [[fmt(p[k]) for k in keys] for p in total["per_threshold"]],
            "index": [f"IoU > {p['threshold']:g}" for p in total["per_threshold"]],
            "columns": heads,
        },
        "status": (
            f"{plural(len(per_image), 'image')}, {total['n_gt']} true and "
            f"{plural(total['n_pred'], 'predicted object')}; {ap_text(total, len(per_image))}"
        ),
    }


def _side_by_side(scores: dict[str, tuple], gt_name: str) -> dict[str, Any]:
    """Several predictions: one column each (its pooled total), metrics as rows."""
    names = list(scores)
    heads = short_names(names)
    images = len(scores[names[0]][0])
    totals = [total if images > 1 else per[0] for per, total in scores.values()]
    columns = [column(t, image_mean=images > 1) for t in totals]
    metrics = list(columns[0])
    against = f"against {_quoted(gt_name)}"
    thresholds = totals[0]["per_threshold"]
    key = "dataset_ap" if images > 1 else "ap"  # as one prediction's status says
    pairs = zip(totals, names, strict=True)  # the status names the best in full
    scored = [th for th in pairs if ap_text(th[0], images).startswith("AP ")]
    best = max(scored, key=lambda th: th[0][key]) if scored else (totals[0], "")
    return {
        "summary_title": f"<b>Scores side by side</b> {against} (each prediction"
        + ("'s pooled total)" if images > 1 else ")"),
        "summary": {
            "data": [[fmt(col.get(m)) for col in columns] for m in metrics],
            "index": metrics,
            "columns": heads,
        },
        "thresholds_title": f"<b>AP per IoU threshold</b> {against} (each prediction)",
        "thresholds": {
            "data": [
                [fmt(t["per_threshold"][i]["ap"]) for t in totals] for i in range(len(thresholds))
            ],
            "index": [f"IoU > {p['threshold']:g}" for p in thresholds],
            "columns": heads,
        },
        "status": f"{len(names)} predictions, {plural(images, 'image')} each; "
        + (f"best: {best[1]!r}, " if scored else "")
        + ap_text(best[0], images),
    }
