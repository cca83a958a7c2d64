"""U-Net training targets and boundary weight maps (Ronneberger et al. 2015, eq. 2).

From instance labels this module makes what the trainer needs:

* :func:`separate_touching`: the target, in which a thin background gap separates every pair
  of touching cells (binary, or 3-class background / interior / boundary);
* :func:`weight_map`: ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 * sigma**2))``;
* :func:`target_and_weights`: both at once, and :func:`iter_target_and_weights`, the same for
  stacks and dask arrays as a generator of progress events.

Conventions (the paper's figure 3): ``d1`` and ``d2`` are the Euclidean distances (in pixels,
centre to centre) from a pixel to the nearest pixel of the nearest and of the second-nearest
*distinct* cell. They are measured to the cells of the **separated** target, and the border term
is added only on pixels that are background in that target, that is the true background plus
the separation gaps. ``gap=0`` computes the map on the labels as given.

Speed: :func:`border_distances` is exact but scales with the number of pixels plus a bounded
window per cell, not pixels x cells; see its notes for the cut-off that makes this possible.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.weightmap_distances import (
    border_cutoff,
    border_distances,
    contour_pixels,
    gap_pixels,
)

__all__ = [
    "WeightMapProgress",
    "border_cutoff",
    "border_distances",
    "check_labels",
    "class_weight_values",
    "iter_target_and_weights",
    "separate_touching",
    "separated_labels",
    "target_and_weights",
    "weight_map",
]

MODES = ("binary", "3class")
#: Named class weightings accepted by ``class_weights``.
CLASS_WEIGHTINGS = ("balanced", "none")


@dataclass(frozen=True)
class WeightMapProgress:
    """Progress of :func:`iter_target_and_weights`: ``done`` of ``total`` planes finished."""

    done: int
    total: int


# --------------------------------------------------------------------------- validation


def check_labels(labels) -> None:
    """Raise :class:`InputError` unless ``labels`` is a 2D or 3D non-negative integer array.

    Works on numpy and dask arrays (for dask only dtype and shape are checked, so nothing is
    computed).
    """
    shape = tuple(getattr(labels, "shape", ()))
    dtype = getattr(labels, "dtype", None)
    if dtype is None or len(shape) == 0:
        raise InputError(f"labels must be a 2D (or 3D stack) array of instance ids; got {labels!r}")
    if 0 in shape:
        raise InputError(f"labels are empty (shape {shape}); expected a 2D image or a 3D stack")
    if len(shape) == 3 and shape[-1] in (3, 4):
        raise InputError(
            f"labels of shape {shape} look like an RGB(A) image; expected instance labels "
            "(one integer id per cell, 0 for background) of shape (Y, X) or (Z, Y, X)"
        )
    if len(shape) not in (2, 3):
        raise InputError(
            f"labels must be 2D (Y, X) or a 3D stack (Z or T, Y, X); got {len(shape)}D {shape}"
        )
    if np.dtype(dtype) == np.dtype(bool):
        raise InputError(
            "labels are a boolean mask, but touching cells can only be separated with one id "
            "per cell; label the mask first (for example scipy.ndimage.label)"
        )
    if not np.issubdtype(dtype, np.integer):
        raise InputError(
            f"labels must be integer instance ids (0 background, 1..N cells); got {dtype}. "
            "Convert an integral float image with .astype(int) or label a mask first"
        )
    if np.issubdtype(dtype, np.signedinteger) and isinstance(labels, np.ndarray):
        low = labels.min()
        if low < 0:
            raise InputError(f"labels must be >= 0 (0 is background); found the value {low}")


def _check_parameters(w0: float, sigma: float, gap: int, mode: str) -> None:
    if not (isinstance(sigma, (int, float, np.number)) and math.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma must be a positive number of pixels; got {sigma}")
    if not (isinstance(w0, (int, float, np.number)) and math.isfinite(w0) and w0 >= 0):
        raise InputError(f"w0 must be a finite number >= 0; got {w0}")
    if int(gap) != gap or gap < 0:
        raise InputError(f"gap must be a whole number of pixels >= 0; got {gap}")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")


def _check_mask(mask, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise InputError(
            f"the mask of the annotated region has shape {mask.shape}, but the labels have "
            f"shape {tuple(shape)}; they must be the same"
        )
    return mask.astype(bool, copy=False)


# --------------------------------------------------------------------------- targets


def separated_labels(labels: np.ndarray, gap: int = 2) -> np.ndarray:
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
        Labels of the same shape and dtype.
    """
    check_labels(labels)
    _check_parameters(1.0, 1.0, gap, "binary")
    labels = np.asarray(labels)
    if gap == 0:
        return labels.copy()
    if labels.ndim != 2:
        raise InputError(f"separated_labels takes a 2D image; got shape {labels.shape}")
    out = labels.copy()
    out[gap_pixels(labels, gap)] = 0
    return out


def separate_touching(labels: np.ndarray, gap: int = 2, mode: str = "binary") -> np.ndarray:
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
    _check_parameters(1.0, 1.0, gap, mode)
    return _target(np.asarray(labels), separated_labels(labels, gap), mode)


def _target(labels: np.ndarray, sep: np.ndarray, mode: str) -> np.ndarray:
    if mode == "binary":
        return (sep > 0).astype(np.uint8)
    cells = labels > 0
    target = cells.astype(np.uint8)
    target[contour_pixels(labels) | (cells & (sep == 0))] = 2
    return target


# --------------------------------------------------------------------------- weights


def class_weight_values(
    target: np.ndarray, class_weights, n_classes: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Per-class weights ``w_c`` as a float64 array of length ``n_classes``.

    ``"balanced"`` gives each class present ``N / (n_present * N_c)`` (counted inside
    ``mask``), so every class contributes equally and the mean weight is 1; ``"none"`` gives 1
    to all; a sequence gives its values.
    """
    if isinstance(class_weights, str):
        if class_weights == "none":
            return np.ones(n_classes)
        if class_weights != "balanced":
            raise InputError(
                f"class_weights must be 'balanced', 'none' or {n_classes} numbers; "
                f"got {class_weights!r}"
            )
        values = target if mask is None else target[mask]
        # count_nonzero per class: bincount would first copy the image to 64-bit integers.
        counts = np.array([np.count_nonzero(values == c) for c in range(n_classes)], float)
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights
    try:
        weights = np.asarray(class_weights, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(
            f"class_weights must be 'balanced', 'none' or numbers; got {class_weights!r}"
        ) from None
    if weights.size != n_classes or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InputError(
            f"class_weights must give {n_classes} finite numbers >= 0 (one per class: "
            f"{'background, cell' if n_classes == 2 else 'background, interior, boundary'}); "
            f"got {class_weights!r}"
        )
    return weights


def _plane_target_and_weights(labels, gap, w0, sigma, class_weights, mask, mode):
    labels = np.asarray(labels)
    sep = separated_labels(labels, gap)
    target = _target(labels, sep, mode)
    n_classes = 2 if mode == "binary" else 3
    wc = class_weight_values(target, class_weights, n_classes, mask)
    weights = wc.astype(np.float32)[target]
    outside = sep == 0  # background after separation: where the border term applies
    if w0 > 0 and outside.any():
        present = np.array([np.any(outside & (target == c)) for c in range(n_classes)])
        cut = border_cutoff(w0, sigma, float(wc[present].min()))
        d1, d2 = border_distances(sep, cut)
        # Only pixels with a second cell within the cut-off get a term (d2 is inf elsewhere).
        # Bands of rows keep the float64 temporaries small.
        step = max(1, 2**16 // labels.shape[1])
        for y in range(0, labels.shape[0], step):
            rows = slice(y, y + step)
            sel = outside[rows] & np.isfinite(d2[rows])
            s = d1[rows][sel].astype(np.float64) + d2[rows][sel]
            term = w0 * np.exp(-(s * s) / (2.0 * sigma * sigma))
            weights[rows][sel] = wc[target[rows][sel]] + term  # one float32 rounding
    if mask is not None:
        weights[~mask] = 0.0
    return target, weights


def target_and_weights(
    labels,
    *,
    gap: int = 2,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: str | Sequence[float] = "balanced",
    mask=None,
    mode: str = "binary",
):
    """The training target and its weight map, in one call.

    Parameters
    ----------
    labels : numpy.ndarray or dask.array.Array
        Integer instance labels, 2D ``(Y, X)`` or a stack ``(Z or T, Y, X)`` processed plane
        by plane (lazily for dask).
    gap : int
        Background gap in pixels between touching cells (see :func:`separated_labels`).
    w0, sigma : float
        Height and width (pixels) of the border term.
    class_weights : {"balanced", "none"} or sequence of float
        ``w_c``: balanced class frequencies (per plane, inside ``mask``), all ones, or one
        weight per class.
    mask : array-like of bool, optional
        The annotated region, same shape as ``labels``; weights outside it are 0.
    mode : {"binary", "3class"}
        Target classes (see :func:`separate_touching`).

    Returns
    -------
    target : numpy.ndarray or dask.array.Array
        uint8 target.
    weights : numpy.ndarray or dask.array.Array
        float32 weights; the border term is added on background pixels of the separated
        target (gaps included), with distances to the separated cells.
    """
    check_labels(labels)
    _check_parameters(w0, sigma, gap, mode)
    class_weight_values(np.zeros(1, np.uint8), class_weights, 2 if mode == "binary" else 3)
    mask = _check_mask(mask, labels.shape)
    args = (gap, w0, sigma, class_weights, mode)
    if not isinstance(labels, np.ndarray) and hasattr(labels, "map_blocks"):
        return _lazy(labels, mask, args)
    if labels.ndim == 2:
        return _plane_target_and_weights(labels, gap, w0, sigma, class_weights, mask, mode)
    gen = iter_target_and_weights(
        labels, gap=gap, w0=w0, sigma=sigma, class_weights=class_weights, mask=mask, mode=mode
    )
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _lazy(labels, mask, args):
    """Dask: one task per plane; the labels' chunks along Y and X are merged."""
    import dask.array as da

    gap, w0, sigma, class_weights, mode = args
    if labels.ndim == 3:
        labels = labels.rechunk({0: 1, 1: -1, 2: -1})
    else:
        labels = labels.rechunk(-1)
    dmask = None if mask is None else da.from_array(mask, chunks=labels.chunks)

    def block(lab, m=None, which=0):
        if lab.ndim == 3:
            out = [
                _plane_target_and_weights(
                    lab[i], gap, w0, sigma, class_weights, None if m is None else m[i], mode
                )[which]
                for i in range(lab.shape[0])
            ]
            return np.stack(out)
        return _plane_target_and_weights(lab, gap, w0, sigma, class_weights, m, mode)[which]

    extra = () if dmask is None else (dmask,)
    target = da.map_blocks(
        lambda lab, *m: block(lab, *m, which=0),
        labels,
        *extra,
        dtype=np.uint8,
        meta=np.empty((0,) * labels.ndim, np.uint8),
    )
    weights = da.map_blocks(
        lambda lab, *m: block(lab, *m, which=1),
        labels,
        *extra,
        dtype=np.float32,
        meta=np.empty((0,) * labels.ndim, np.float32),
    )
    return target, weights


def weight_map(
    labels,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: str | Sequence[float] = "balanced",
    mask=None,
    gap: int = 2,
    mode: str = "binary",
):
    """The U-Net weight map ``w = w_c + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))``.

    Same parameters as :func:`target_and_weights`; returns only the float32 weights. With
    no cell or a single cell there is no border term (``d2`` is infinite).
    """
    return target_and_weights(
        labels, gap=gap, w0=w0, sigma=sigma, class_weights=class_weights, mask=mask, mode=mode
    )[1]


def iter_target_and_weights(
    labels,
    *,
    gap: int = 2,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: str | Sequence[float] = "balanced",
    mask=None,
    mode: str = "binary",
) -> Generator[WeightMapProgress, None, tuple[np.ndarray, np.ndarray]]:
    """Like :func:`target_and_weights`, plane by plane, yielding progress.

    Dask stacks are read one plane at a time. Yields a :class:`WeightMapProgress` after each
    plane (a 2D image counts as one plane) and returns ``(target, weights)`` as numpy arrays.
    """
    check_labels(labels)
    _check_parameters(w0, sigma, gap, mode)
    class_weight_values(np.zeros(1, np.uint8), class_weights, 2 if mode == "binary" else 3)
    mask = _check_mask(mask, labels.shape)
    planes = labels if labels.ndim == 3 else labels[None]
    masks = None if mask is None else (mask if mask.ndim == 3 else mask[None])
    total = planes.shape[0]
    target = np.zeros(planes.shape, np.uint8)
    weights = np.zeros(planes.shape, np.float32)
    for i in range(total):
        plane = np.asarray(planes[i])
        check_labels(plane)
        target[i], weights[i] = _plane_target_and_weights(
            plane, gap, w0, sigma, class_weights, None if masks is None else masks[i], mode
        )
        yield WeightMapProgress(i + 1, total)
    if labels.ndim == 2:
        return target[0], weights[0]
    return target, weights
