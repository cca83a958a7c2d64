"""Whole-slide labelling's checks: the settings it refuses, and its out-of-domain warnings.

:func:`slide_warnings` gives a slide the warnings ``segment`` gives an image in memory
(:mod:`~napari_unet.core.inference.domain`), without reading the slide whole: the channel and
contrast checks read five windows of it (as the built-in ``auto`` choice does), and the
foreground share is counted from the blocks' components (:func:`covered_pixels`). The object
size check is left out: the components' sizes before the split would flag joined cells.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.inference.domain import (
    FOREGROUND_LIMIT,
    _advice,
    _other_contrast,
    channel_warning,
)
from napari_unet.core.models.heads import DEFAULT_HEAD

__all__ = ["NOT_FOR_SLIDES", "check_settings", "covered_pixels", "slide_warnings"]

#: Keywords of ``segment`` that whole-slide labelling refuses, and what to do instead.
NOT_FOR_SLIDES = {
    "object_size": (
        "whole-slide labelling predicts at the image's own scale. Rescale the image to the "
        "model's object size first (a pyramid level whose objects are the size the model was "
        "trained on, or a resized copy), or label it in memory with segment(object_size=...)"
    ),
    "region": "it labels the whole image; crop the Zarr store, or use segment(region=...)",
    "seed_level": (
        "whole-slide labelling takes models of the paper head, which has no seeds (a seed "
        "level is for 3class and distance heads; label such a model's images with segment)"
    ),
}


def check_settings(predictor, image, post) -> None:
    """Refuse a head, an image or a threshold whole-slide labelling cannot take."""
    if predictor.head != DEFAULT_HEAD:
        raise InputError(
            f"whole-slide labelling supports the paper head (foreground + gaps); the model's "
            f"head is {predictor.head!r}"
        )
    lay = predictor.layout(image)
    if int(lay.planes.shape[0]) != 1:
        raise InputError(
            f"whole-slide labelling takes one 2D plane (channels allowed); the image has "
            f"{int(lay.planes.shape[0])} planes (shape {tuple(image.shape)})"
        )
    if post.threshold <= 0 or post.threshold >= 1:  # Postprocess checks; kept explicit
        raise InputError("threshold must be between 0 and 1")


def covered_pixels(found: dict, blocks: list, merge) -> int:
    """Pixels of the objects the merge kept (over ``min_size``), from the blocks' counts.

    ``found`` maps each block of ``blocks`` (in the merge's order) to its components'
    summary; ``merge.lut`` maps their provisional ids to global ids (0: dropped).
    """
    sizes = np.concatenate([np.zeros(1, np.int64), *(found[b].sizes for b in blocks)])
    return int(sizes[np.asarray(merge.lut) > 0].sum())


def slide_warnings(predictor, image, share: float | None) -> list[str]:
    """The out-of-domain warnings of a slide's result, as ``segment``'s (one sentence each).

    ``image`` is the slide (lazy), ``share`` the fraction of its pixels called foreground.
    The model's training background is the predictor's (its ``metadata``).
    """
    from napari_unet.core.images.layout import plane_view, without_alpha

    trained = {True: "bright", False: "dark"}.get(predictor.bright)
    n_in = predictor.in_channels
    try:  # (P, C, H, W), lazily: the channels the model reads, before they are fitted
        planes, _, rgba, _ = plane_view(image, n_in, predictor.channel_axis)
        planes = without_alpha(planes, n_in, rgba)
    except (InputError, ValueError):  # a check never fails a prediction
        return []
    found = []
    if int(planes.shape[1]) > 1:  # judged on five windows, as the contrast below
        averaged = channel_warning(_sample(planes), n_in, 1, predictor.channel, trained)
        found = [] if averaged is None else [averaged]
    if share is not None and share > FOREGROUND_LIMIT:
        found.append(
            f"{share:.0%} of the image was called foreground (cells are expected to cover "
            f"less than {FOREGROUND_LIMIT:.0%}): the image looks unlike this model's training "
            f"data; {_advice(planes, slide=True)}"
        )
    other = _other_contrast(trained, planes, 1, predictor.channel)
    return found if other is None else [*found, other]


def _sample(planes):
    """Five 256 px windows of the middle plane, as ``(1, C, 1, N)``: the slide not read whole."""
    from napari_unet.core.images.layout import _windows, is_lazy

    if not is_lazy(planes):
        return planes
    middle = planes[len(planes) // 2]
    h, w = (int(s) for s in planes.shape[-2:])
    found = [_windows(middle[c], h, w) for c in range(int(middle.shape[0]))]
    return np.stack(found)[None, :, None]
