"""Labels of the Live dock's view: the model's own post-processing, blobs left whole.

Before the model has learnt an image, the paper's head often calls most of it one blob. Its
split into joined cells (h-maxima of the distance map and a watershed, one instance at a
time) then cuts that blob into arbitrary pieces and takes most of a view refresh: 0.4-1.0 s
of about 1.2 s for a 1024 x 1024 view on 2 CPU cores. A blob many times the size of the
model's training objects is not cells yet, so the view keeps it whole; every instance up to
that size is split as the model file recommends.

The view is a preview, predicted again every few seconds while the model changes: on a CPU
with bf16 matrix units (Intel AMX) it runs in bf16, about twice as fast as fp32 with the same
objects (``benchmarks/cpu_bf16.py``: AP50 of the bf16 instances against the fp32 ones 0.98-1.0
on validation images of both built-in models). Saved models and the Predict dock stay fp32.
"""

from __future__ import annotations

import math

import numpy as np

from napari_unet.core.device import PRECISIONS, cpu_has_fast_bf16
from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import Postprocess

__all__ = [
    "VIEW_MAX_PIXELS",
    "VIEW_SPLIT_LIMIT",
    "capped_view",
    "split_limit",
    "view_labels",
    "view_precision",
    "view_probabilities",
]

#: Instances over this many times the model's typical object area are not split in the view.
VIEW_SPLIT_LIMIT = 64
#: The most pixels of the view that are predicted (its centre): about 1 s on 2 CPU cores.
#: A whole 8192 x 8192 image in view took over 3 minutes per refresh (while Stop waited).
VIEW_MAX_PIXELS = 1024 * 1024


def capped_view(box, max_pixels: int = VIEW_MAX_PIXELS) -> tuple[tuple[int, ...], bool]:
    """``box`` (y0, y1, x0, x1) cut to its centre of at most ``max_pixels``; and if it was.

    The view's shape is kept (its aspect ratio), at least one pixel high and wide.
    """
    y0, y1, x0, x1 = (int(v) for v in box)
    h, w = y1 - y0, x1 - x0
    if h * w <= max_pixels:
        return (y0, y1, x0, x1), False
    f = math.sqrt(max_pixels / (h * w))
    nh = min(h, max(1, int(h * f)))
    nw = min(w, max(1, max_pixels // nh))
    nh = min(h, max(1, max_pixels // nw))
    top, left = y0 + (h - nh) // 2, x0 + (w - nw) // 2
    return (top, top + nh, left, left + nw), True


class _Stopped(Exception):
    """The trainer was asked to stop during the view's prediction."""


def view_probabilities(predictor, raw: np.ndarray, region, stopped) -> np.ndarray | None:
    """The probabilities of ``region`` of ``raw``; None when ``stopped()`` turns true.

    Checked after every tile: Stop (and closing napari) waited for the whole view.
    """
    from napari_unet.core.progress import drain

    def check(_event) -> None:
        if stopped():
            raise _Stopped

    try:
        return drain(predictor.iter_probabilities(raw, region), check)
    except _Stopped:
        return None


def split_limit(metadata: dict | None) -> int | None:
    """The largest area (pixels) the view splits, from the model's recorded object size."""
    size = (metadata or {}).get("object_size")
    if not isinstance(size, int | float) or not size > 0 or not math.isfinite(size):
        return None
    return int(VIEW_SPLIT_LIMIT * math.pi / 4 * size * size)


def view_labels(predictor, probabilities, post: Postprocess, metadata: dict | None):
    """int32 instance labels of ``(K, H, W)`` probabilities, for the view."""
    return np.asarray(
        predictor.instances(probabilities, post, split_max_area=split_limit(metadata))
    )


def view_precision(setting: str = "auto") -> str:
    """The precision of the view's prediction: ``"auto"`` is bf16 where the CPU has AMX."""
    if setting == "auto":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if setting not in PRECISIONS:
        raise InputError(f"view precision must be auto, {', '.join(PRECISIONS)}; got {setting!r}")
    return setting
