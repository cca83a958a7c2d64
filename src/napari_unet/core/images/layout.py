"""How the axes of an input image map onto the ``(planes, channels, H, W)`` a model reads.

Prediction accepts ``(H, W)``; ``(H, W, C)`` (RGB last) or ``(C, H, W)``; stacks ``(Z, H, W)``,
``(Z, C, H, W)`` or ``(Z, H, W, C)``. :func:`layout` decides which axis is which (or takes the
caller's ``channel_axis``) and returns a view, numpy or dask, without copying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError


@dataclass(frozen=True)
class Layout:
    """Where the stack, channel and spatial axes of an input are."""

    planes: object  # (P, C, H, W) view of the input (numpy or dask)
    stack_shape: tuple[int, ...]
    take_first_channel: bool = False


def _check_array(image) -> None:
    shape = tuple(getattr(image, "shape", ()))
    dtype = np.dtype(getattr(image, "dtype", object))
    if len(shape) < 2:
        raise InputError(f"expected an image with at least 2 dimensions (H, W); got shape {shape}")
    if 0 in shape:
        raise InputError(f"the image is empty (shape {shape}); nothing to predict")
    if len(shape) > 4:
        raise InputError(
            f"expected (H, W), (H, W, C), (C, H, W), (Z, H, W) or (Z, C, H, W); got {len(shape)} "
            f"dimensions {shape}"
        )
    if not (np.issubdtype(dtype, np.number) or dtype.kind == "b") or np.issubdtype(
        dtype, np.complexfloating
    ):
        raise InputError(f"expected a real-valued numeric image; got dtype {dtype}")


def layout(image, in_channels: int, channel_axis: int | None = None) -> Layout:
    """Interpret the axes of ``image`` for a model with ``in_channels`` input channels.

    Parameters
    ----------
    image : array-like
        numpy or dask array.
    in_channels : int
        Channels the model expects.
    channel_axis : int, optional
        The channel axis; ``None`` guesses: a last axis of at most 4 that is smaller than
        the spatial axes is RGB-like; a first (or second, for 4D) axis equal to
        ``in_channels > 1`` is channel-first; anything else is a stack of planes.

    Returns
    -------
    Layout
        A ``(P, C, H, W)`` view and the stack shape.
    """
    if not is_lazy(image):
        image = np.asarray(image)
    _check_array(image)
    shape = tuple(int(s) for s in image.shape)
    ndim = len(shape)
    if channel_axis is None:
        if ndim >= 3 and shape[-1] <= 4 and shape[-1] < min(shape[-3], shape[-2]):
            channel_axis = ndim - 1
        elif ndim == 3 and in_channels > 1 and shape[0] == in_channels:
            channel_axis = 0
        elif ndim == 4 and shape[1] <= max(in_channels, 4):
            channel_axis = 1
        elif ndim == 4:
            raise InputError(
                f"cannot tell the channel axis of a 4D image of shape {shape}; pass channel_axis"
            )
    elif not -ndim <= channel_axis < ndim:
        raise InputError(f"channel_axis {channel_axis} is out of range for shape {shape}")
    xp = array_namespace(image)
    if channel_axis is None:
        planes = image[:, None] if ndim == 3 else image[None, None]
        stack_shape = (shape[0],) if ndim == 3 else ()
    else:
        if ndim == 2:
            raise InputError("a 2D image has no channel axis; pass channel_axis=None")
        moved = xp.moveaxis(image, channel_axis % ndim, -3)
        planes = moved[None] if ndim == 3 else moved
        stack_shape = () if ndim == 3 else (int(planes.shape[0]),)
    n_channels = planes.shape[1]
    if n_channels != in_channels:
        if in_channels == 1 and _channels_identical(planes):
            return Layout(planes[:, :1], stack_shape, True)
        raise InputError(
            f"the image has {n_channels} channel(s) (shape {shape}) but the model expects "
            f"{in_channels}; pass an image with {in_channels} channel(s) or set channel_axis"
        )
    return Layout(planes, stack_shape)


def is_lazy(image) -> bool:
    """True for a dask array (computed on demand), False for numpy and other arrays."""
    return type(image).__module__.startswith("dask")


def array_namespace(image):
    """``dask.array`` for dask arrays, else ``numpy``: the module whose functions fit ``image``."""
    if is_lazy(image):
        import dask.array as da

        return da
    return np


def _channels_identical(planes) -> bool:
    """True if all channels are equal (grey stored as RGB, as in DSB2018 fluorescence)."""
    h, w = planes.shape[-2:]
    stride = max(1, int(math.sqrt(h * w / 1e6)))
    sample = planes[:, :, ::stride, ::stride]
    if hasattr(sample, "compute"):
        sample = sample.compute()
    sample = np.asarray(sample)
    return bool(np.all(sample == sample[:, :1]))
