"""Segmentation metrics: instance matching, DSB2018 average precision, pixel and Rand scores.

Every metric is computed from one sparse contingency table of (ground-truth id,
predicted id) pixel counts (:mod:`~napari_unet.core.metrics.contingency`). The package is
split by kind: :mod:`~napari_unet.core.metrics.matching` (objects matched at IoU
thresholds), :mod:`~napari_unet.core.metrics.pixel` (foreground and Rand scores) and
:mod:`~napari_unet.core.metrics.summary` (one image, many images, table rows) and
:mod:`~napari_unet.core.metrics.region` (score only inside an annotated region). See
``docs/metrics.md`` for the definitions and the conventions for empty images.
"""

from napari_unet.core.metrics.matching import (
    DSB_THRESHOLDS,
    MatchResult,
    instance_ious,
    match_instances,
)
from napari_unet.core.metrics.pixel import pixel_metrics
from napari_unet.core.metrics.region import restrict_to_region
from napari_unet.core.metrics.summary import (
    EvaluateProgress,
    EvaluateStep,
    evaluate,
    evaluate_many,
    iter_evaluate_many,
    summarize,
    summary_row,
)

__all__ = [
    "DSB_THRESHOLDS",
    "EvaluateProgress",
    "EvaluateStep",
    "MatchResult",
    "evaluate",
    "evaluate_many",
    "iter_evaluate_many",
    "instance_ious",
    "match_instances",
    "pixel_metrics",
    "restrict_to_region",
    "summarize",
    "summary_row",
]
