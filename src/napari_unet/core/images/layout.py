"""How the axes of an input image map onto the ``(planes, channels, H, W)`` a model reads.

Prediction accepts ``(H, W)``; ``(H, W, C)`` (RGB last) or ``(C, H, W)``; stacks ``(Z, H, W)``,
``(Z, C, H, W)`` or ``(Z, H, W, C)``. :func:`layout` decides which axis is which (or takes the
caller's ``channel_axis``) and returns a view, numpy or dask, without copying; then
:func:`fit_channels` gives the model the channels it takes: the alpha of an RGBA image is
dropped (a last axis of 4 whose fourth channel holds one value everywhere, :func:`is_alpha`;
a fourth channel that varies is image content), and a grey (one-channel) model gets one
channel of a colour or multichannel image, the mean of them by default or the one chosen.
Training and measurements apply the same rule.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError

#: How a grey model reads a multichannel image: None (auto: one channel if they are all
#: equal, else their mean), ``"mean"``, or the index of the channel to use.
Channel = int | str | None


@dataclass(frozen=True)
class Layout:
    """Where the stack, channel and spatial axes of an input are."""

    planes: object  # (P, C, H, W) view of the input (numpy or dask)
    stack_shape: tuple[int, ...]


def check_not_a_name(image) -> None:
    """Refuse a file name given as the image (as an array it was 0-d: "got shape ()")."""
    if isinstance(image, str | os.PathLike):
        raise InputError(
            f"expected the image's pixels, not a file name ({image}): read it first "
            "(napari_unet.read_image)"
        )


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


def layout(
    image, in_channels: int, channel_axis: int | None = None, channel: Channel = None
) -> Layout:
    """Interpret the axes of ``image`` for a model with ``in_channels`` input channels.

    Parameters
    ----------
    image : array-like
        numpy or dask array.
    in_channels : int
        Channels the model expects.
    channel_axis : int, "none" or None
        The channel axis; ``"none"``: the image has none (a 3D image is a stack); ``None``
        guesses: a last axis of at most 4 that is smaller than the spatial axes is RGB-like,
        and so is a longer one of at most an eighth of them (channels that a TIFF records
        are read last, :func:`channels_last`);
        a first (or second, for 4D) axis equal to ``in_channels > 1`` is channel-first;
        anything else is a stack of planes.
    channel : None, "mean" or int
        For a grey model and a multichannel image, see :func:`fit_channels`.

    Returns
    -------
    Layout
        A ``(P, in_channels, H, W)`` array (a view unless channels were averaged) and the
        stack shape.
    """
    planes, stack_shape, rgba, shape = plane_view(image, in_channels, channel_axis)
    return Layout(fit_channels(planes, in_channels, channel, rgba, shape), stack_shape)


def plane_view(image, in_channels: int, channel_axis: int | None = None):
    """``(planes, stack_shape, rgba, shape)``: the ``(P, C, H, W)`` view :func:`layout` reads.

    All the image's channels, before :func:`fit_channels` chooses those the model takes
    (``rgba``: they are the input's last axis and four); ``shape`` is the input's.
    """
    check_not_a_name(image)
    check_channel_axis(channel_axis)
    if not is_lazy(image):
        try:
            image = np.asarray(image)
        except ValueError as exc:  # rows of unequal lengths: numpy's "inhomogeneous shape"
            raise InputError(
                f"the image is not a rectangular array ({exc}); give a numpy array, or nested "
                "lists whose rows all have the same length"
            ) from None
    _check_array(image)
    shape = tuple(int(s) for s in image.shape)
    ndim = len(shape)
    if channel_axis == "none":
        if ndim > 3:
            raise InputError(f"a {ndim}D image needs a channel axis; got shape {shape}")
        channel_axis = None
    elif channel_axis is None:
        if ndim >= 3 and _channels_last(shape):
            channel_axis = ndim - 1
        elif ndim == 3 and in_channels > 1 and shape[0] == in_channels:
            channel_axis = 0
        elif ndim == 4 and shape[1] <= max(in_channels, 4):
            channel_axis = 1
        elif ndim == 4:
            raise InputError(
                f"cannot tell the channel axis of a 4D image of shape {shape} (its second axis "
                "is read as channels when it is at most 4 long); in Python give channel_axis "
                "(0 for channels first); for napari-unet predict, save the file with its axes "
                "recorded: an OME-TIFF, e.g. tifffile.imwrite(path, data, ome=True, "
                "metadata={'axes': 'CZYX'}) for channels first"
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
    rgba = channel_axis is not None and channel_axis % ndim == ndim - 1 and shape[-1] == 4
    return planes, stack_shape, rgba, shape


def check_channel_axis(channel_axis) -> None:
    """Refuse a ``channel_axis`` that is neither an axis index, ``"none"`` nor None."""
    if channel_axis is None or channel_axis == "none":
        return
    if not isinstance(channel_axis, int | np.integer) or isinstance(channel_axis, bool):
        raise InputError(
            f"channel_axis must be an axis index (-1: channels last, 0: first), 'none' (no "
            f"channel axis) or None (guessed); got {channel_axis!r}"
        )


def _channels_last(shape: tuple[int, ...]) -> bool:
    """Whether the last axis of a 3D or 4D ``shape`` looks like channels, not width.

    Up to 4 (grey, RGB, RGBA, or 2-4 fluorescence channels) when smaller than the other
    two axes; more when they are at least 8 times as large: a plane a few pixels wide is
    no image a model segments, a multiplexed image with 5-40 channels is.
    """
    last, side = shape[-1], min(shape[-3], shape[-2])
    return (last <= 4 and last < side) or 8 * last <= side


def fit_channels(planes, in_channels: int, channel: Channel = None, rgba: bool = False, shape=()):
    """``(P, C, H, W)`` planes with the ``in_channels`` channels a model takes.

    * The alpha of an RGBA image (``rgba``: the input's last axis holds the four channels)
      is dropped when it is one (:func:`is_alpha`: one value everywhere, as in DSB2018's
      RGBA PNGs), unless the model itself takes four channels. A fourth channel that varies
      is data (a 4-channel fluorescence TIFF is read channel-last): before, it was dropped
      from the shape alone and such images trained 3-channel models on the wrong data.
    * A grey model (``in_channels == 1``) reads one channel: ``channel`` picks it by index;
      ``"mean"`` averages all; ``None`` (auto) takes the first if all are equal (grey stored
      as RGB) and the mean otherwise. The mean keeps an integer image's dtype (rounded).
    * A colour model (``in_channels == 3``) reads a grey image as grey RGB (the plane
      three times), as a grey picture is shown on screen.
    * Otherwise the counts must agree.

    Raises
    ------
    InputError
        A channel index out of range, a channel choice for a multichannel model, or a count
        the model cannot take.
    """
    planes = without_alpha(planes, in_channels, rgba)
    n = int(planes.shape[1])
    if channel is not None and channel != "mean":
        index = isinstance(channel, int | np.integer) and not isinstance(channel, bool)
        if in_channels != 1 or not index:
            raise InputError(
                f"channel={channel!r}: a channel index (0..{n - 1}) or 'mean' chooses what a "
                f"grey model reads; this model takes {in_channels} channel(s)"
            )
        if not 0 <= channel < n:
            raise InputError(f"channel {channel} does not exist: the image has {n} channel(s)")
        return planes[:, int(channel) : int(channel) + 1]
    if n == in_channels:
        return planes
    if n == 1 and in_channels == 3:
        return planes[:, [0, 0, 0]]
    if in_channels == 1:
        if channel is None and _channels_identical(planes):
            return planes[:, :1]
        return _mean_channel(planes)
    data = " (its fourth channel varies: data, not an RGBA alpha)" if rgba and n == 4 else ""
    raise InputError(
        f"the image has {n} channel(s){f' (shape {shape})' if shape else ''}{data} but the "
        f"model expects {in_channels}: it was trained on {in_channels}-channel images; give "
        f"images with {in_channels} channel(s), or use a model trained on {n}-channel images"
    )


def without_alpha(planes, in_channels: int, rgba: bool = False):
    """``(P, C, H, W)`` planes without an RGBA image's alpha, as :func:`fit_channels` reads them.

    The fourth channel is dropped when ``rgba`` (the input's last axis holds four channels),
    it is an alpha (:func:`is_alpha`) and the model does not take four channels.
    """
    if rgba and int(planes.shape[1]) == 4 and in_channels != 4 and is_alpha(planes[:, 3]):
        return planes[:, :3]
    return planes


def is_alpha(channel) -> bool:
    """Whether the fourth channel of an image (``(..., H, W)``) is an alpha: one value.

    An opaque alpha (DSB2018's images, most PNG exports) holds one value everywhere. A
    varying fourth channel is data, 8-bit too: an ImageJ 8-bit composite of four channels
    is read channel-last like an RGBA array, and dropping its fourth channel lost real
    data; an RGBA array with transparency is read as four channels (pass ``image[..., :3]``;
    a PNG or TIFF file's alpha is dropped on reading, whatever it holds). Judged on a
    regular sample of at most about a million pixels per plane (as
    :func:`_channels_identical`); a lazy image on five windows of it.
    """
    h, w = channel.shape[-2:]
    if is_lazy(channel):  # a strided sample reads every chunk, each time a layout is made
        sample = _windows(channel, h, w)
    else:
        stride = max(1, int(math.sqrt(h * w / 1e6)))
        sample = np.asarray(channel[..., ::stride, ::stride])
    return sample.size > 0 and bool(np.all(sample == sample.flat[0]))


def _windows(channel, h: int, w: int, side: int = 256) -> np.ndarray:
    """The pixels of five ``side`` x ``side`` windows of a lazy channel (centre, quadrants).

    A fourth channel of a 2048 x 2048 Zarr image in 256 px chunks was read whole (64
    chunks) for every prediction region; five windows read at most twenty chunks.
    """
    import dask

    a, b = min(side, h), min(side, w)
    spots = [(h // 2, w // 2), (h // 4, w // 4), (h // 4, 3 * w // 4),
             (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]  # fmt: skip
    parts = []
    for y, x in spots:
        y0, x0 = min(max(0, y - a // 2), h - a), min(max(0, x - b // 2), w - b)
        parts.append(channel[..., y0 : y0 + a, x0 : x0 + b])
    return np.concatenate([np.asarray(p).ravel() for p in dask.compute(*parts)])


def _mean_channel(planes):
    """The mean over channels, as ``(P, 1, H, W)``, in the input's dtype for integers."""
    mean = planes.mean(axis=1, keepdims=True, dtype=np.float32)
    kind = np.dtype(planes.dtype).kind
    if kind in "ui":
        mean = mean.round().astype(planes.dtype)
    elif kind == "b":
        mean = mean.astype(np.float32)
    return mean


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


def channels_last(data, axes: str):
    """``data`` with the channel axis that ``axes`` names (``C``) moved last, where images keep it.

    ``axes`` are the letters a file records for its axes (tifffile's ``series.axes``;
    OME-Zarr's axis names): ImageJ hyperstacks, OME-TIFF and OME-Zarr record ``C``. An ImageJ
    ``CYX`` file is then read as ``(Y, X, C)``, never as a stack of planes, and ``ZCYX`` or
    OME's ``CZYX`` as ``(Z, Y, X, C)``. Files that record no channel axis are left as they
    are, and :func:`~napari_unet.core.images.layout.layout` guesses. So are a colour TIFF's
    samples stored plane by plane (``S``): tifffile writes every 3- or 4-plane array that
    way unless told otherwise, so ``S`` first says nothing about a stack of planes.
    """
    axes = axes.upper()
    found = [k for k, a in enumerate(axes) if a == "C"]
    if len(axes) != data.ndim or len(found) != 1 or found[0] == data.ndim - 1:
        return data
    return array_namespace(data).moveaxis(data, found[0], -1)


#: The most channels of a ``(C, H, W)`` image (unless the model takes more): as many as
#: prediction's guess of a channel axis allows (:func:`layout`); more are planes.
MAX_CHANNELS_FIRST = 4


def split_channels(
    image: np.ndarray, label_shape: tuple, what: str, in_channels: int | None = None
) -> np.ndarray:
    """A training image as ``(..., C, H, W)``, matching its labels' shape (2D or stack).

    ``(C, H, W)`` with 2D labels: channels up to :data:`MAX_CHANNELS_FIRST` or
    ``in_channels``; more are a stack 2D labels do not annotate (a 12-frame series with one
    frame's labels trained a 12-channel model, which prediction read as 12 planes). Several
    are refused for a model of one channel (``in_channels`` 1): it was trained on their
    mean, and prediction read them as planes (:mod:`.planeaxes`).
    """
    if image.shape == label_shape:
        return image[..., None, :, :]
    if image.ndim == len(label_shape) + 1:
        if image.shape[:-1] == label_shape:  # channels last (RGB)
            return np.moveaxis(image, -1, -3)
        if len(label_shape) == 2 and image.shape[1:] == label_shape:  # (C, H, W)
            n = image.shape[0]
            if 1 < n <= MAX_CHANNELS_FIRST and in_channels == 1:
                from napari_unet.core.images.planeaxes import grey_channels_first

                raise grey_channels_first(what, image.shape, label_shape)
            if n <= MAX_CHANNELS_FIRST or n == in_channels:
                return image
            raise InputError(
                f"{what}: the image has {n} planes (shape {tuple(image.shape)}) but its labels "
                f"are 2D {tuple(label_shape)}: give (Z, Y, X) labels of every plane, or one "
                f"plane of the image (an image of more than {MAX_CHANNELS_FIRST} channels "
                "stores them last, (Y, X, C))"
            )
        if len(label_shape) == 3 and image.shape[:1] + image.shape[2:] == label_shape:
            return image  # (Z, C, H, W)
    raise InputError(
        f"{what}: image shape {tuple(image.shape)} does not match labels shape "
        f"{tuple(label_shape)}; the image must have the labels' shape, optionally with one "
        f"channel axis (first or last)"
    )


def extra_axis(image_shape: tuple, labels_shape: tuple) -> int | None:
    """The axis of an image that its labels lack (its channels), or None.

    ``(Y, X, C)``, ``(C, Y, X)`` and ``(Z, C, Y, X)`` (:func:`layout` reads a 4D image's
    second axis as channels) against labels ``(Y, X)`` or ``(Z, Y, X)``; when several axes
    would fit, the second of a 4D image, else the last.
    """
    if len(image_shape) != len(labels_shape) + 1:
        return None
    fits = [
        k for k in range(len(image_shape))
        if image_shape[:k] + image_shape[k + 1 :] == tuple(labels_shape)
    ]  # fmt: skip
    if len(image_shape) == 4 and 1 in fits:
        return 1
    if len(image_shape) - 1 in fits:
        return len(image_shape) - 1
    return fits[0] if fits else None
