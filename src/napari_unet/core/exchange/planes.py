"""Images fitted to a bioimage.io package's input: planes, channels, regions."""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.layout import fit_channels

__all__ = ["crop_around", "image_planes"]


def image_planes(image, channel_axis, in_channels: int, channel=None):
    """``((Z, C, H, W) float32, is_stack)`` of an image fitted to the model's channels.

    The channels are fitted as for napari-unet's own models (:func:`.fit_channels`).
    """
    arr = np.asarray(image, dtype=np.float32)
    if channel_axis is not None:
        arr = np.moveaxis(arr, channel_axis, -3)
    else:
        arr = arr[..., None, :, :]
    if arr.ndim not in (3, 4):
        raise InputError(
            f"expected one 2D image plane or a stack of them; got shape {np.shape(image)}"
        )
    stack = arr.ndim == 4
    arr = arr if stack else arr[None]
    # The napari-unet rules: the alpha of a 4-channel image never counts, a grey model reads
    # the mean colour or the chosen channel, a colour model reads grey as grey RGB.
    arr = fit_channels(arr, in_channels, channel, rgba=True, shape=np.shape(image))
    return np.ascontiguousarray(arr), stack


def crop_around(planes: np.ndarray, region, halo: int):
    """The planes around ``region`` (with ``halo`` context) and the region's slices in them."""
    (y0, y1), (x0, x1) = region
    h, w = planes.shape[-2:]
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise InputError(f"the region {region} is not inside the {h}x{w} image")
    a, b = max(0, y0 - halo), max(0, x0 - halo)
    c, d = min(h, y1 + halo), min(w, x1 + halo)
    inner = (slice(y0 - a, y1 - a), slice(x0 - b, x1 - b))
    return planes[..., a:c, b:d], inner
