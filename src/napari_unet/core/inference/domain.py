"""Out-of-domain checks: signs that an image is unlike the data a model was trained on.

A model trained on fluorescence nuclei, given a brightfield image, calls the bright
background foreground and returns a few huge "cells" without complaint. Two signs give it
away, and both are cheap to measure on the result:

- most of the image is foreground (more than :data:`FOREGROUND_LIMIT`; no DSB2018
  fluorescence ground truth has more than 41%), and
- the objects are far larger than expected: their median diameter is more than
  :data:`SIZE_LIMIT` times the object size given (or estimated) for the image, else the
  object size the model file records for its training data.

A model whose file records the background of its training images (``background``:
``"dark"`` for fluorescence, ``"bright"`` for brightfield and H&E; training records it) is
also warned about on an image whose contrast runs the other way: such a model typically
finds nothing there (nuclei-brightfield on fluorescence: no object at all), which neither
sign above catches.

A grey model (one input channel) given an image of several channels that differ (DAPI and a
membrane or cytoplasm stain, as an RGB merge or an ImageJ ``CYX`` hyperstack) reads their
mean unless a channel is chosen; the other stain blurs the nuclei in that mean (AP50 0.815
-> 0.12-0.33 on 12 DSB2018 train images), so that is warned about too (:func:`channel_warning`).

:func:`domain_warnings` is a pure function of the result; ``segment`` issues each warning
as a :class:`DomainWarning` and the command line prints it on one line.
"""

from __future__ import annotations

import math

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.contrast import dark_on_bright
from napari_unet.core.images.sizes import plane_diameters

__all__ = [
    "FOREGROUND_LIMIT",
    "SIZE_LIMIT",
    "DomainWarning",
    "channel_warning",
    "domain_warnings",
    "result_warnings",
]

#: Foreground fraction above which an image is flagged.
FOREGROUND_LIMIT = 0.6
#: Median object diameter, as a multiple of the expected object size, above which it is flagged.
SIZE_LIMIT = 3.0


class DomainWarning(UserWarning):
    """The image looks unlike the model's training data: the labels are probably wrong.

    The message says what was seen and what to do. Collect them with
    ``warnings.catch_warnings(record=True)``, or call
    :func:`~napari_unet.core.inference.domain.domain_warnings` on the result.
    """


def domain_warnings(
    labels,
    foreground=None,
    metadata: dict | None = None,
    image=None,
    *,
    object_size: float | None = None,
    threshold: float = 0.5,
    channel_axis=None,
    channel=None,
    in_channels: int | None = None,
) -> list[str]:
    """Warnings (one sentence each, with what to do) when a result looks out of domain.

    Parameters
    ----------
    labels : array-like
        The instance labels (``(*stack, H, W)``).
    foreground : array-like, optional
        The foreground probability of the same pixels: a pixel counts as foreground when it
        is labelled and (if given) its probability is above ``threshold``.
    metadata : dict, optional
        The model file's metadata (``object_size``: its training object size).
    image : array-like, optional
        The input (numpy or dask), to tell a bright background (dark cells) in the advice.
    object_size : float, optional
        The object size given (or estimated) for the image, in its pixels; compared with
        instead of the model's training object size.
    threshold : float
        Foreground probability threshold (the post-processing's).
    channel_axis, channel
        How the model read ``image`` (as for ``segment``): its contrast is judged on that.
    in_channels : int, optional
        The model's input channels: with 1 (a grey model) and ``channel`` None (auto), an
        ``image`` of several channels that differ is warned about (:func:`channel_warning`).

    Returns
    -------
    list of str
        Empty when the result looks like the model's own kind of data.
    """
    found = []
    called = np.asarray(labels) > 0
    if foreground is not None:
        called &= np.asarray(foreground) > threshold
    fraction = float(np.mean(called))
    if fraction > FOREGROUND_LIMIT:
        found.append(
            f"{fraction:.0%} of the image was called foreground (cells are expected to "
            f"cover less than {FOREGROUND_LIMIT:.0%}): the image looks unlike this model's "
            "training data"
        )
    expected, what = object_size, "the object size given"
    if expected is None:
        expected, what = (metadata or {}).get("object_size"), "the model's training object size"
    # The segmentation's own labels, not judged as a user's file (a (Y, X, 3) stack of
    # channel_axis="none" was refused as "a colour image")
    sizes = plane_diameters(np.asarray(labels))
    diameter, n = (float(np.median(sizes)) if sizes.size else None), int(sizes.size)
    if diameter is not None and _positive(expected) and diameter > SIZE_LIMIT * expected:
        found.append(
            f"the {n} objects found are {diameter / expected:.1f} times larger than "
            f"{what} (median diameter {diameter:.0f} px, expected about {expected:.3g} px)"
        )
    advice = _advice(image) if found else ""
    found = [f"{text}; {advice}" for text in found]
    other = _other_contrast((metadata or {}).get("background"), image, channel_axis, channel)
    found = found if other is None else [*found, other]
    trained = (metadata or {}).get("background")
    averaged = channel_warning(image, in_channels, channel_axis, channel, trained)
    return found if averaged is None else [averaged, *found]


def channel_warning(
    image, in_channels: int | None, channel_axis=None, channel=None, background=None
) -> str | None:
    """A warning when a grey model averages ``image``'s channels that differ, else None.

    As :func:`~napari_unet.core.images.layout.fit_channels` reads it: only for a model of one
    input channel with ``channel`` None (auto; ``"mean"`` or an index is the user's choice),
    after an RGBA image's alpha is dropped, and only when the channels are not all equal
    (grey stored as RGB is read as one channel), judged on the same sample. Not for a model
    whose file records a ``"bright"`` background (brightfield, H&E): it was trained on the
    mean of colour images (nuclei-brightfield on an H&E image reads it as trained).
    """
    from napari_unet.core.images.layout import _channels_identical, plane_view, without_alpha

    if in_channels != 1 or channel is not None or image is None or background == "bright":
        return None
    try:
        planes, _, rgba, _ = plane_view(image, 1, channel_axis)
        planes = without_alpha(planes, 1, rgba)
        n = int(planes.shape[1])
        if n < 2 or _channels_identical(planes):
            return None
    except (InputError, ValueError, MemoryError):  # a check never fails a prediction
        return None
    return (
        f"this model reads one channel and averaged the image's {n} channels, which differ "
        "(a membrane or cytoplasm stain in that mean blurs the nuclei); if the nuclei are in "
        "one channel (a DAPI or Hoechst stain), choose that channel (its index, from 0): "
        "channel= in Python, --channel on the command line, or the Predict dock's channel "
        "setting (channel 'mean' averages them without this warning)"
    )


#: What a recorded ``background`` means.
BACKGROUNDS = {
    "dark": "bright objects on a dark background (fluorescence)",
    "bright": "dark objects on a bright background (brightfield, H&E)",
}


def _other_contrast(trained, image, channel_axis, channel) -> str | None:
    """A warning when ``image`` reads the other way round than the model's training data."""
    from napari_unet.core.images.contrast import background_kind

    if not isinstance(trained, str) or trained not in BACKGROUNDS or image is None:
        return None
    try:
        seen = background_kind(image, channel_axis, channel)
    except InputError:  # a layout this check cannot read: never a failure
        return None
    if seen is None or seen == trained:  # one value: no contrast to judge
        return None
    return (
        f"this model was trained on {BACKGROUNDS[trained]}, but the image shows "
        f"{BACKGROUNDS[seen]}; to fix it, choose a model trained on such images (the "
        "built-in 'auto' chooses nuclei or nuclei-brightfield by the image), or fine-tune "
        "this one on a few annotated cells"
    )


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _advice(image, slide: bool = False) -> str:
    """What to do of an out-of-domain result; ``slide``: for whole-slide labelling.

    A slide is labelled at its own scale and refuses an object size: its advice says to
    label a pyramid level or a resized copy instead (before, it said to give the size).
    """
    size = "give the object size (the typical cell diameter in pixels, or 'estimate')"
    if slide:
        size = "label a pyramid level or a resized copy whose objects are the model's size"
    steps = [
        size,
        "choose a model trained on this kind of image",
        "or fine-tune this one on a few annotated cells",
    ]
    invert = "invert the contrast if the objects are dark on a bright background"
    if image is not None and _mostly_bright(image):
        invert = "the image is mostly bright: if the cells are dark on a bright background, "
        invert += "use a model for such images (the built-in nuclei-brightfield, or auto, "
        invert += "which chooses by the image) or invert its contrast (image.max() - image)"
    return "to fix it, " + ", ".join([invert, *steps])


def _mostly_bright(image) -> bool:
    """True if the median pixel lies in the upper half of the 1-99.8 percentile range."""
    try:
        return dark_on_bright(image, level=0.5)
    except InputError:  # a layout this check cannot read: no advice, never a failure
        return False


def result_warnings(
    labels, foreground, metadata, image, size, threshold=0.5, predictor=None
) -> list[str]:
    """The out-of-domain warnings of a result (:func:`domain_warnings`).

    Objects against the size used (given, estimated, else the model's); contrast as the
    network read it (with the background the predictor flattened taken out: there the
    light, not the specimen, set the median); uneven light kept (``"keep"``) on an image it
    makes read bright.
    """
    expected = size.diameter if size is not None and size.rescaled else None
    raw = image
    try:  # (P, C, H, W): the channels the model reads, as training judged its images
        image, axis = predictor.layout(image).planes, 1
    except (AttributeError, InputError):  # no predictor, or a layout it refuses
        axis = None
    if axis is not None and predictor.surfaces:  # judged as the network read it
        from napari_unet.core.images.background import flattened_planes

        try:
            box = _flattened_inside(predictor, raw, size)
            image = flattened_planes(image, predictor.surfaces, box)
        except (InputError, ValueError, MemoryError):  # a check never fails a prediction
            axis, image = None, None
    averaged = None
    if predictor is not None:  # judged on the image as given, before its channels were fitted
        settings = [getattr(predictor, k, None) for k in ("in_channels", "channel_axis", "channel")]
        averaged = channel_warning(raw, *settings, (metadata or {}).get("background"))
    found = domain_warnings(
        labels,
        foreground,
        metadata,
        image,
        object_size=expected,
        threshold=threshold,
        channel_axis=axis,
    )
    found = found if averaged is None else [averaged, *found]
    light = _light_kept(predictor, image, axis)
    return found if light is None else [*found, light]


def _flattened_inside(predictor, image, size):
    """The inside of a constant margin the predictor's surfaces were fitted on, or None.

    A black border's inside is predicted as the image
    (:mod:`~napari_unet.core.inference.margins`), so its light was fitted there: at the
    inside's shape, or that shape rescaled by the object size used. Surfaces of another
    shape (a region was asked: the whole plane) were fitted on the whole plane.
    """
    from napari_unet.core.inference.margins import inside_box
    from napari_unet.core.inference.scale import scaled_shape

    box = inside_box(predictor, image)
    if box is None:
        return None
    inside = tuple(b - a for a, b in box)
    if size is not None and size.rescaled:
        inside = scaled_shape(inside, size.factor)
    fitted = {tuple(found.shape) for found in predictor.surfaces.values()}
    return box if fitted == {inside} else None


def _light_kept(predictor, image, axis) -> str | None:
    """A warning when the light was kept (``"keep"``) on an image it makes read bright.

    Such an image is fluorescence under uneven light (the auto model choice and the
    contrast warning judge it without its light, so they say nothing of it), and the
    network saw its bright side as cells.
    """
    from napari_unet.core.images.contrast import bright_from_light

    if getattr(predictor, "background", None) != "keep" or image is None:
        return None
    try:
        if not bright_from_light(image, axis):
            return None
    except (InputError, ValueError, MemoryError, np.linalg.LinAlgError):  # never a failure
        return None
    return (
        "the light rises across the image by more than its cells' contrast (it reads as a "
        "bright background only because of that) and was kept as it is: predict with "
        "background 'auto' (the default) to flatten it first"
    )
