"""Object sizes of instance labels: equivalent diameters and their median.

The *object size* of an image is the median equivalent diameter of its objects, the
diameter of the disc with the object's area: ``2 * sqrt(area / pi)``. Model files record
the object size of their training data (``object_size``), and prediction rescales an image
whose objects have another size to it (:mod:`napari_unet.core.inference.scale`).

Areas come from one ``numpy.bincount`` of the ids (the same numbers as scikit-image's
``regionprops(...).area``, without building a region object per cell).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import (
    check_labels,
    check_not_saved_mask,
    compact_ids,
    has_sample_axis,
)

__all__ = ["equivalent_diameters", "median_diameter", "plane_diameters", "typical_diameter"]


def equivalent_diameters(labels, mask=None) -> np.ndarray:
    """The equivalent diameter (pixels) of every object of ``labels``.

    Parameters
    ----------
    labels : array-like
        Integer instance labels: a plane ``(Y, X)`` or a stack (``(Z, Y, X)``, or more
        leading axes), measured plane by plane as :func:`~napari_unet.core.review.measure.
        measure_objects` measures it, since ids are per plane: the same id in two planes is
        two objects (before, it was one object of their summed area, its diameter inflated
        by the square root of the number of planes). 0 is background. A boolean mask is one
        object per plane; floats and negative ids are an InputError (before, floats were
        truncated and negative ids left out silently, and a huge id such as 2**40 ran out of
        memory), and so is a 1-D array (a row of an image is no label image).
    mask : array-like of bool, optional
        Count only the pixels inside it (an annotated region); objects without a pixel
        inside are left out.

    Returns
    -------
    numpy.ndarray
        float64 diameters ``2 * sqrt(area / pi)``, one per object present, in plane then id
        order.
    """
    lab = np.asarray(labels)
    if lab.size == 0:
        return np.zeros(0)
    lab = check_labels(lab, ndim=None, allow_bool=True)
    if lab.ndim < 2:
        raise InputError(
            f"labels: expected a 2D label image (Y, X) or a stack (Z, Y, X); got "
            f"{lab.ndim}D {lab.shape}"
        )
    if mask is not None:
        lab = np.where(np.asarray(mask, bool), lab, 0)
    if has_sample_axis(lab.shape):  # (Y, X, 1): one image, not Y planes one pixel wide
        lab = lab[..., 0]
    return plane_diameters(lab)


def plane_diameters(lab: np.ndarray) -> np.ndarray:
    """Equivalent diameters of integer labels ``(*stack, Y, X)``, plane by plane, unchecked.

    For a segmentation's own labels: not judged as a user's label file would be (a stack
    3 planes wide is not "a colour image", one object is not "a mask").
    """
    found = [np.zeros(0)]
    for plane in lab.reshape(-1, *lab.shape[-2:]):
        areas = np.bincount(compact_ids(plane).ravel())[1:]  # huge ids counted 1..n
        found.append(areas[areas > 0])
    return 2.0 * np.sqrt(np.concatenate(found) / np.pi)


def median_diameter(labels, masks: Iterable | None = None) -> tuple[float | None, int]:
    """The median equivalent diameter of the objects of one label image or of several.

    Parameters
    ----------
    labels : array-like or list of array-like
        One label image, or a list of them (objects pooled over the list). A stack
        ``(Z, Y, X)`` is measured plane by plane (ids are per plane), as
        :func:`equivalent_diameters` says. A list is always a list of label images, each
        at least 2D: one image as a nested Python list is refused; pass it as an array.
    masks : array-like or list, optional
        The annotated region: with one label image, its mask (or a list of one); with a
        list of label images, one mask (or None) per image.

    Returns
    -------
    tuple of (float or None, int)
        The median diameter in pixels (None without objects) and the number of objects.

    Raises
    ------
    InputError
        A label image that is a mask (boolean, or a 0/255 mask as Fiji saves it, its one
        id over 3 or more separate cells), as ``make_pairs`` refuses it: it measured as one
        object (148 px for 13 px nuclei); label it first. Masks that do not pair with the
        label images 1:1. A label image under 2D, such as a nested list of numbers read as
        a list of 1-D images (it measured each row as an image: 3.6 px for 13 px nuclei).
    """
    many = isinstance(labels, list | tuple)
    items = list(labels) if many else [labels]
    regions = _regions(masks, len(items), many)
    for i, lab in enumerate(items):
        if many and np.ndim(lab) < 2:
            raise InputError(
                f"median_diameter: label image {i + 1} of the list is {np.ndim(lab)}D; a list "
                "is read as a list of label images (Y, X) or stacks, so pass one label image "
                "as an array (np.asarray(labels)), not a nested list"
            )
        check_not_saved_mask(lab, f"label image {i + 1}" if many else "labels")
    found = [equivalent_diameters(lab, m) for lab, m in zip(items, regions, strict=True)]
    diameters = np.concatenate(found) if found else np.zeros(0)
    if diameters.size == 0:
        return None, 0
    return float(np.median(diameters)), int(diameters.size)


def _regions(masks, n: int, many: bool) -> list:
    """One region (or None) per label image; an InputError says what to pass.

    Before, one mask given with one label image was taken for a list of its rows: "1 label
    images but 260 masks", a plain ValueError.
    """
    if masks is None:
        return [None] * n
    if not many and not isinstance(masks, list | tuple):
        return [masks]  # one label image, its one mask
    regions = list(masks)
    if len(regions) != n:
        form = "a list of one mask (or None) per label image" if many else "one mask array"
        raise InputError(
            f"median_diameter: {n} label image(s) but {len(regions)} masks; pass {form}"
        )
    return regions


#: Objects under this share of the area-weighted median diameter are pieces, not objects.
PIECE_SHARE = 0.5


def typical_diameter(labels) -> tuple[float | None, int]:
    """The object size of a segmentation's result: robust to pieces and specks.

    The median diameter of the objects at least :data:`PIECE_SHARE` of the area-weighted
    median diameter (the diameter of the object that holds the median foreground pixel).
    A model shown nuclei three times its training size cuts each into many small pieces and
    calls specks of noise objects: their plain median said the nuclei were a quarter of
    their size (8.7 px for 67 px nuclei on one DSB2018 image), and rescaling by it made
    things worse. Where the objects are whole (at the model's scale) the pieces left out are
    few and the result is within a few percent of :func:`median_diameter`.

    ``labels`` are a segmentation's ``(*stack, Y, X)`` int labels, measured as they are:
    not judged as a user's label file (before, ``segment(..., channel_axis="none")`` of a
    ``(Y, X, 3)`` stack had its labels refused as "a colour image"; "save the labels as grey").

    Returns
    -------
    tuple of (float or None, int)
        The diameter in pixels (None without objects) and the number of objects it counts.
    """
    lab = np.asarray(labels)
    d = plane_diameters(lab) if lab.ndim >= 2 and lab.size else np.zeros(0)
    if d.size == 0:
        return None, 0
    order = np.sort(d)
    areas = np.cumsum(order**2)  # proportional to the areas
    weighted = order[np.searchsorted(areas, areas[-1] / 2)]
    kept = d[d >= PIECE_SHARE * weighted]
    return float(np.median(kept)), int(kept.size)
