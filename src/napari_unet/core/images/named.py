"""Whether a file names its first axis as planes (z or t): no model reads them as channels.

:func:`~napari_unet.core.images.io.read_image` gives an image's pixels, channels last; a 2-4
plane ``(Z, Y, X)`` array is then read by a model of as many input channels as its channels
(:func:`~napari_unet.core.images.layout.layout` can only guess from the shape). Files that
record their axes say which it is: an ImageJ hyperstack or an OME-TIFF (``ZYX``, ``TYX``)
and an OME-Zarr image (its ``axes``). :func:`check_planes` reads those letters and refuses
such a stack for a model of several channels in ``napari-unet
predict``, ``evaluate`` and the Review dock, as the Predict dock does with the axis names
napari-unet's reader gives a layer (a model of one channel predicts it plane by plane);
:func:`check_labelled_planes` refuses it with 2D labels in ``napari-unet train``
(:mod:`~napari_unet.core.images.planeaxes`: the one rule).
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import TIFF_SUFFIXES, is_zarr
from napari_unet.core.images.planeaxes import (
    PLANE_LETTERS,
    planes_not_channels,
    planes_not_labelled,
)

__all__ = ["check_labelled_planes", "check_planes", "file_axes"]


def file_axes(path: str | os.PathLike, ndim: int) -> str:
    """The letters of the axes of ``read_image(path)``, an array of ``ndim`` axes.

    Channels last (``"ZYXC"``), as reading moves them; "" where the file records no axes
    (a PNG, a plain TIFF, a Zarr array) or where they do not fit ``ndim``.
    """
    p = Path(path)
    try:
        if is_zarr(p):
            from napari_unet.core.images.omezarr import open_image

            letters = open_image(p).axes
        elif p.suffix.lower() in TIFF_SUFFIXES:
            letters = _tiff_axes(p, ndim)
        else:
            return ""
    except Exception:  # noqa: BLE001 - reading the pixels said what is wrong with the file
        return ""
    return letters if len(letters) == ndim else ""


def _tiff_axes(p: Path, ndim: int) -> str:
    import tifffile

    from napari_unet.core.images.tiffmeta import image_series

    with tifffile.TiffFile(p) as tf:
        letters = tf.series[image_series(p, tf.series)].axes.upper()
    if letters.endswith("S") and len(letters) == ndim + 1:  # the alpha dropped, one sample left
        letters = letters[:-1]
    if "C" in letters:
        letters = letters.replace("C", "") + "C"
    return letters


def _plane_letter(path, image) -> str:
    ndim = len(getattr(image, "shape", ()))
    letters = file_axes(path, ndim) if ndim == 3 else ""
    return letters[0] if letters and letters[0] in PLANE_LETTERS else ""


def check_planes(path: str | os.PathLike, image, in_channels) -> None:
    """Refuse a stack the file names for a model of several channels.

    A ``(Z, Y, X)`` or ``(T, Y, X)`` image whose file names its first axis z or t: its planes
    are never a model's channels. ``in_channels``: the model's, or a callable giving them
    (called only for such a stack). Before, ``napari-unet predict``, ``evaluate`` and the
    Review dock read a z-stack of two planes as the two channels of one image for a model of
    two channels (one the Train dock trained on two channels), and gave one labels plane for
    the two.
    """
    if not callable(in_channels) and in_channels <= 1:  # the file is not read
        return
    letter = _plane_letter(path, image)
    channels = (in_channels() if callable(in_channels) else in_channels) if letter else 1
    if channels > 1:
        raise InputError(planes_not_channels(letter, image.shape[0], channels))


def check_labelled_planes(path: str | os.PathLike, image, label_shape) -> None:
    """Refuse for training a stack the file names z or t whose labels are 2D.

    Training reads the first axis of a ``(P, Y, X)`` image with ``(Y, X)`` labels as its
    channels: a 3-channel model trained on an ImageJ ``ZYX`` file's z-planes, which predict
    and evaluate (:func:`check_planes`) then refused for that very file.
    """
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) != 3 or len(label_shape) != 2 or shape[1:] != tuple(label_shape):
        return
    letter = _plane_letter(path, image)
    if letter:
        raise InputError(f"{path}: {planes_not_labelled(letter, shape, label_shape)}")
