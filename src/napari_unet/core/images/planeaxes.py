"""Planes or channels: the one rule of train, predict, evaluate, the docks, TIFF and OME-Zarr.

- An axis a file or layer names z or t (an ImageJ or OME-TIFF ``ZYX``/``TYX``, an OME-Zarr
  image's axes, the ``axis_labels`` napari-unet's reader gives a layer) holds planes, never a
  model's channels: a model of several channels is refused such a stack
  (:func:`planes_not_channels`), and so is training it with 2D labels
  (:func:`planes_not_labelled`), which would read its planes as channels.
- A file that names two plane axes and no channel (a time-lapse of z-stacks, ``TZYX``) is
  refused (:func:`refuse_two_plane_axes`): TIFF and OME-Zarr alike.
- A ``(C, Y, X)`` array that names no axes, C at most 4: prediction reads it as channels
  for a model of exactly C channels, else as C planes
  (:func:`~napari_unet.core.images.layout.plane_view`). Training with 2D labels reads it as
  channels, so a model of one channel is refused it (:func:`grey_channels_first`): it
  would be trained on their mean and then predict each of them as a plane.
"""

from __future__ import annotations

from napari_unet.core.errors import InputError

#: The plane axes a file names (tifffile's and OME-Zarr's letters): time and depth.
PLANE_LETTERS = "TZ"

_WHAT = {"Z": "z-planes", "T": "time points"}


def refuse_two_plane_axes(
    where, axes: str, what: str = "the file records axes", ndim: int | None = None
) -> None:
    """Refuse axes (letters, last two y and x) with two plane axes and no channel.

    Stacks have one plane axis; a fourth axis is read as channels, and guessing would
    average a time-lapse's z-planes as if they were channels (an OME-Zarr ``t, z, y, x``
    did, where an OME-TIFF ``TZYX`` was refused). Letters that do not fit ``ndim`` (the
    array's axes, when given) say nothing.
    """
    axes = axes.upper()
    if ndim is not None and len(axes) != ndim:
        return
    planes = [a for a in axes[:-2] if a not in "CSQ"]
    if len(planes) > 1 and not set(axes) & set("CSQ"):
        raise InputError(
            f"{where}: {what} {axes} (two plane axes and no channel); napari-unet "
            "segments one stack of planes at a time: save each time point to its own file"
        )


def planes_not_channels(letter: str, n: int, channels: int, who: str = "the file") -> str:
    """Why a stack whose first axis ``who`` names ``letter`` (z or t) is no model's channels."""
    return (
        f"{who} names its first axis {letter.lower()}: {n} {_WHAT[letter.upper()]} of one "
        f"channel each, and the model reads {channels} channels; give it images of "
        f"{channels} channels (a file that names its channel axis c), or use a model of one "
        "channel"
    )


def planes_not_labelled(letter: str, shape: tuple, label_shape: tuple) -> str:
    """Why a stack named z or t with 2D labels is refused for training."""
    return (
        f"the file names its first axis {letter.lower()}: {shape[0]} "
        f"{_WHAT[letter.upper()]} of one channel each (shape {tuple(shape)}), but its labels "
        f"are 2D {tuple(label_shape)}, so its planes would be trained as a model's channels "
        "(which predict and evaluate refuse for that file): give (Z, Y, X) labels of every "
        "plane, or one plane of the image"
    )


def grey_channels_first(what: str, shape: tuple, label_shape: tuple) -> InputError:
    """The refusal of a ``(C, Y, X)`` image with 2D labels for a model of one channel."""
    n = shape[0]
    return InputError(
        f"{what}: the image has {n} planes first (shape {tuple(shape)}) and 2D labels "
        f"{tuple(label_shape)}, and the model reads one channel: training would average "
        f"them, while prediction reads such an image as {n} planes, one segmentation each. "
        "Give one plane of the image (the nuclear channel; in napari open it with one layer "
        f"per channel, channel_axis=0), (Z, Y, X) labels of every plane, the channels last "
        "(Y, X, C) or in a file that names its channel axis (ImageJ CYX), which prediction "
        f"reads as channels too (--channel N picks one), or train from scratch (a model of "
        f"{n} channels)"
    )
