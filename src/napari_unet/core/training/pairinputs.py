"""The checks of :func:`~napari_unet.core.training.pairs.make_pairs`' inputs, pair by pair.

One label image (and region, and name) per image; labels that are instance labels, not a
mask or a file name; the image with the channels the model takes; the annotated region.
"""

from __future__ import annotations

import os

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import check_labels, check_not_saved_mask
from napari_unet.core.images.normalize import check_pixels

__all__ = ["check_counts", "checked_image", "checked_labels", "checked_region", "listed"]


def refuse_name(value, name: str, what: str, how: str) -> None:
    """Refuse a file name given for an array: read as an array it was 0-d ("0D ()").

    As :func:`~napari_unet.segment` refuses one: the caller reads the file (``how``).
    """
    if isinstance(value, str | bytes | os.PathLike):
        raise InputError(
            f"{name}: expected the {what} pixels, not a file name ({value!r}): read it "
            f"first ({how})"
        )


def checked_labels(labels, name: str):
    """``labels`` checked as instance labels; a mask or a file name is an InputError.

    A boolean mask, or a 0/255 mask as Fiji saves it (one id of 255 or 65535 over 3 or
    more separate cells; :func:`~napari_unet.core.images.labels.check_not_saved_mask`),
    trained all its cells as one giant object, silently; the command refused it, and so
    does this now, with its words. One cell painted in two strokes is kept, and so is one
    id 1 (a napari layer's first label) painted over several cells: the docks train their
    layers through this, as painted.
    """
    refuse_name(labels, name, "labels'", "napari_unet.read_image(path, labels=True)")
    check_not_saved_mask(labels, f"{name}: labels")
    return check_labels(labels, f"{name}: labels")


def check_counts(images, labels, regions, names) -> tuple[list, list]:
    """One label image (and region, and name) per image; returns the regions and names.

    ``images`` and ``labels`` must have a length (lists, tuples): a generator is refused in
    words (before: "object of type 'generator' has no len()"); :func:`listed` lists them.
    """
    for what, value in (("images", images), ("labels", labels)):
        if not hasattr(value, "__len__"):
            raise InputError(
                f"make_pairs: {what} is a {type(value).__name__}; expected a list (one item "
                f"per image): pass list({what})"
            )
    if len(images) == 0:
        raise InputError("no training images given; expected at least one image/labels pair")
    if len(images) != len(labels):
        raise InputError(f"{len(images)} images but {len(labels)} label images; pair them 1:1")
    regions = list(regions) if regions is not None else [None] * len(images)
    if len(regions) != len(images):
        raise InputError(f"{len(images)} images but {len(regions)} regions; give one per image")
    names = list(names) if names is not None else [f"pair {i + 1}" for i in range(len(images))]
    if len(names) != len(images):  # before, zip's own ValueError
        raise InputError(f"{len(images)} images but {len(names)} names; give one per image")
    return regions, names


def listed(*values) -> tuple:
    """``values``, each iterable without a length (a generator, ``map``) made a list.

    Lists, tuples, arrays (one image where make_pairs takes a list: refused after) and None
    come back as given.
    """
    return tuple(
        list(v) if hasattr(v, "__iter__") and not hasattr(v, "__len__") else v for v in values
    )


def checked_image(img, label_shape: tuple, name: str, in_channels, channel) -> np.ndarray:
    """The image as ``(..., C, H, W)`` with the channels the model takes (see make_pairs).

    A last axis of 4 loses its fourth channel only when that is an RGBA alpha (one value
    everywhere, :func:`~napari_unet.core.images.layout.is_alpha`), as prediction reads it.
    """
    from napari_unet.core.images.layout import fit_channels, is_alpha, split_channels

    refuse_name(img, name, "image's", "napari_unet.read_image(path)")
    img = np.asarray(img)
    if not (np.issubdtype(img.dtype, np.number) or img.dtype == bool):
        raise InputError(f"{name}: image dtype {img.dtype} is not numeric")
    check_pixels(img, f"{name}: the image")
    rgba = img.ndim == len(label_shape) + 1 and img.shape[:-1] == label_shape and img.shape[-1] == 4
    img = split_channels(img, label_shape, name, in_channels)
    planes = img if img.ndim == 4 else img[None]
    if in_channels is None:  # from scratch: the image's channels (alpha dropped, grey as one)
        n = planes.shape[1] - (1 if rgba and is_alpha(planes[:, 3]) else 0)
        in_channels = 1 if n > 1 and np.all(planes[:, :n] == planes[:, :1]) else n
    try:
        planes = fit_channels(planes, in_channels, channel, rgba)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    return planes if img.ndim == 4 else planes[0]


def checked_region(region, label_shape: tuple, name: str) -> np.ndarray | None:
    """The annotated region as a bool mask of the labels' shape (None: all annotated)."""
    if region is None:
        return None
    refuse_name(region, name, "region's", "napari_unet.read_image(path)")
    mask = np.asarray(region)
    if mask.shape == (*label_shape, 1):  # (Y, X, 1), as labels of that shape are read
        mask = mask[..., 0]
    if mask.shape != label_shape:
        raise InputError(
            f"{name}: region shape {mask.shape} differs from labels shape {label_shape}"
        )
    mask = mask != 0
    if not mask.any():
        raise InputError(
            f"{name}: the annotated region is empty; paint the region you annotated "
            f"(non-zero pixels) or give no region to use the whole image"
        )
    return mask
