"""Images fitted to a bioimage.io package's input: planes, channels, regions."""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.layout import layout

__all__ = ["image_planes", "input_steps", "window_around"]


def image_planes(image, channel_axis, in_channels: int, channel=None):
    """``((Z, C, H, W) float32, is_stack)`` of an image fitted to the model's channels.

    The axes and channels are read as for napari-unet's own models (:func:`.layout`:
    ``channel_axis`` None guesses, ``"none"`` says there is none; :func:`.fit_channels`).
    """
    lay = layout(np.asarray(image, dtype=np.float32), in_channels, channel_axis, channel)
    return np.ascontiguousarray(lay.planes), bool(lay.stack_shape)


def input_steps(descr) -> tuple[int, int]:
    """The size steps of a package input's y and x axes (1 for a fixed size)."""
    steps = {str(a.id): int(getattr(getattr(a, "size", None), "step", 1) or 1)
             for a in descr.inputs[0].axes}  # fmt: skip
    return steps.get("y", 1), steps.get("x", 1)


def window_around(
    shape, region, halo: int, steps: tuple[int, int] = (1, 1)
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The window of a ``shape`` plane around ``region`` (with ``halo``); the region in it.

    The window starts on a multiple of ``steps`` (the input's size steps: a U-Net's
    pooling), so its blocks pool as the whole image's do: started elsewhere, the view's
    values differed from the whole prediction's by up to 0.2.
    """
    (y0, y1), (x0, x1) = region
    h, w = shape
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise InputError(f"the region {region} is not inside the {h}x{w} image")
    a, b = max(0, y0 - halo), max(0, x0 - halo)
    a, b = a - a % steps[0], b - b % steps[1]
    c, d = min(h, y1 + halo), min(w, x1 + halo)
    return (slice(a, c), slice(b, d)), (slice(y0 - a, y1 - a), slice(x0 - b, x1 - b))
