"""Which way round an image's contrast is: bright objects on dark, or dark objects on bright.

Fluorescence shows bright nuclei on a dark background; brightfield and H&E histology show dark
nuclei on a bright one. Where the image's median lies in its own 1-99.8 percentile range, the
*background level*, tells them apart, because the background covers most pixels: on the
DSB2018 train images (never the test images) it is at most 0.19 for all 426 fluorescence
images and at least 0.43 for all 103 histology and brightfield ones. :data:`BRIGHT_BACKGROUND`
is the midway point between the two.

The level is measured as a grey model sees the image (colour channels averaged), on a
regular sample of at most about a million pixels of up to eight planes; a lazy (dask) image
so too when those planes hold at most :data:`LAZY_WHOLE` pixels (4096 x 4096; about two
million to judge once sampled, :data:`LAZY_JUDGED`), else on five
windows of its middle plane, so that a whole-slide image is not read whole. Of a
stack, each plane is judged against its own range (as the network normalises each plane)
and the median of the planes' levels is taken.

Light that rises across the field lifts the median of a fluorescence image too: at a rise of
the image's whole range, 137 of the 426 fluorescence train and val images read bright. So a
plane that reads bright is judged again with the light taken out (:func:`_unlit_level`): a
smooth surface fitted under the objects as for a dark background, and as for a bright one
(:mod:`~napari_unet.core.images.surface`, as flattening before prediction fits it). When
the first leaves it clearly dark (under :data:`UNLIT_DARK`) and the second does not leave it
clearly bright (under :data:`UNLIT_BRIGHT`), the plane is fluorescence under uneven light.

A fluorescence field with only a few nuclei (under 0.2% of the pixels) has a 1-99.8 range of
noise alone, and its median reads halfway: a plane reading bright is judged first against
its extremes (:func:`_tail_level`), and reads dark when its median lies in their lower
:data:`BRIGHT_BACKGROUND`. On the DSB2018 train and val images, as recorded and with
read-out or shot noise (``scripts/dsb_full.py``), that level is at least 0.43 for every
histology and brightfield image (and at most 0.31 for fluorescence); three nuclei in a
noisy 1024 x 1024 field read 0.41 by the 1-99.8 range and 0.05 by the extremes.
"""

from __future__ import annotations

import math

import numpy as np

from napari_unet.core.images.layout import _windows, fit_channels, is_lazy, plane_view

__all__ = [
    "BRIGHT_BACKGROUND", "PADDED_BRIGHT", "background_kind", "background_level", "dark_on_bright",
    "bright_from_light", "constant_margin",
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
#: A plane reading bright is fluorescence under uneven light when, with the light fitted
#: as for a dark background taken out, its level is below UNLIT_DARK, and with the light
#: fitted as for a bright background taken out, below UNLIT_BRIGHT. Midway in the gaps
#: measured on the DSB2018 train images, as recorded and with light rising along the
#: diagonal by 0.5, 1 and 1.5 times their range: fluorescence at most 0.18 and 0.75;
#: histology and brightfield at least 0.28 where the second is under 0.8, at least 0.87
#: where the first is under 0.2.
UNLIT_DARK = 0.22
UNLIT_BRIGHT = 0.8
#: A plane reading bright whose median lies below this in its range (pixel noise alone puts
#: it near 0.45) and whose extremes lie within its noise (:func:`_noise_only`) has no
#: contrast to judge. Sparse fields of DSB2018 histology background pixels with a nucleus
#: or three (``benchmarks/auto_choice.py``) whose extremes lie as close read 0.74 and more.
NOISE_LEVEL = 0.6
#: A lazy (dask) image with at most this many pixels to read (its sampled planes, every
#: channel) and at most :data:`LAZY_JUDGED` to judge is read and judged as one in memory;
#: a larger one (a slide) on five windows. Judged on its windows alone, a 603 x 1272 Zarr
#: embryo whose glowing interior filled them read bright and got the brightfield model (5
#: objects instead of 272).
LAZY_WHOLE = 4096 * 4096
#: The pixels judged (after the sample's stride) of a lazy image read whole: about two
#: sampled planes. The docks choose on the GUI thread, and judging costs about 0.35 s per
#: million pixels of a noisy stack (an (8, 1448, 1448) stack: 5 s in memory or read whole).
LAZY_JUDGED = 2 * 1024 * 1024
#: The window of the surface fit, in pixels of the full-size image (that of the built-in
#: models, trained on nuclei about 18 px across).
UNLIT_WINDOW = 64


def background_level(image, channel_axis=None, channel=None, trim: bool = False) -> float | None:
    """Where the image's median lies between its 1st and 99.8th percentiles (0 to 1).

    Of a stack, the median of its sampled planes' levels, each against its own range.
    A lazy (dask) image is judged as in memory when :func:`_grey_planes` reads it whole.

    Parameters
    ----------
    image : array-like
        numpy or dask, any layout :func:`~napari_unet.core.images.layout.layout` reads.
    channel_axis : int, "none" or None
        As for :func:`~napari_unet.core.images.layout.layout` (None guesses).
    channel : None, "mean" or int
        What a grey model reads of a multichannel image (the channel it will predict on).
    trim : bool
        Leave out a margin of constant padding (:func:`_trimmed`; not of a large lazy image).

    Returns
    -------
    float or None
        Near 0 for a dark background (fluorescence), near 1 for a bright one (brightfield);
        None for an image of one value (no contrast to judge). Of a plane that reads bright
        only because of uneven light, its level with the light taken out (see the module).

    Raises
    ------
    InputError
        If ``image`` is not an image array (a file name, say) or ``channel`` does not exist.
    """
    planes, window = _grey_planes(image, channel_axis, channel)
    return _level(planes, window, trim and window is not None)


def _grey_planes(image, channel_axis, channel) -> tuple[list[np.ndarray], int | None]:
    """The sampled grey planes (float64) the level is measured on, and the fit's window.

    A lazy image of up to :data:`LAZY_WHOLE` pixels to sample is read as one in memory
    is. The window (:data:`UNLIT_WINDOW` in the sample's pixels) is None for a larger lazy
    image, which gives one "plane" of its five windows' pixels, never trimmed nor judged
    again.
    """
    planes, _, rgba, shape = plane_view(image, 1, channel_axis)
    h, w = (int(s) for s in planes.shape[-2:])
    every = max(1, math.ceil(len(planes) / 8))
    stride = max(1, int(math.sqrt(h * w / 1e6)))  # of the sample: about a million pixels
    if is_lazy(planes) and _too_large(planes, every, stride):  # five windows: not read whole
        middle = planes[len(planes) // 2]
        found = np.stack([_windows(middle[c], h, w) for c in range(middle.shape[0])])
        grey = fit_channels(found[None, :, None], 1, channel, rgba, shape)
        return [np.asarray(grey, np.float64).reshape(1, -1)], None
    # Sampled before the channels are averaged: a colour image is not averaged whole.
    sample = np.asarray(planes[::every, :, ::stride, ::stride])
    grey = np.asarray(fit_channels(sample, 1, channel, rgba, shape)[:, 0], np.float64)
    return list(grey), max(8, round(UNLIT_WINDOW / stride))


def _too_large(planes, every: int, stride: int) -> bool:
    """Whether the lazy ``planes`` to sample (every ``every``-th) are too many to read whole.

    Over :data:`LAZY_WHOLE` pixels to read, or :data:`LAZY_JUDGED` to judge once sampled.
    """
    n, c, h, w = (int(v) for v in planes.shape)
    sampled = len(range(0, n, every)) * c
    judged = sampled * -(-h // stride) * -(-w // stride)
    return sampled * h * w > LAZY_WHOLE or judged > LAZY_JUDGED


def _level(planes: list[np.ndarray], window: int | None, trim: bool) -> float | None:
    """:func:`background_level` of sampled grey planes (``trim``: inside their padding).

    Each plane is judged against its own range, as the network normalises each plane on
    its own, and the median of their levels is taken: pooled, a time-lapse whose
    background drifts up read as a bright background. Planes of one value are left out.
    A plane reading bright is judged again without its light (:func:`_unlit_level`).
    """
    levels = []
    for plane in planes:
        inside = _trimmed(plane) if trim else plane
        level = _plane_level(inside.ravel())
        if window and level is not None and level > BRIGHT_BACKGROUND:
            # inside a margin of padding, always: a black border bends the fit of the light
            inside = inside if trim else _trimmed(plane)
            if level < NOISE_LEVEL and _noise_only(inside):
                levels.append(None)  # no contrast to judge: neither bright nor dark
                continue
            tail = _tail_level(inside)
            sparse = tail is not None and tail <= BRIGHT_BACKGROUND
            level = tail if sparse else _unlit_level(inside, window, level)
        levels.append(level)
    levels = [v for v in levels if v is not None]
    return float(np.median(levels)) if levels else None


def _unlit_level(plane: np.ndarray, window: int, level: float) -> float:
    """``level`` of a grey ``plane`` (2D), or its level without light that rises across it.

    The light is fitted as for a dark background (an opening) and as for a bright one (a
    closing): a fluorescence plane under uneven light reads clearly dark without the
    first and not clearly bright without the second; a brightfield or H&E plane reads
    bright without the second (see the module). A plane under two windows across keeps
    its level (the fit finds no light along so short a side).
    """
    from napari_unet.core.images.surface import evaluate, fit

    if not np.all(np.isfinite(plane)):  # NaN pixels: no surface to fit (refused later)
        return level
    unlit = []
    for bright, limit in ((False, UNLIT_DARK), (True, UNLIT_BRIGHT)):
        light = evaluate(fit(plane[None], bright, window), plane.shape, dtype=np.float64)[0]
        flat = _plane_level((plane - light).ravel())
        if flat is None or not flat < limit:
            return level
        unlit.append(flat)
    return unlit[0]


def _plane_level(values: np.ndarray) -> float | None:
    """Where the median of ``values`` lies in their 1-99.8 percentile range (None: one value)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, mid, high = np.percentile(values, (1.0, 50.0, 99.8))
    if not high > low:
        return None
    return float((mid - low) / (high - low))


def _tail_level(plane: np.ndarray) -> float | None:
    """Where the median of a grey ``plane`` (2D) lies between its extremes (None: flat).

    The extremes are the 0.01th percentile of its 2 x 2 blocks' maxima and the 99.99th of
    their minima: a single hot or dead pixel is no extreme, a nucleus is. When objects cover
    under 0.2% of the pixels, the 1-99.8 range (:func:`_plane_level`) is noise alone and
    the median lies in its middle: a fluorescence field with a few nuclei read bright.
    """
    h, w = plane.shape[0] - plane.shape[0] % 2, plane.shape[1] - plane.shape[1] % 2
    if h == 0 or w == 0 or not np.all(np.isfinite(plane)):
        return None
    blocks = plane[:h, :w].reshape(h // 2, 2, w // 2, 2)
    top = np.percentile(blocks.min(axis=(1, 3)), 99.99)
    bottom = np.percentile(blocks.max(axis=(1, 3)), 0.01)
    if not top > bottom:
        return None
    return float((np.median(plane) - bottom) / (top - bottom))


def _noise_only(plane: np.ndarray) -> bool:
    """Whether a grey ``plane`` (2D) shows nothing but pixel noise (no contrast to judge).

    An empty field (camera offset and read noise, no cells) has its median near the middle
    of its range (level 0.45, under :data:`NOISE_LEVEL`): it read bright, and ``auto``
    chose the brightfield model for it. Its most extreme 2 x 2 blocks (the brightest block
    minimum, the darkest block maximum: a single hot or dead pixel is none) lie 2.5 to 4
    noise sigmas apart, within the 5.2 that noise alone spans over the 1-99.8 percentiles
    (:func:`~napari_unet.core.images.normalize.noise_range`); one nucleus, or a
    brightfield or H&E image's contrast, rises far beyond.
    """
    from napari_unet.core.images.normalize import noise_range

    h, w = plane.shape[0] - plane.shape[0] % 2, plane.shape[1] - plane.shape[1] % 2
    if h == 0 or w == 0 or not np.all(np.isfinite(plane)):
        return False
    blocks = plane[:h, :w].reshape(h // 2, 2, w // 2, 2)
    spread = blocks.min(axis=(1, 3)).max() - blocks.max(axis=(1, 3)).min()
    return bool(spread <= noise_range(plane[None])[0])


def _trimmed(plane: np.ndarray) -> np.ndarray:
    """The part of ``plane`` inside a margin of constant padding, if it has one (2D).

    ``plane`` itself (the same object) when nothing is taken off (:func:`constant_margin`).
    """
    margin = constant_margin(plane)
    if margin is None:
        return plane  # no margin, or background: the plane itself
    top, bottom, left, right = margin
    return plane[top : plane.shape[0] - bottom, left : plane.shape[1] - right]


def constant_margin(
    plane: np.ndarray, one_value: bool = False
) -> tuple[int, int, int, int] | None:
    """The widths ``(top, bottom, left, right)`` of a margin of constant padding (2D), or None.

    Rows and columns of one value at the plane's edges (the black of missing tiles in a
    mosaic, the border a registration leaves) are the margin, never the whole plane, unless
    that value is common inside too (:data:`PADDING_INSIDE`: then it is background, and
    None is returned): padding is not background, and a brightfield tile in a mostly
    black mosaic was read as fluorescence. ``one_value``: every line of the margin holds
    the value of the first (a white border stops at black rows of the image's own).
    """
    top, bottom, left, right = 0, plane.shape[0], 0, plane.shape[1]
    first: list = []

    def flat(line: np.ndarray) -> bool:
        if line.size == 0 or not np.all(line == line.flat[0]):
            return False
        first[:] = first or [line.flat[0]]
        return not one_value or bool(line.flat[0] == first[0])

    while bottom - top > 1 and flat(plane[top, left:right]):
        top += 1
    while bottom - top > 1 and flat(plane[bottom - 1, left:right]):
        bottom -= 1
    while right - left > 1 and flat(plane[top:bottom, left]):
        left += 1
    while right - left > 1 and flat(plane[top:bottom, right - 1]):
        right -= 1
    if (top, bottom, left, right) == (0, plane.shape[0], 0, plane.shape[1]):
        return None
    inside = plane[top:bottom, left:right]
    if np.mean(inside == _edge_value(plane, top, bottom, left, right)) > PADDING_INSIDE:
        return None
    return top, plane.shape[0] - bottom, left, plane.shape[1] - right


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
    planes, window = _grey_planes(image, channel_axis, channel)  # sampled once for both
    found = _level(planes, window, trim=False)
    if found is None:
        return None
    if found > level:
        return "bright"
    if window is None or all(_trimmed(p) is p for p in planes):
        return "dark"  # nothing trimmed (or a large lazy image's windows): judged as above
    inside = _level(planes, window, trim=True)
    return "bright" if inside is not None and inside > max(level, PADDED_BRIGHT) else "dark"


def bright_from_light(image, channel_axis=None, channel=None) -> bool:
    """True when ``image`` reads bright as recorded only because of uneven light.

    Its background level as recorded is above :data:`BRIGHT_BACKGROUND`, and with the light
    taken out (:func:`_unlit_level`) below it: a fluorescence image under uneven light,
    which a model reading it as it is (``background="keep"``) sees as a bright background.
    """
    planes, window = _grey_planes(image, channel_axis, channel)
    if window is None:  # a lazy image: not judged again
        return False
    recorded = _level(planes, None, trim=False)
    if recorded is None or not recorded > BRIGHT_BACKGROUND:
        return False
    unlit = _level(planes, window, trim=False)
    return unlit is not None and unlit <= BRIGHT_BACKGROUND
