"""Which way round an image's contrast is: bright objects on dark, or dark objects on bright.

Fluorescence shows bright nuclei on a dark background; brightfield and H&E histology show dark
nuclei on a bright one. Where the image's median lies in its own 1-99.8 percentile range, the
*background level*, tells them apart, because the background covers most pixels: on the
DSB2018 train images (never the test images) it is at most 0.19 for all 426 fluorescence
images and at least 0.43 for all 103 histology and brightfield ones. :data:`BRIGHT_BACKGROUND`
is the midway point between the two.

The level is measured as a grey model sees the image (colour channels averaged), on a
regular sample of at most about a million pixels of up to eight planes; a lazy (dask) image
on five windows of its middle plane, so that a whole-slide image is not read whole.
"""

from __future__ import annotations

import math

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.layout import _windows, is_lazy, layout

__all__ = ["BRIGHT_BACKGROUND", "background_level", "dark_on_bright"]

#: Background level above which an image is read as dark objects on a bright background.
BRIGHT_BACKGROUND = 0.3


def background_level(image, channel_axis=None) -> float | None:
    """Where the image's median lies between its 1st and 99.8th percentiles (0 to 1).

    Parameters
    ----------
    image : array-like
        numpy or dask, any layout :func:`~napari_unet.core.images.layout.layout` reads.
    channel_axis : int, "none" or None
        As for :func:`~napari_unet.core.images.layout.layout` (None guesses).

    Returns
    -------
    float or None
        Near 0 for a dark background (fluorescence), near 1 for a bright one (brightfield);
        None for an image of one value (no contrast to judge).
    """
    planes = layout(image, 1, channel_axis).planes  # (P, 1, H, W), colour averaged
    h, w = (int(s) for s in planes.shape[-2:])
    if is_lazy(planes):
        sample = _windows(planes[len(planes) // 2], h, w)
    else:
        every = max(1, math.ceil(len(planes) / 8))
        stride = max(1, int(math.sqrt(h * w / 1e6)))
        sample = np.asarray(planes[::every, :, ::stride, ::stride])
    sample = np.asarray(sample, np.float64).ravel()
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    low, mid, high = np.percentile(sample, (1.0, 50.0, 99.8))
    if not high > low:
        return None
    return float((mid - low) / (high - low))


def dark_on_bright(image, channel_axis=None, level: float = BRIGHT_BACKGROUND) -> bool:
    """True when the image looks like dark objects on a bright background (brightfield, H&E).

    An image of one value, or one whose layout cannot be read, counts as not.
    """
    try:
        found = background_level(image, channel_axis)
    except InputError:
        return False
    return found is not None and found > level
