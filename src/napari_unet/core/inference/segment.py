"""Segmentation in one call: tiled prediction, then the model's post-processing.

:func:`iter_segment` (a generator of progress events) and :func:`segment` predict with a
:class:`~napari_unet.core.inference.plan.Predictor`, take its foreground class and label it
as its head says (:mod:`napari_unet.core.inference.instances`), using the settings of
:meth:`~napari_unet.core.inference.postprocess.Postprocess.for_model`. A whole dask image
stays lazy: only its foreground is computed, chunk by chunk.

With an ``object_size`` (the typical object diameter of the image, in pixels, or
``"estimate"``; ``"auto"``, the default, estimates where it can) each plane is first
resized to the scale of the model's training data (:mod:`napari_unet.core.inference.scale`)
and the results are resized back. A dask image is
then rescaled into memory, plane by plane: that costs the rescaled image (float32) and the
probabilities at full size (float32, one array per class), where without an object size
only the foreground is computed.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Generator

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.layout import is_lazy
from napari_unet.core.images.normalize import compute_stats
from napari_unet.core.images.sizes import typical_diameter
from napari_unet.core.inference import margins, scale
from napari_unet.core.inference.domain import DomainWarning, result_warnings
from napari_unet.core.inference.keywords import check_keywords, keywords_of
from napari_unet.core.inference.plan import Predictor, Region
from napari_unet.core.inference.postprocess import Postprocess, label_planes, snap_outlines
from napari_unet.core.inference.runner import PredictProgress
from napari_unet.core.inference.scale import ESTIMATE, ObjectSize
from napari_unet.core.inference.tiling import check_region
from napari_unet.core.models.carried import carried
from napari_unet.core.models.heads import DEFAULT_HEAD
from napari_unet.core.progress import drain

__all__ = ["estimate_object_size", "iter_estimate_object_size", "iter_labels", "iter_segment",
           "segment"]  # fmt: skip


def iter_labels(
    predictor: Predictor,
    post: Postprocess,
    image,
    region: Region | None = None,
    *,
    object_size: float | str | None = None,
    metadata: dict | None = None,
) -> Generator[object, None, tuple[np.ndarray, np.ndarray, object]]:
    """``(labels, foreground, probabilities)`` of ``image``, yielding progress.

    numpy input (or any input with a ``region``) gives numpy probabilities; a whole dask
    image gives lazy probabilities, of which only the foreground was computed. With an
    ``object_size`` (pixels, or ``"estimate"``) the image is predicted at the scale of the
    model's training data (``metadata["object_size"]``), an
    :class:`~napari_unet.core.inference.scale.ObjectSize` event is yielded before that
    prediction, and the results are resized back to the input's scale (numpy). The
    estimate's first pass is at the image's own scale; when it finds fewer than 5 objects,
    or objects within the sizes the model saw in training, it is the result. ``"auto"``
    estimates when the model records its object size, the image is in memory and no region
    is asked (else the image's own scale), and keeps the first pass when the rescaling would
    not fit in memory. Of an image in memory with a constant margin (a black border), the
    inside is segmented as the image (:mod:`~napari_unet.core.inference.margins`).
    """
    box = margins.inside_box(predictor, image, region)
    if box is not None:  # the inside as the image; labels 0 in the margin
        kw = {"object_size": object_size, "metadata": metadata}
        return (yield from margins.iter_inside(iter_labels, predictor, post, image, box, **kw))
    size = scale.check_object_size(object_size)
    auto = size == scale.AUTO
    if auto:
        size = ESTIMATE if _auto_estimates(metadata, image, region) else None
    if size is None:
        return (yield from _iter_native(predictor, post, image, region))
    model_size = scale.training_object_size(metadata)
    first = None
    if size == ESTIMATE:
        first = yield from _iter_native(predictor, post, image, region)
        info = estimate_from_labels(first[0], model_size, scale.trained_zoom(metadata))
        if auto and info.rescaled and not _fits(predictor, image, info.factor):
            note = "too large to rescale in the memory available"
            info = ObjectSize(info.diameter, model_size, 1.0, True, info.n_objects, note)
    else:
        info = scale.given_object_size(size, model_size)
    yield info
    if first is not None and not info.rescaled:
        return first
    return (yield from _iter_scaled(predictor, post, image, region, info.factor))


def _auto_estimates(metadata: dict | None, image, region) -> bool:
    """Whether ``object_size="auto"`` estimates: a recorded size, in memory, no region."""
    if region is not None or is_lazy(image):
        return False
    try:
        scale.training_object_size(metadata)
    except InputError:
        return False
    return True


def _fits(predictor: Predictor, image, factor: float) -> bool:
    """Whether the rescaling by ``factor`` fits in memory (:func:`scale.check_memory`)."""
    lay = predictor.layout(image)
    n, c, h, w = (int(v) for v in lay.planes.shape)
    itemsize = np.dtype(scale.working_dtype(lay.planes.dtype)).itemsize
    small = scale.scaled_shape((h, w), factor)
    try:
        scale.check_memory(n, c, predictor.n_classes, (h, w), small, itemsize)
    except InputError:
        return False
    return True


def _iter_native(predictor: Predictor, post: Postprocess, image, region):
    """``(labels, foreground, probabilities)`` at the image's own scale."""
    if is_lazy(image) and region is None:
        lay = predictor.layout(image)
        stats = [compute_stats(plane, predictor.spec) for plane in lay.planes]
        probs = predictor.lazy_probabilities(image, stats=stats)
        if predictor.head == DEFAULT_HEAD:  # the foreground alone decides: compute only it
            foreground = yield from _iter_by_chunk(predictor, image, probs, stats, True)
            return label_planes(foreground, **post.as_dict()), foreground, probs
        probs = yield from _iter_by_chunk(predictor, image, probs, stats)  # seeds: every class
    else:
        probs = yield from predictor.iter_probabilities(image, region)
    return predictor.instances(probs, post), predictor.foreground(probs), probs


def _iter_by_chunk(predictor: Predictor, image, lazy, stats, foreground: bool = False):
    """The numpy probabilities (or only the foreground) of a dask ``image``, chunk by chunk.

    Each chunk of ``lazy``'s grid is predicted as a region (in memory: that chunk's pixels
    and their context), so progress comes per tile and a stop acts after the tile, where
    computing the dask chunks gave one event per chunk (18 s or more on a laptop CPU). The
    result equals the chunks' (a region is predicted as in the whole image).
    """
    n = int(np.prod(predictor.layout(image).stack_shape, dtype=int))
    plans = predictor.plans(lazy.shape[-2:])
    edges = [np.cumsum((0, *chunks)).tolist() for chunks in lazy.chunks[-2:]]
    regions = [(ys, xs) for ys in zip(edges[0][:-1], edges[0][1:], strict=True)
               for xs in zip(edges[1][:-1], edges[1][1:], strict=True)]  # fmt: skip
    sizes = [n * len(plans[0].tiles(*ys)) * len(plans[1].tiles(*xs)) for ys, xs in regions]
    shape = lazy.shape[1:] if foreground else lazy.shape
    out, done = np.zeros(shape, np.float32), 0
    for (ys, xs), size in zip(regions, sizes, strict=True):
        gen = predictor.iter_probabilities(image, (ys, xs), stats)
        while True:
            try:
                step = next(gen)
            except StopIteration as stop:
                part = stop.value
                break
            yield PredictProgress(done + step.done, sum(sizes), step.plane, step.n_planes)
        done += size
        out[..., slice(*ys), slice(*xs)] = predictor.foreground(part) if foreground else part
    return out


def _iter_scaled(predictor: Predictor, post: Postprocess, image, region, factor: float):
    """:func:`_iter_native` on the planes resized by ``factor``; results resized back."""
    from skimage.segmentation import relabel_sequential

    lay = predictor.layout(image)
    n, c, h, w = (int(s) for s in lay.planes.shape)
    small = scale.scaled_shape((h, w), factor)
    if small == (h, w):
        return (yield from _iter_native(predictor, post, image, region))
    region = check_region(region, (h, w))
    itemsize = np.dtype(scale.working_dtype(lay.planes.dtype)).itemsize
    scale.check_memory(n, c, predictor.n_classes, (h, w), small, itemsize)
    window = scale.scaled_region(region, (h, w), small)
    plans = predictor.plans(small)
    tiles = n * len(plans[0].tiles(*window[0])) * len(plans[1].tiles(*window[1]))
    gen = scale.iter_rescale_planes(lay.planes, small, scale.blur_into(predictor))
    while True:  # progress 0 of the tiles while the stack is resized: a stop acts here
        try:
            resized = next(gen)
        except StopIteration as stop:
            planes = stop.value
            break
        yield PredictProgress(0, tiles, resized - 1, n)
    inner = copy.copy(predictor)  # the same plan, reading the (P, C, h, w) planes as they are
    inner.channel_axis, inner.channel = 1, None
    inner.spec = scale.spec_for_resized(predictor.spec, lay.planes.dtype)
    inner.denoise, inner.denoised = "off", {}  # decided at the image's scale (blur_into)
    labels, _, probs = yield from _iter_native(inner, post, planes, window)
    back = (region, window, (h, w), small)
    labels = scale.resample_back(np.asarray(labels, np.int32), *back, order=0)
    probs = scale.resample_back(np.asarray(probs, np.float32), *back, order=1)
    # Smooth the staircase outlines of enlarged labels along the resized foreground: on the
    # images of benchmarks/object_size.py the AP over IoU 0.5..0.95 gains about 0.015.
    reach = max(1, math.ceil(0.5 / factor))
    labels = snap_outlines(labels, predictor.foreground(probs), post.threshold, reach)
    # Shrinking (or snapping) may drop an object of a pixel or two: ids stay consecutive.
    labels = relabel_sequential(labels)[0].astype(np.int32, copy=False)
    labels = labels.reshape((*lay.stack_shape, *labels.shape[-2:]))
    probs = probs.reshape((probs.shape[0], *lay.stack_shape, *probs.shape[-2:]))
    return labels, predictor.foreground(probs), probs


def estimate_from_labels(labels, model_size: float, tolerance: float = 1.0) -> ObjectSize:
    """The object size of an image from a first segmentation at its own scale.

    The typical diameter of the objects found (:func:`~napari_unet.core.images.sizes.
    typical_diameter`: their median, pieces of cut cells and specks of noise left out). The
    model's scale is kept (the ``note`` says why) with fewer than
    :data:`~napari_unet.core.inference.scale.MIN_OBJECTS` objects, a scale beyond
    :data:`~napari_unet.core.inference.scale.MAX_FACTOR`, or one within ``tolerance`` either
    way (the sizes the model saw in training: the first pass is the result).
    """
    diameter, n = typical_diameter(np.asarray(labels))
    if n < scale.MIN_OBJECTS:
        note = f"too few objects ({n}) to estimate the object size (at least {scale.MIN_OBJECTS})"
        return ObjectSize(diameter, model_size, 1.0, True, n, note)
    factor = model_size / diameter
    if not 1 / scale.MAX_FACTOR <= factor <= scale.MAX_FACTOR:
        note = f"rescaling by {factor:.3g} is beyond the limit of {scale.MAX_FACTOR:g} times"
        return ObjectSize(diameter, model_size, 1.0, True, n, note)
    if 1 / tolerance <= factor <= tolerance:
        note = f"{scale.WITHIN_TRAINED} (up to {tolerance:.3g} times either way)"
        return ObjectSize(diameter, model_size, 1.0, True, n, note)
    return ObjectSize(diameter, model_size, factor, True, n)


def iter_segment(model, image, **kwargs) -> Generator[object, None, tuple[np.ndarray, object]]:
    """Generator twin of :func:`segment`: yields progress, returns ``(labels, probabilities)``.

    The probabilities are numpy for numpy input (or with a ``region`` or a rescaling
    ``object_size``), lazy for a whole dask image (its foreground was computed chunk by
    chunk for the labels). With an ``object_size`` an
    :class:`~napari_unet.core.inference.scale.ObjectSize` event (the size used, estimated or
    given, and the scale) is yielded before the prediction at that scale. A result that
    looks out of the model's domain issues a
    :class:`~napari_unet.core.inference.domain.DomainWarning` per sign, when it is returned.
    The keywords are those of :func:`segment`; the private ``_as_trained=True`` (validation
    and previews while a network trains) keeps the image's scale and light, and warns of
    nothing. The network's train/eval mode changes nothing (before, one left in ``train()``
    got no ``"auto"`` object size, light flattening or warnings).
    """
    labels, probs, found = yield from _iter_segment(model, image, **kwargs)
    for text in found:
        warnings.warn(text, DomainWarning, stacklevel=2)
    return labels, probs


def _iter_segment(
    model,
    image,
    *,
    threshold: float | None = None,
    min_size: int | None = None,
    gap: int | None = None,
    split: float | None = None,
    seed_level: float | None = None,
    metadata: dict | None = None,
    region: Region | None = None,
    object_size: float | str | None = scale.AUTO,
    _as_trained: bool = False,
    **settings,
):
    """``(labels, probabilities, out-of-domain warnings)``, yielding progress."""
    if _as_trained:  # validation, previews: the image as training reads it, no warnings
        object_size = None
        settings.setdefault("background", "keep")
    known = keywords_of(_iter_segment)[2:] + keywords_of(Predictor)[1:]  # not model, image
    check_keywords(settings, known, "segment")  # before, a TypeError naming the Predictor
    metadata = carried(model, metadata)  # a loaded model's own, when none is given
    predictor = Predictor(model, metadata=metadata, **settings)
    post = Postprocess.for_model(
        metadata,
        threshold=threshold,
        min_size=min_size,
        gap=gap,
        split=split,
        seed_level=seed_level,
    )
    seen: list[ObjectSize] = []
    gen = iter_labels(predictor, post, image, region, object_size=object_size, metadata=metadata)
    labels, foreground, probs = yield from _watch(gen, seen)
    found = []
    if not _as_trained:  # not while it trains (validation, previews)
        size = seen[-1] if seen else None
        found = result_warnings(
            labels, foreground, metadata, image, size, post.threshold, predictor
        )
    return labels, probs, found


def _watch(gen, seen: list):
    """Pass every event of ``gen`` on, keeping the ObjectSize ones; return its result."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, ObjectSize):
            seen.append(event)
        yield event


def segment(model, image, return_probabilities: bool = False, progress=None, **kwargs):
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
        Also return the probabilities (lazy for a whole dask image without object size).
    progress : callable, optional
        Called with every progress event: ``PredictProgress`` and, with an
        ``object_size``, the :class:`~napari_unet.core.inference.scale.ObjectSize` used.
    **kwargs
        ``threshold``, ``min_size``, ``gap``, ``split`` and ``seed_level`` (each: the value given,
        else the model file's recommendation, else the default of
        :class:`~napari_unet.core.inference.postprocess.Postprocess`), ``metadata`` (the
        model file's; by default the one a loaded model carries), ``region``,
        ``object_size`` (the typical object diameter in the image, pixels: each plane is
        resized to the model's training object size, recorded in its file, and the results
        back; ``"estimate"`` measures it with a first pass and rescales only when the
        objects are beyond the sizes the model saw in training; ``"auto"``, the default,
        estimates when the model records its object size, the image is in memory and no
        region is asked, else predicts at the image's own scale, as None does) and any
        keyword of :class:`~napari_unet.core.inference.plan.Predictor`.

    Returns
    -------
    numpy.ndarray or tuple
        int32 labels of shape ``(*stack, H, W)``; with ``return_probabilities`` also the
        probabilities ``(n_classes, *stack, H, W)``.

    Warns
    -----
    DomainWarning
        When the result looks like the image is unlike the model's training data (most of
        it foreground, or objects far larger than expected); the message says what to do.
    """
    labels, probs, found = drain(_iter_segment(model, image, **kwargs), progress)
    for text in found:
        warnings.warn(text, DomainWarning, stacklevel=2)
    return (labels, probs) if return_probabilities else labels


def iter_estimate_object_size(
    model, image, *, metadata: dict | None = None, region: Region | None = None, **kwargs
) -> Generator[object, None, ObjectSize]:
    """Generator twin of :func:`estimate_object_size`: yields progress, returns the size."""
    metadata = carried(model, metadata)
    model_size = scale.training_object_size(metadata)
    post = {k: kwargs.pop(k, None) for k in ("threshold", "min_size", "gap", "split", "seed_level")}
    predictor = Predictor(model, metadata=metadata, **kwargs)
    post = Postprocess.for_model(metadata, **post)
    labels, _, _ = yield from _iter_native(predictor, post, image, region)
    return estimate_from_labels(labels, model_size, scale.trained_zoom(metadata))


def estimate_object_size(model, image, **kwargs) -> ObjectSize:
    """Estimate the typical object diameter of ``image`` with one segmentation.

    The image is segmented at its own scale; the typical equivalent diameter
    (``2 * sqrt(area / pi)``) of the objects found, pieces and specks left out
    (:func:`~napari_unet.core.images.sizes.typical_diameter`), is its object size, and the
    scale for the model is the model's training object size (``metadata["object_size"]``)
    divided by it. With fewer than 5 objects, or a size within the sizes the model saw in
    training, the image's scale is kept, and the result says why.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the family.
    image : numpy.ndarray or dask.array.Array
        As for :func:`segment`.
    **kwargs
        ``metadata`` (the model file's, with its ``object_size``; by default the one a
        loaded model carries, so it is needed only for a network that carries none),
        ``region``,
        the post-processing settings and the keywords of
        :class:`~napari_unet.core.inference.plan.Predictor`.

    Returns
    -------
    ObjectSize
        ``diameter`` (pixels; None without objects), ``factor``, ``n_objects``, ``note``.
    """
    return drain(iter_estimate_object_size(model, image, **kwargs))
