"""What the Evaluate dock shows: numbers as text, short column names, the status's AP."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_unet.core.metrics import summary_row

__all__ = ["ap_text", "column", "fmt", "short_names"]


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
    return text + (f"; {empty} planes empty in both layers left out" if empty else "")
