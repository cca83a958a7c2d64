"""What the review's prefetcher hands the reviewer: an :class:`Item` (an image, its labels).

Also the editable copy of labels the viewer paints on (:func:`editable_labels`), the key a
prediction is cached under (:func:`model_key`) and an image file's stamp, which tells a
file rewritten since it was read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Item", "editable_labels", "file_stamp", "model_key", "read_only"]


def model_key(model) -> str:
    """A short hash of a network's weights: predictions cached with other weights are stale."""
    h = hashlib.blake2b(digest_size=8)
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def editable_labels(labels: np.ndarray) -> np.ndarray:
    """A copy of ``labels`` with room for a new id (napari's ``selected_label``: max + 1).

    One-byte ids (a 0/255 mask, a label file of ``uint8``) become int32, as a *New labels*
    layer does when it is picked (:func:`napari_unet.widgets._layers.widen_labels`); before,
    a file holding id 255 could not be shown at all. Wider ids are widened only when full.
    """
    dtype = np.dtype(labels.dtype)
    if dtype.kind in "ui" and dtype.itemsize == 1:
        return labels.astype(np.int32)
    full = dtype.kind in "ui" and labels.size and int(labels.max()) >= np.iinfo(dtype).max
    if full and dtype.itemsize < 8:
        return labels.astype(np.int64)
    return np.array(labels, copy=True)


def read_only(array: np.ndarray) -> np.ndarray:
    """``array``, made read-only (painting can never change the cache's labels)."""
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Item:
    """One image ready for review: its pixels, labels and where the labels came from."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    source: str
    #: Set when the image file changed since it was reviewed.
    warning: str | None = None
    #: The image file's (modification time, size) when it was read (None: not known).
    stamp: tuple | None = None
    #: A fresh, writable copy of ``labels`` (one-byte ids widened) for the viewer to paint
    #: on, made in the thread; None: the caller copies (:func:`editable_labels`).
    editable: np.ndarray | None = None
    #: The largest id of ``labels`` (None: not known).
    top: int | None = None
    #: Out-of-domain warnings of a prediction (a grey model averaged the image's channels,
    #: ...), found when it was made (:mod:`~napari_unet.core.review.domain_notes`).
    notes: tuple[str, ...] = ()


def failure_stamp(review, name: str) -> tuple:
    """What an image that failed waits on: its file's stamp and its labels files'.

    A failed image is read again once one changes: before, only the image file counted,
    and labels that did not fit, moved elsewhere as the message said, left the image on the
    same error until the folder was opened again.
    """
    found = review.existing_labels(name)
    return (
        file_stamp(review.path(name)),
        file_stamp(review.labels_path(name)),
        None if found is None else file_stamp(found),
    )


def file_stamp(path) -> tuple | None:
    """An image file's (modification time in ns, size), to tell a rewritten file."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
