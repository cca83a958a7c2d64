"""Images fitted to a bioimage.io package's input: planes, channels, regions."""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.layout import layout

__all__ = ["image_planes", "window_around"]


def image_planes(image, channel_axis, in_channels: int, channel=None):
    """``((Z, C, H, W) float32, is_stack)`` of an image fitted to the model's channels.

    The axes and channels are read as for napari-unet's own models (:func:`.layout`:
    ``channel_axis`` None guesses, ``"none"`` says there is none; :func:`.fit_channels`).
    """
    lay = layout(np.asarray(image, dtype=np.float32), in_channels, channel_axis, channel)
    return np.ascontiguousarray(lay.planes), bool(lay.stack_shape)


def window_around(shape, region, halo: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The window of a ``shape`` plane around ``region`` (with ``halo``); the region in it."""
    (y0, y1), (x0, x1) = region
    h, w = shape
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise InputError(f"the region {region} is not inside the {h}x{w} image")
    a, b = max(0, y0 - halo), max(0, x0 - halo)
    c, d = min(h, y1 + halo), min(w, x1 + halo)
    return (slice(a, c), slice(b, d)), (slice(y0 - a, y1 - a), slice(x0 - b, x1 - b))
