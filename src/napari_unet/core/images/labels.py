"""The one check of instance-label arrays, shared by weight maps, training and metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_unet.core.errors import InputError

__all__ = [
    "check_ids", "check_labels", "check_not_mask", "check_not_saved_mask", "count_ids",
    "looks_like_colour", "mask_pieces",
]  # fmt: skip


def looks_like_colour(shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` looks like a colour (RGB or RGBA) image, not labels.

    Three axes, the last of 3 or 4 and much smaller than the two others (at least 4 times):
    a (Z, Y, X) stack of 3 or 4 planes has its small axis first and is a volume.
    """
    return len(shape) == 3 and shape[-1] in (3, 4) and min(shape[:2]) >= 4 * shape[-1]


def has_sample_axis(shape: tuple[int, ...]) -> bool:
    """Whether ``shape`` is a 2D image with a trailing axis of length 1: ``(Y, X, 1)``.

    Label files saved with a samples axis (a PNG or TIFF read as ``(Y, X, 1)``) were read as
    a stack of Y planes one pixel wide: each cell cut into slivers, every result wrong.
    """
    return len(shape) == 3 and shape[-1] == 1 and min(shape[:2]) > 1


def check_labels(
    labels: Any,
    what: str = "labels",
    *,
    ndim: tuple[int, ...] | None = (2, 3),
    allow_bool: bool = False,
):
    """Return ``labels`` checked as instance labels (0 background, positive ids).

    A ``(Y, X, 1)`` array (:func:`has_sample_axis`) comes back as its ``(Y, X)`` plane
    where the axes matter (``ndim`` given; metrics, ``ndim=None``, compare ids of any
    shape): callers use the returned array.

    Parameters
    ----------
    labels : array-like or dask.array.Array
        The label image. Dask arrays are checked by dtype and shape only (nothing is
        computed) and returned as they are; anything else comes back as a numpy array.
    what : str
        What the array is, for messages (``"the ground truth"``, a file name...).
    ndim : tuple of int or None
        Accepted numbers of axes (default: 2D or a 3D stack); None accepts any.
    allow_bool : bool
        Read a boolean mask as one object (0/1, viewed as uint8); otherwise a mask is
        refused, because touching cells need one id each.

    Raises
    ------
    InputError
        Empty, of the wrong dimension, RGB-like, boolean (unless allowed), not integer, or
        with negative ids; the message says what was expected.
    """
    lazy = type(labels).__module__.startswith("dask")
    arr = labels if lazy else np.asarray(labels)
    if ndim is not None and has_sample_axis(arr.shape):
        arr = arr[..., 0]  # (Y, X, 1): one image with a samples axis, not Y planes of width 1
    shape, dtype = tuple(arr.shape), np.dtype(arr.dtype)
    if arr.size == 0:
        raise InputError(f"{what}: an empty array (shape {shape}); expected a label image")
    stack_allowed = ndim is not None and 3 in ndim  # then any last axis of 3 or 4 is colour
    if (stack_allowed and len(shape) == 3 and shape[-1] in (3, 4)) or looks_like_colour(shape):
        raise InputError(
            f"{what}: shape {shape} looks like a colour (RGB/RGBA) image; expected instance "
            "labels (one integer id per cell, 0 for background) of shape (Y, X) or (Z, Y, X); "
            "save the labels as a grey image (a volume this thin: its small axis first)"
        )
    if ndim is not None and len(shape) not in ndim:
        dims = " or ".join(f"{n}D" for n in ndim)
        raise InputError(
            f"{what}: expected {dims} (Y, X) or a stack (Z or T, Y, X); got {len(shape)}D {shape}"
        )
    if dtype == np.dtype(bool):
        if not allow_bool:
            raise InputError(_mask_message(what, "a boolean mask"))
        return arr if lazy else arr.view(np.uint8)
    if not np.issubdtype(dtype, np.integer):
        raise InputError(
            f"{what}: dtype {dtype}; expected an integer label image (0 = background, "
            "1..N = objects), not probabilities or floats. Convert an integral float image "
            "with .astype(int) or label a mask first"
        )
    if not lazy and np.issubdtype(dtype, np.signedinteger):
        low = int(arr.min())
        if low < 0:
            raise InputError(_negative_message(what, low))
    return arr


def _negative_message(what: str, low: int) -> str:
    return (
        f"{what}: negative labels (min {low}); expected ids >= 0 "
        "(0 = background, positive ids for objects)"
    )


def check_ids(labels, what: str = "labels") -> None:
    """Refuse negative ids and a mask (:func:`check_not_mask`) in labels, lazy ones too.

    For labels :func:`check_labels` returned. It checks a dask array (a Zarr store) by
    dtype and shape only, so a negative id in the last plane of a stack was found only
    after the planes before it were computed. A command that reads every plane anyway
    calls this first: one pass over the store (minimum, maximum and least positive id
    together); the array is read whole only when it holds a single id (a mask, perhaps).
    """
    if type(labels).__module__.startswith("dask") and np.issubdtype(labels.dtype, np.integer):
        import dask
        import dask.array as da

        fill = np.iinfo(labels.dtype).max
        low, top, least = dask.compute(
            labels.min(), labels.max(), da.where(labels > 0, labels, fill).min()
        )
        if int(low) < 0:
            raise InputError(_negative_message(what, int(low)))
        if int(top) <= 0 or int(least) != int(top):
            return  # no id, or two or more ids: no mask
    check_not_mask(labels, what)


#: Pieces of one id from which a label image is read as a mask (one cell painted in two
#: strokes is two pieces, and is kept).
MASK_PIECES = 3


def _mask_message(what: str, kind: str) -> str:
    return (
        f"{what}: {kind}, but touching cells can only be separated with one id per cell; "
        "label the mask first (for example scipy.ndimage.label)"
    )


def check_not_mask(labels, what: str = "labels") -> None:
    """Refuse a mask given as instance labels: boolean, or one id in many separate pieces.

    A 0/255 (or 0/1) mask saved as 8-bit, as Fiji saves masks, has one id covering every
    cell: trained as it is, all its nuclei are one object. An image with a single id whose
    pixels form :data:`MASK_PIECES` or more separate pieces (in any plane of a stack) is
    refused, as a boolean mask is. Cheap: only an image holding a single id is labelled.
    For label files; a layer painted in napari is not checked (one id over a few cells
    painted by hand is the user's choice).
    """
    arr = labels if type(labels).__module__.startswith("dask") else np.asarray(labels)
    if arr.dtype == bool:
        raise InputError(_mask_message(what, "a boolean mask"))
    found = mask_pieces(arr)
    if found is not None:
        kind = f"a mask (the one id {found[0]} covers {found[1]} separate objects)"
        raise InputError(_mask_message(what, kind))


#: The one id of a mask saved as an 8- or 16-bit image (Fiji saves 0/255).
SAVED_MASK_IDS = (255, 65535)


def check_not_saved_mask(labels, what: str = "labels") -> tuple[int, int] | None:
    """Refuse a mask given as arrays: boolean, or one id of 255 or 65535 in many pieces.

    For arrays (``make_pairs``, ``median_diameter``), not files: a napari Labels layer
    painted with one id over several cells goes through them, and is the user's choice
    (:func:`check_not_mask`), so only a mask as image tools save one is refused: its one
    id at the top of 8 or 16 bits (:data:`SAVED_MASK_IDS`) over :data:`MASK_PIECES` or
    more pieces. Before, such a mask trained (and measured) as one giant cell, silently.
    Returns what :func:`mask_pieces` found (one other id over many pieces, kept), or None.
    """
    arr = labels if type(labels).__module__.startswith("dask") else np.asarray(labels)
    if arr.dtype == bool:
        raise InputError(_mask_message(what, "a boolean mask"))
    found = mask_pieces(arr)
    if found is not None and found[0] in SAVED_MASK_IDS:
        kind = f"a mask (the one id {found[0]} covers {found[1]} separate objects)"
        raise InputError(_mask_message(what, kind))
    return found


def mask_pieces(labels) -> tuple[int, int] | None:
    """``(id, pieces)`` when ``labels`` hold one id in :data:`MASK_PIECES` or more pieces.

    In any plane of a stack; None otherwise (two or more ids, no id, one or two pieces,
    and arrays that are no label image: floats, colour, other shapes). A boolean array
    counts as 0/1. Cheap: only an image holding a single id is labelled.
    """
    arr = labels if type(labels).__module__.startswith("dask") else np.asarray(labels)
    if arr.dtype == bool:
        arr = np.asarray(arr).view(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer) or arr.ndim not in (2, 3) or arr.size == 0:
        return None  # floats, colour and other shapes: check_labels says what is wrong
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        return None
    arr = np.asarray(arr)  # a lazy file is read here
    if has_sample_axis(arr.shape):  # (Y, X, 1): one image, as check_labels reads it
        arr = arr[..., 0]
    top = int(arr.max())  # the least nonzero id without copying the foreground out:
    if top <= 0 or int(np.min(arr, where=arr != 0, initial=top)) != top:
        return None  # no id, or two or more ids
    from scipy import ndimage

    planes = arr.reshape(-1, *arr.shape[-2:])
    pieces = max(int(ndimage.label(p != 0, np.ones((3, 3)))[1]) for p in planes)
    return (top, pieces) if pieces >= MASK_PIECES else None


def compact_ids(labels: np.ndarray) -> np.ndarray:
    """``labels`` as int32, its ids counted ``1..n`` in order when they are sparse or large.

    Ids beyond int32 (2**32 + 7 of an int64 file) wrapped when cast, merging cells, and a
    few huge ids made per-id tables (bincount) of gigabytes; ordinary ids are kept as they
    are.
    """
    arr = np.asarray(labels)
    top = int(arr.max()) if arr.size else 0
    if top > min(arr.size, np.iinfo(np.int32).max):
        from skimage.segmentation import relabel_sequential

        arr = relabel_sequential(arr if arr.flags.writeable else arr.copy())[0]
    return arr.astype(np.int32, copy=False)


def count_ids(labels: np.ndarray) -> int:
    """The number of distinct positive ids in ``labels`` (the cells painted).

    By counting (``bincount``) where the ids are not far more than the pixels: sorting
    them all (``np.unique``) took seconds on an 8192 x 8192 image.
    """
    fg = np.asarray(labels)
    fg = fg[fg > 0]
    if fg.size == 0:
        return 0
    if int(fg.max()) <= 4 * fg.size + 1_000_000:
        return int(np.count_nonzero(np.bincount(fg.astype(np.intp, copy=False))))
    return int(np.unique(fg).size)
