"""The check of reviewed labels before they are saved: they must fit their image.

:meth:`~napari_unet.core.review.session.Review.save_labels` wrote whatever it was given
over the image's good reviewed labels: a crop's labels (32 x 64 for a 64 x 64 image),
float probabilities, negative ids. The export then skipped the image, and the good labels
were gone. Now such labels are refused with an :class:`InputError` before anything is
written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image
from napari_unet.core.images.labels import check_labels
from napari_unet.core.images.layout import extra_axis

__all__ = ["labels_to_save"]


def labels_to_save(review, name: str, labels) -> tuple[np.ndarray, Path]:
    """``labels`` checked for image ``name`` of ``review``, and where they are saved.

    Raises
    ------
    InputError
        Labels that are not instance labels (floats, negative ids, a boolean mask, colour)
        or whose shape is not the image's (its channel axis left out). An image that cannot
        be read now is not compared: its labels are saved all the same.
    """
    what = f"labels of {name}"
    labels = check_labels(labels, what)  # a numpy array; a lazy (dask) one stays lazy
    shape = _image_shape(review.path(name))
    if shape is not None and not _fits(shape, tuple(labels.shape)):
        raise InputError(
            f"{what}: shape {tuple(labels.shape)} does not fit the image, of shape {shape}; "
            "expected the image's shape (without its channel axis). Nothing was saved"
        )
    return labels, review.labels_path(name, labels.shape)


def _image_shape(path: Path) -> tuple[int, ...] | None:
    """The shape of the image at ``path`` as read (header only where it can), or None."""
    try:
        return tuple(int(s) for s in read_image(path, lazy=True).shape)
    except (InputError, OSError, ValueError):  # gone or unreadable: the labels still save
        return None


def _fits(image_shape: tuple[int, ...], labels_shape: tuple[int, ...]) -> bool:
    """The labels have the image's shape, or the image has one more axis (its channels)."""
    return image_shape == labels_shape or extra_axis(image_shape, labels_shape) is not None
