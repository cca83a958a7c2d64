"""The out-of-domain warnings of the review's predictions, as the Predict dock gives them.

The Predict dock, ``segment`` and ``napari-unet predict`` say when an image looks unlike the
model's training data (:mod:`~napari_unet.core.inference.domain`): a grey model that averaged
an image's channels that differ (DAPI and a membrane stain, an ImageJ ``CYX`` file), most of
the image called foreground, objects much larger than expected. The review's prefetch thread
predicted such images without a word (a 2-channel image gave no objects, and no message).
Now the thread finds the same warnings when it predicts an image (:func:`predict_noted`), and
the channel warning of a prediction read back from the cache (:func:`cached_notes`, on the
image alone: the rest needs the prediction's probabilities and object size). The
:class:`~napari_unet.core.review.items.Item` keeps them (``notes``) and the Review dock says
them when it shows the image. Labels from disk (reviewed, another tool's file) get none.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.inference.domain import channel_warning, result_warnings

__all__ = ["REVIEW_CHANNEL", "Stopped", "cached_notes", "predict_noted"]

#: What the channel warning adds in a review: the Review dock has no channel setting.
REVIEW_CHANNEL = (
    "; the Review dock has no channel setting: predict the folder with that channel "
    "(napari-unet predict MODEL FOLDER --channel N -o LABELS) and open LABELS as the "
    "review's labels folder"
)


class Stopped(Exception):
    """The prefetcher was closed during a prediction."""


def predict_noted(
    predictor, post, image, metadata: dict | None, stopped: Callable[[], bool], noted: bool
) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(labels, notes)`` of ``image``, predicted as ``napari-unet predict`` does.

    The object size is estimated where the model records its own (``"auto"``); ``notes``
    are the out-of-domain warnings of the result (none unless ``noted``: an image predicted
    ahead into the cache alone is not kept). Raises :class:`Stopped` once ``stopped()``.
    """
    from napari_unet.core.inference.scale import AUTO, ObjectSize
    from napari_unet.core.inference.segment import iter_labels

    gen = iter_labels(predictor, post, image, metadata=metadata, object_size=AUTO)
    size = None
    while True:
        if stopped():
            gen.close()
            raise Stopped
        try:
            event = next(gen)
        except StopIteration as stop:
            labels, foreground, _ = stop.value
            break
        if isinstance(event, ObjectSize):
            size = event
    labels = np.asarray(labels)
    if not noted:
        return labels, ()
    try:  # a check never fails a prediction
        threshold = post.threshold
        found = result_warnings(labels, foreground, metadata, image, size, threshold, predictor)
    except (InputError, ValueError, MemoryError):
        return labels, ()
    averaged = _averaged(image, metadata, predictor)
    return labels, tuple(t + REVIEW_CHANNEL if t == averaged else t for t in found)


def cached_notes(image, metadata: dict | None, predictor) -> tuple[str, ...]:
    """The channel warning of a cached prediction of ``image`` (it was averaged too)."""
    averaged = _averaged(image, metadata, predictor)
    return () if averaged is None else (averaged + REVIEW_CHANNEL,)


def _averaged(image, metadata: dict | None, predictor) -> str | None:
    if predictor is None:
        return None
    settings = [getattr(predictor, k, None) for k in ("in_channels", "channel_axis", "channel")]
    return channel_warning(image, *settings, (metadata or {}).get("background"))
