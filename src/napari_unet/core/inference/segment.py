"""Segmentation in one call: tiled prediction, then the model's post-processing.

:func:`iter_segment` (a generator of progress events) and :func:`segment` predict with a
:class:`~napari_unet.core.inference.plan.Predictor`, take its foreground class and label it
with :func:`~napari_unet.core.inference.postprocess.label_planes`, using the settings of
:meth:`~napari_unet.core.inference.postprocess.Postprocess.for_model`. A whole dask image
stays lazy: only its foreground is computed, chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from napari_unet.core.images.layout import is_lazy
from napari_unet.core.inference.plan import Predictor, Region
from napari_unet.core.inference.postprocess import Postprocess, label_planes
from napari_unet.core.progress import drain

__all__ = ["iter_labels", "iter_segment", "segment"]


def iter_labels(
    predictor: Predictor, post: Postprocess, image, region: Region | None = None
) -> Generator[object, None, tuple[np.ndarray, np.ndarray, object]]:
    """``(labels, foreground, probabilities)`` of ``image``, yielding progress.

    numpy input (or any input with a ``region``) gives numpy probabilities; a whole dask
    image gives lazy probabilities, of which only the foreground was computed.
    """
    if is_lazy(image) and region is None:
        from napari_unet.core.inference.chunked import iter_compute

        probs = predictor.lazy_probabilities(image)
        foreground = yield from iter_compute(predictor.foreground(probs))
    else:
        probs = yield from predictor.iter_probabilities(image, region)
        foreground = predictor.foreground(probs)
    return label_planes(foreground, **post.as_dict()), foreground, probs


def iter_segment(
    model,
    image,
    *,
    threshold: float | None = None,
    min_size: int | None = None,
    gap: int | None = None,
    split: float | None = None,
    metadata: dict | None = None,
    region: Region | None = None,
    **settings,
) -> Generator[object, None, tuple[np.ndarray, object]]:
    """Generator twin of :func:`segment`: yields progress, returns ``(labels, probabilities)``.

    The probabilities are numpy for numpy input (or with a ``region``), lazy for a whole
    dask image (its foreground was computed chunk by chunk for the labels).
    """
    predictor = Predictor(model, metadata=metadata, **settings)
    post = Postprocess.for_model(
        metadata, threshold=threshold, min_size=min_size, gap=gap, split=split
    )
    labels, _, probs = yield from iter_labels(predictor, post, image, region)
    return labels, probs


def segment(model, image, return_probabilities: bool = False, **kwargs):
    """Instance labels of ``image``: tiled prediction, then the post-processing.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the family; its foreground class is chosen as
        :func:`~napari_unet.core.inference.plan.foreground_class_of` says (override with
        ``foreground_class``).
    image : numpy.ndarray or dask.array.Array
        Raw pixels, any layout :func:`~napari_unet.core.inference.plan.predict` accepts.
        Stacks are labelled plane by plane, with ids unique over the stack.
    return_probabilities : bool
        Also return the probabilities (lazy for a whole dask image).
    **kwargs
        ``threshold``, ``min_size``, ``gap`` and ``split`` (each: the value given, else the
        model file's recommendation, else the default of
        :class:`~napari_unet.core.inference.postprocess.Postprocess`), ``metadata`` (the
        model file's), ``region`` and any keyword of
        :class:`~napari_unet.core.inference.plan.Predictor`.

    Returns
    -------
    numpy.ndarray or tuple
        int32 labels of shape ``(*stack, H, W)``; with ``return_probabilities`` also the
        probabilities ``(n_classes, *stack, H, W)``.
    """
    labels, probs = drain(iter_segment(model, image, **kwargs))
    return (labels, probs) if return_probabilities else labels
