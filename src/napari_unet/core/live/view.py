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

__all__ = ["VIEW_SPLIT_LIMIT", "split_limit", "view_labels", "view_precision"]

#: Instances over this many times the model's typical object area are not split in the view.
VIEW_SPLIT_LIMIT = 64


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
