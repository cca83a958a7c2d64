"""Edits of instance annotations: fresh label ids, cell counts, accepting a prediction.

Pure numpy / scikit-image functions used by the Annotate dock. Persistence lives in
:mod:`napari_unet.core.annotation.project`.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["MIN_PIECE", "count_cells", "merge_prediction", "next_free_id"]

#: Smallest piece of a predicted cell (pixels) that accepting a prediction keeps.
MIN_PIECE = 10


def next_free_id(labels: np.ndarray) -> int:
    """Return the smallest label id above every id in use.

    Ids are never reused, so a new cell cannot merge with a cell that was painted,
    erased in part and is still present somewhere else.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer instance labels, 0 is background.

    Returns
    -------
    int
        ``max(labels) + 1`` (1 for an empty mask).

    Raises
    ------
    InputError
        If ``labels`` is not an integer array or the next id does not fit its dtype.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be an integer array; got {labels.dtype}")
    top = int(labels.max()) if labels.size else 0
    nxt = max(top, 0) + 1
    if nxt > np.iinfo(labels.dtype).max:
        raise InputError(
            f"no free label id left in {labels.dtype} (largest id {top}); relabel the "
            "annotations or use a wider integer type"
        )
    return nxt


def count_cells(labels: np.ndarray) -> tuple[int, int]:
    """Return (number of distinct cells, annotated pixels) of an instance mask.

    Ids of an integer mask up to its number of pixels (or 2^24) are counted by marking
    them in a table, without sorting: 0.25 s against 1.3 s for ``np.unique`` on 8192 x 8192
    labels of 21,000 cells (the Annotate dock counts after every stroke).
    """
    flat = np.asarray(labels).ravel()
    area = int(np.count_nonzero(flat))
    if area == 0:
        return 0, 0
    if flat.dtype.kind in "iu" and int(flat.min()) >= 0:
        top = int(flat.max())
        if top <= max(flat.size, 2**24):
            seen = np.zeros(top + 1, bool)
            seen[flat] = True
            return int(np.count_nonzero(seen[1:])), area
    ids = flat[flat != 0]
    return int(np.unique(ids).size), area


def merge_prediction(
    annotations: np.ndarray,
    prediction: np.ndarray,
    region: np.ndarray | None = None,
    min_size: int = MIN_PIECE,
    first_id: int = 1,
) -> np.ndarray:
    """Turn predicted instances into annotations without touching the user's cells.

    Rules: every annotated pixel (non-zero in ``annotations``) is kept as it is, so the
    user's strokes win; predicted pixels outside ``region`` are ignored; a predicted
    instance that overlaps a user's cell keeps only its free pixels; what remains is
    split into connected pieces and pieces smaller than ``min_size`` pixels are dropped;
    each surviving piece gets a fresh id above every id in use. A predicted instance lying
    mostly on painted cells is the painted cell's own outline, drawn a little larger: its
    pieces that wrap the painted part (touch more than half of its outline) are dropped,
    not made ring-shaped cells around it (:func:`_wrapping_pieces`).

    Parameters
    ----------
    annotations : numpy.ndarray
        Current instance annotations (integer, 0 background).
    prediction : numpy.ndarray
        Predicted instance labels of the same shape.
    region : numpy.ndarray, optional
        bool mask of the same shape where predictions may be accepted; None = everywhere.
    min_size : int
        Smallest piece of a predicted instance (in pixels) that is kept.
    first_id : int
        The smallest new id: a stack's next free id when ``annotations`` is one plane.

    Returns
    -------
    numpy.ndarray
        New annotations, same shape and dtype as ``annotations`` (a new array).

    Raises
    ------
    InputError
        On shape mismatch, a non-integer prediction, or ids that overflow the dtype.
    """
    from skimage.measure import label as connected

    annotations, prediction = _checked(annotations, prediction, region)
    free = (annotations == 0) & (prediction > 0)
    if region is not None:
        free &= np.asarray(region, dtype=bool)
    result = annotations.copy()
    if not free.any():
        return result
    # Pieces of the same predicted id that got separated, and neighbouring instances
    # that touch, stay apart: skimage labels connected runs of equal value.
    pieces = connected(np.where(free, prediction, 0), background=0, connectivity=1)
    sizes = np.bincount(pieces.ravel())
    keep = sizes >= max(int(min_size), 1)
    keep[0] = False
    keep[_wrapping_pieces(annotations, prediction, region, pieces)] = False
    new_ids = np.zeros(sizes.size, dtype=np.int64)
    start = max(next_free_id(annotations), int(first_id))
    new_ids[keep] = np.arange(start, start + int(keep.sum()))
    if int(keep.sum()) and new_ids.max() > np.iinfo(result.dtype).max:
        n, kind = int(keep.sum()), result.dtype
        raise InputError(f"{n} new cells do not fit label type {kind}; relabel the annotations")
    mapped = new_ids[pieces]
    put = mapped > 0
    result[put] = mapped[put].astype(result.dtype)
    return result


def _wrapping_pieces(annotations, prediction, region, pieces) -> np.ndarray:
    """Ids of ``pieces`` that are rings around a painted cell, not cells of their own.

    A piece qualifies when its predicted instance (within ``region``) lies more than half on
    painted pixels and the piece touches more than half of the outline of that painted
    part. The remainder of a different object that a painted cell covers in part (less than
    half of it), or a predicted cell cut by a stroke (it touches the painted part along the
    cut only), is kept. Each instance is worked on in the box around its painted part.
    """
    from scipy import ndimage

    inside = prediction > 0
    if region is not None:
        inside &= np.asarray(region, bool)
    painted = inside & (annotations != 0)
    if not painted.any():
        return np.zeros(0, np.intp)
    # Only instances with painted pixels can qualify: counted by a sorted look-up (a unique
    # of every predicted pixel tripled Accept's time on large images).
    ids, over = np.unique(prediction[painted], return_counts=True)
    values = prediction[inside]
    at = np.minimum(np.searchsorted(ids, values), ids.size - 1)
    hit = ids[at] == values
    area = np.bincount(at[hit], minlength=ids.size)
    numbered = np.zeros(prediction.shape, np.int32 if ids.size < 2**31 - 1 else np.int64)
    numbered[inside] = np.where(hit, at + 1, 0)
    boxes = ndimage.find_objects(np.where(painted, numbered, 0))
    cross = ndimage.generate_binary_structure(prediction.ndim, 1)
    drop = []
    for k in np.flatnonzero(over * 2 > area):
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in boxes[k])
        part = painted[box] & (numbered[box] == k + 1)
        outline = part & ~ndimage.binary_erosion(part, cross)
        near = pieces[box] * (numbered[box] == k + 1)
        for piece in np.unique(near[near > 0]):
            touching = outline & ndimage.binary_dilation(near == piece, cross)
            if 2 * int(touching.sum()) > int(outline.sum()):
                drop.append(int(piece))
    return np.asarray(drop, np.intp)


def _checked(annotations, prediction, region) -> tuple[np.ndarray, np.ndarray]:
    """The annotations and prediction as arrays; refuses shapes and types that do not fit."""
    annotations = np.asarray(annotations)
    prediction = np.asarray(prediction)
    if prediction.shape != annotations.shape:
        raise InputError(
            f"prediction of shape {prediction.shape} does not match the annotations of "
            f"shape {annotations.shape}; predict on the same image"
        )
    if not np.issubdtype(prediction.dtype, np.integer):
        raise InputError(
            f"prediction must be integer instance labels; got {prediction.dtype}. "
            "Use a Labels layer, not probabilities."
        )
    if region is not None and np.shape(region) != annotations.shape:
        raise InputError(
            f"region mask of shape {np.shape(region)} does not match the annotations of "
            f"shape {annotations.shape}"
        )
    return annotations, prediction


def accepted_changes(
    annotations: np.ndarray,
    prediction: np.ndarray,
    region: np.ndarray | None = None,
    min_size: int = MIN_PIECE,
    first_id: int = 1,
) -> tuple[tuple[np.ndarray, ...], np.ndarray, int]:
    """What :func:`merge_prediction` would change: ``(indices, new values, cells added)``.

    The merge runs on the bounding box of the predicted pixels the region lets in, so
    accepting a few cells of a large image costs their box, not the image; the indices are
    those of the whole array (for :meth:`napari.layers.Labels.data_setitem`, one undo step).
    New cells take ids from ``max(first_id, next free id of annotations)``: the result is
    that of :func:`merge_prediction` on the whole arrays.
    """
    annotations, prediction = _checked(annotations, prediction, region)
    free = prediction > 0
    if region is not None:
        free &= np.asarray(region, bool)
    if not free.any():
        return tuple(np.zeros(0, np.intp) for _ in annotations.shape), annotations.ravel()[:0], 0
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(free))
    part = annotations[box]
    first_id = max(int(first_id), next_free_id(annotations))
    reg = None if region is None else np.asarray(region, bool)[box]
    new = merge_prediction(part, prediction[box], reg, min_size, first_id)
    idx = np.nonzero(new != part)
    added = count_cells(new)[0] - count_cells(part)[0]
    return tuple(i + s.start for i, s in zip(idx, box, strict=True)), new[idx], added
