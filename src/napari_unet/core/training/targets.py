"""U-Net training targets: touching cells separated by a thin background gap.

:func:`separate_touching` makes the paper's target from instance labels (binary, or
3-class background / interior / boundary); :func:`separated_labels` keeps the ids. The weight
map that emphasises the gaps is in :mod:`napari_unet.core.training.weightmap`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import check_labels
from napari_unet.core.inference.keywords import checks_keywords
from napari_unet.core.inference.postprocess import DEFAULT_GAP
from napari_unet.core.training.distances import contour_pixels, gap_pixels

__all__ = [
    "MODES",
    "WeightMapSettings",
    "check_gap",
    "check_parameters",
    "normalized_distance",
    "separate_touching",
    "separated_labels",
    "target_of",
]

#: Target kinds: two classes (cell, background with gaps) or three (interior, boundary).
MODES = ("binary", "3class")

#: The largest float32: weights ``w_c + w0`` above it would be infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class WeightMapSettings:
    """The defaults of targets and weight maps: the paper's ``w0 = 10`` and ``sigma = 5`` px.

    The one source of these defaults for the functions, :class:`TrainConfig`, the command
    line and the Weight map dock.
    """

    w0: float = 10.0
    sigma: float = 5.0
    gap: int = DEFAULT_GAP
    class_weights: str = "balanced"
    mode: str = "binary"


def check_parameters(w0: float, sigma: float, gap: int, mode: str) -> int:
    """Raise :class:`InputError` unless the weight-map settings are usable; the gap as int.

    (A whole float such as ``2.0`` is accepted and given back as ``2``: it reached
    ``range()`` and raised a TypeError.)
    """
    if not (isinstance(sigma, (int, float, np.number)) and math.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma must be a positive number of pixels; got {sigma}")
    if not (isinstance(w0, (int, float, np.number)) and math.isfinite(w0) and w0 >= 0):
        raise InputError(f"w0 must be a finite number >= 0; got {w0}")
    if not w0 <= FLOAT32_MAX:
        raise InputError(f"w0 must be at most {FLOAT32_MAX:.4g} (float32 weights); got {w0}")
    gap = check_gap(gap)
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return gap


def check_gap(gap) -> int:
    """The gap as an int; :class:`InputError` unless it is a finite whole number >= 0.

    (None, NaN, infinity or a list raised a TypeError, ValueError or OverflowError.)
    """
    if (
        isinstance(gap, (bool, np.bool_))
        or not isinstance(gap, numbers.Real)
        or not math.isfinite(gap)
        or gap < 0
        or int(gap) != gap
    ):
        raise InputError(f"gap must be a whole number of pixels >= 0; got {gap!r}")
    return int(gap)


def separated_labels(labels: np.ndarray, gap: int = WeightMapSettings.gap) -> np.ndarray:
    """Instance labels with a background gap of ``gap`` pixels between touching cells.

    A pixel of cell ``k`` becomes background when a pixel of another cell lies within
    ``gap // 2`` pixels of it (chessboard distance); for odd gaps the cell with the higher id
    gives up one pixel more. Cells are thus separated even in 8-connectivity: ``gap=1`` leaves a
    1-pixel line between touching cells, ``gap=2`` removes one pixel on each side. Borders with
    the background are left alone.

    Parameters
    ----------
    labels : numpy.ndarray
        2D integer instance labels (0 background).
    gap : int
        Width of the gap in pixels; 0 returns the labels unchanged.

    Returns
    -------
    numpy.ndarray
        Labels of the same shape and dtype (a (Y, X, 1) input comes back (Y, X)).
    """
    given = np.shape(labels)
    labels = np.asarray(check_labels(labels))  # (Y, X, 1) read as its plane
    gap = check_gap(gap)
    if labels.ndim != 2:  # whatever the gap: gap=0 returned a stack as it was
        raise InputError(f"separated_labels takes a 2D image (Y, X); got shape {given}")
    if gap == 0:
        return labels.copy()
    out = labels.copy()
    out[gap_pixels(labels, gap)] = 0
    return out


@checks_keywords("separation")  # a misspelt setting: an InputError (before, a TypeError)
def separate_touching(
    labels: np.ndarray, gap: int = WeightMapSettings.gap, mode: str = WeightMapSettings.mode
) -> np.ndarray:
    """The paper's training target: cells with a background gap where they touch.

    Parameters
    ----------
    labels : numpy.ndarray
        2D integer instance labels (0 background, any non-negative ids).
    gap : int
        Width in pixels of the background gap left between touching cells (see
        :func:`separated_labels`).
    mode : {"binary", "3class"}
        ``"binary"``: 0 background (and gaps), 1 cell. ``"3class"``: 0 background,
        1 interior, 2 boundary, where the boundary is every cell pixel with an 8-neighbour of
        another id (background included) plus the separation gaps.

    Returns
    -------
    numpy.ndarray
        uint8 target of the same shape.
    """
    gap = check_parameters(1.0, 1.0, gap, mode)
    given = np.shape(labels)
    labels = np.asarray(check_labels(labels))  # (Y, X, 1) read as its plane
    if labels.ndim != 2:  # whatever the gap or mode
        raise InputError(
            f"separate_touching takes a 2D image (Y, X); got shape {given}: give a stack "
            f"plane by plane, or use target_and_weights"
        )
    return target_of(labels, separated_labels(labels, gap), mode)


def target_of(labels: np.ndarray, sep: np.ndarray, mode: str) -> np.ndarray:
    """The uint8 target of ``mode`` from the labels and their separated copy ``sep``."""
    if mode == "binary":
        return (sep > 0).astype(np.uint8)
    cells = labels > 0
    target = cells.astype(np.uint8)
    target[contour_pixels(labels) | (cells & (sep == 0))] = 2
    return target


def normalized_distance(labels: np.ndarray) -> np.ndarray:
    """The ``distance`` head's map: each cell's distance to its own outline over its largest.

    Inside cell ``k``, the Euclidean distance to the nearest pixel that is not ``k``
    (background or another cell), divided by the largest such distance in ``k``: 1 at every
    cell's centre whatever its size, falling to about ``1 / max`` at its outline; 0 outside
    cells. Cell by cell in its bounding box (plus one pixel), so touching cells do not see
    each other as inside.

    Returns
    -------
    numpy.ndarray
        float32 map of the labels' (2D) shape.
    """
    from scipy import ndimage

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"normalized_distance takes a 2D image; got shape {labels.shape}")
    out = np.zeros(labels.shape, np.float32)
    for value, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        grown = tuple(
            slice(max(s.start - 1, 0), min(s.stop + 1, n))
            for s, n in zip(box, labels.shape, strict=True)
        )
        own = labels[grown] == value
        dist = ndimage.distance_transform_edt(np.pad(own, 1))[1:-1, 1:-1]
        out[grown][own] = (dist[own] / dist.max()).astype(np.float32)
    return out
