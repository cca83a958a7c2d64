"""Which way round an image's contrast is: bright objects on dark, or dark objects on bright.

Fluorescence shows bright nuclei on a dark background; brightfield and H&E histology show dark
nuclei on a bright one. Where the image's median lies in its own 1-99.8 percentile range, the
*background level*, tells them apart, because the background covers most pixels: on the
DSB2018 train images (never the test images) it is at most 0.19 for all 426 fluorescence
images and at least 0.43 for all 103 histology and brightfield ones. :data:`BRIGHT_BACKGROUND`
is the midway point between the two.

The level is measured as a grey model sees the image (colour channels averaged), on a
regular sample of at most about a million pixels of up to eight planes; a lazy (dask) image
on five windows of its middle plane, so that a whole-slide image is not read whole. Of a
stack, each plane is judged against its own range (as the network normalises each plane)
and the median of the planes' levels is taken.
"""

from __future__ import annotations

import math

import numpy as np

from napari_unet.core.images.layout import _windows, fit_channels, is_lazy, plane_view

__all__ = [
    "BRIGHT_BACKGROUND", "PADDED_BRIGHT", "background_kind", "background_level", "dark_on_bright",
]

#: Background level above which an image is read as dark objects on a bright background.
BRIGHT_BACKGROUND = 0.3
#: The level inside a margin of constant padding above which an image is read so: only a
#: clearly bright inside counts (a fluorescence image cut to its nuclei reads high).
PADDED_BRIGHT = 0.5
#: A margin is padding only when its value is this rare inside it: a fluorescence image on
#: an exactly black background (background-subtracted, a crop of one cell) keeps black
#: between its nuclei, a brightfield tile in a black mosaic has none.
PADDING_INSIDE = 0.01


def background_level(image, channel_axis=None, channel=None, trim: bool = False) -> float | None:
    """Where the image's median lies between its 1st and 99.8th percentiles (0 to 1).

    Of a stack, the median of its sampled planes' levels, each against its own range.

    Parameters
    ----------
    image : array-like
        numpy or dask, any layout :func:`~napari_unet.core.images.layout.layout` reads.
    channel_axis : int, "none" or None
        As for :func:`~napari_unet.core.images.layout.layout` (None guesses).
    channel : None, "mean" or int
        What a grey model reads of a multichannel image (the channel it will predict on).
    trim : bool
        Leave out a margin of constant padding (:func:`_trimmed`; an image in memory).

    Returns
    -------
    float or None
        Near 0 for a dark background (fluorescence), near 1 for a bright one (brightfield);
        None for an image of one value (no contrast to judge).

    Raises
    ------
    InputError
        If ``image`` is not an image array (a file name, say) or ``channel`` does not exist.
    """
    return _level(_grey_planes(image, channel_axis, channel), trim and not is_lazy(image))


def _grey_planes(image, channel_axis, channel) -> list[np.ndarray]:
    """The sampled grey planes (float64) the level is measured on (see the module).

    A lazy image gives one "plane" of its five windows' pixels, which is never trimmed.
    """
    planes, _, rgba, shape = plane_view(image, 1, channel_axis)
    h, w = (int(s) for s in planes.shape[-2:])
    if is_lazy(planes):  # five windows of the middle plane: a slide is not read whole
        middle = planes[len(planes) // 2]
        found = np.stack([_windows(middle[c], h, w) for c in range(middle.shape[0])])
        grey = fit_channels(found[None, :, None], 1, channel, rgba, shape)
        return [np.asarray(grey, np.float64).reshape(1, -1)]
    # Sampled before the channels are averaged: a colour image is not averaged whole.
    every = max(1, math.ceil(len(planes) / 8))
    stride = max(1, int(math.sqrt(h * w / 1e6)))
    sample = np.asarray(planes[::every, :, ::stride, ::stride])
    return list(np.asarray(fit_channels(sample, 1, channel, rgba, shape)[:, 0], np.float64))


def _level(planes: list[np.ndarray], trim: bool) -> float | None:
    """:func:`background_level` of sampled grey planes (``trim``: inside their padding).

    Each plane is judged against its own range, as the network normalises each plane on
    its own, and the median of their levels is taken: pooled, a time-lapse whose
    background drifts up read as a bright background. Planes of one value are left out.
    """
    levels = [_plane_level(_trimmed(p) if trim else p.ravel()) for p in planes]
    levels = [v for v in levels if v is not None]
    return float(np.median(levels)) if levels else None


def _plane_level(values: np.ndarray) -> float | None:
    """Where the median of ``values`` lies in their 1-99.8 percentile range (None: one value)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, mid, high = np.percentile(values, (1.0, 50.0, 99.8))
    if not high > low:
        return None
    return float((mid - low) / (high - low))


def _trimmed(plane: np.ndarray) -> np.ndarray:
    """The pixels of ``plane`` inside a margin of constant padding, if it has one.

    Rows and columns of one value at the plane's edges (the black of missing tiles in a
    mosaic, the border a registration leaves) are taken off, never the whole plane, unless
    that value is common inside too (:data:`PADDING_INSIDE`: then it is background):
    padding is not background, and a brightfield tile in a mostly black mosaic was read as
    fluorescence.
    """
    top, bottom, left, right = 0, plane.shape[0], 0, plane.shape[1]

    def flat(line: np.ndarray) -> bool:
        return line.size > 0 and bool(np.all(line == line.flat[0]))

    while bottom - top > 1 and flat(plane[top, left:right]):
        top += 1
    while bottom - top > 1 and flat(plane[bottom - 1, left:right]):
        bottom -= 1
    while right - left > 1 and flat(plane[top:bottom, left]):
        left += 1
    while right - left > 1 and flat(plane[top:bottom, right - 1]):
        right -= 1
    inside = plane[top:bottom, left:right].ravel()
    cut = (top, bottom, left, right) != (0, plane.shape[0], 0, plane.shape[1])
    if cut and np.mean(inside == _edge_value(plane, top, bottom, left, right)) > PADDING_INSIDE:
        return plane.ravel()  # the edge's value fills the inside too: background, not padding
    return inside


def _edge_value(plane: np.ndarray, top: int, bottom: int, left: int, right: int):
    """The value of the first margin line taken off (all its pixels hold it)."""
    if top > 0:
        return plane[0, 0]
    if bottom < plane.shape[0]:
        return plane[-1, 0]
    return plane[0, 0] if left > 0 else plane[0, -1]


def dark_on_bright(image, channel_axis=None, channel=None, level: float = BRIGHT_BACKGROUND):
    """True when the image looks like dark objects on a bright background (brightfield, H&E).

    Its background level above ``level``; or, inside a margin of constant padding, above
    :data:`PADDED_BRIGHT`. An image of one value counts as not; an input that is not an
    image raises InputError.
    """
    return background_kind(image, channel_axis, channel, level) == "bright"


def background_kind(image, channel_axis=None, channel=None, level: float = BRIGHT_BACKGROUND):
    """``"bright"`` as :func:`dark_on_bright` says, else ``"dark"``; None for one value.

    The image is sampled once (a lazy image's five windows read once), for what a model
    file records of its training images and for the warning when an image reads the other
    way round.
    """
    planes = _grey_planes(image, channel_axis, channel)  # sampled once for both levels
    found = _level(planes, trim=False)
    if found is None:
        return None
    if found > level:
        return "bright"
    if is_lazy(image):  # windows of a lazy image are not trimmed: nothing more to learn
        return "dark"
    inside = _level(planes, trim=True)
    return "bright" if inside is not None and inside > max(level, PADDED_BRIGHT) else "dark"
