"""Images fitted to a bioimage.io package's input: planes, channels, regions."""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["crop_around", "image_planes"]


def image_planes(image, channel_axis, in_channels: int, channel=None):
    """``((Z, C, H, W) float32, is_stack)`` of an image fitted to the model's channels."""
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
    c = arr.shape[1]
    if isinstance(channel, int | np.integer) and not isinstance(channel, bool):
        if not 0 <= channel < c:
            raise InputError(f"channel {channel} does not exist; the image has {c}")
        arr, c = arr[:, channel : channel + 1], 1
    if c != in_channels:
        if in_channels == 1:
            arr = arr[:, :3].mean(1, keepdims=True)  # the mean colour (an alpha never counts)
        elif c == 4 and in_channels == 3:
            arr = arr[:, :3]  # RGBA: the colour channels
        elif c == 1 and in_channels == 3:
            arr = np.repeat(arr, 3, axis=1)  # grey as grey RGB
        else:
            raise InputError(f"the model takes {in_channels} channels; the image has {c}")
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
