"""U-Net training targets and boundary weight maps (Ronneberger et al. 2015, eq. 2).

From instance labels and the separated target of :mod:`napari_unet.core.training.targets`:

* :func:`weight_map`: ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 * sigma**2))``;
* :func:`target_and_weights`: both at once, and :func:`iter_target_and_weights`, the same for
  stacks and dask arrays as a generator of progress events.

Conventions (the paper's figure 3): ``d1`` and ``d2`` are the Euclidean distances (in pixels,
centre to centre) from a pixel to the nearest pixel of the nearest and of the second-nearest
*distinct* cell. They are measured to the cells of the **separated** target, and the border term
is added only on pixels that are background in that target, that is the true background plus
the separation gaps. ``gap=0`` computes the map on the labels as given.

Speed: the border term is exact but costs a bounded amount per pixel, not pixels x cells, thanks
to a cut-off beyond which it cannot change a float32 weight; see
:mod:`napari_unet.core.training.distances` and :mod:`napari_unet.core.training.compiled`.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import check_labels
from napari_unet.core.inference.keywords import checks_keywords
from napari_unet.core.progress import drain
from napari_unet.core.training.distances import add_border_term, border_cutoff
from napari_unet.core.training.targets import (
    FLOAT32_MAX,
    WeightMapSettings,
    check_parameters,
    separated_labels,
    target_of,
)

__all__ = [
    "WeightMapProgress",
    "WeightMapSettings",
    "class_weight_values",
    "iter_target_and_weights",
    "target_and_weights",
    "weight_map",
]


@dataclass(frozen=True)
class WeightMapProgress:
    """Progress of :func:`iter_target_and_weights`: ``done`` of ``total`` planes finished."""

    done: int
    total: int


def _check_mask(mask, shape: tuple[int, ...], given: tuple[int, ...]) -> np.ndarray | None:
    """The mask as bool of the labels' checked ``shape`` (``given``: as the caller gave them).

    A mask with a trailing axis of 1, ``(*shape, 1)``, is read as its plane, as
    :func:`~napari_unet.core.images.labels.check_labels` reads ``(Y, X, 1)`` labels.
    """
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape == (*shape, 1):
        mask = mask[..., 0]
    if mask.shape != tuple(shape):
        raise InputError(
            f"the mask of the annotated region has shape {np.shape(mask)}, but the labels "
            f"have shape {tuple(given)}; they must be the same"
        )
    return mask.astype(bool, copy=False)


# --------------------------------------------------------------------------- weights


def class_weight_values(
    target: np.ndarray,
    class_weights,
    n_classes: int,
    mask: np.ndarray | None = None,
    w0: float = 0.0,
) -> np.ndarray:
    """Per-class weights ``w_c`` as a float64 array of length ``n_classes``.

    ``"balanced"`` gives each class present ``N / (n_present * N_c)`` (counted inside
    ``mask``), so every class contributes equally and the mean weight is 1; ``"none"`` gives 1
    to all; a sequence gives its values. :class:`InputError` where ``w0`` plus the largest
    weight exceeds the largest float32 (the weights would be infinite).
    """
    weights = _class_weights(target, class_weights, n_classes, mask)
    if not w0 + weights.max() <= FLOAT32_MAX:
        raise InputError(
            f"w0 + the largest class weight must be at most {FLOAT32_MAX:.4g} (float32 "
            f"weights); got w0 = {w0} and class weights {class_weights!r}"
        )
    return weights


def _class_weights(target, class_weights, n_classes, mask) -> np.ndarray:
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
    target = target_of(labels, sep, mode)
    n_classes = 2 if mode == "binary" else 3
    wc = class_weight_values(target, class_weights, n_classes, mask, w0)
    weights = wc.astype(np.float32)[target]
    outside = sep == 0  # background after separation: where the border term applies
    if w0 > 0 and outside.any():
        present = np.array([np.any(outside & (target == c)) for c in range(n_classes)])
        cut = border_cutoff(w0, sigma, float(wc[present].min()))
        add_border_term(weights, sep, outside, target, wc, w0, sigma, cut)
    if mask is not None:
        weights[~mask] = 0.0
    return target, weights


@checks_keywords("weight map")
def target_and_weights(
    labels,
    *,
    gap: int = WeightMapSettings.gap,
    w0: float = WeightMapSettings.w0,
    sigma: float = WeightMapSettings.sigma,
    class_weights: str | Sequence[float] = WeightMapSettings.class_weights,
    mask=None,
    mode: str = WeightMapSettings.mode,
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
    given = np.shape(labels)
    labels = check_labels(labels)
    gap = check_parameters(w0, sigma, gap, mode)
    class_weight_values(np.zeros(1, np.uint8), class_weights, 2 if mode == "binary" else 3, w0=w0)
    mask = _check_mask(mask, labels.shape, given)
    args = (gap, w0, sigma, class_weights, mode)
    if not isinstance(labels, np.ndarray) and hasattr(labels, "map_blocks"):
        return _lazy(labels, mask, args)
    if labels.ndim == 2:
        return _plane_target_and_weights(labels, gap, w0, sigma, class_weights, mask, mode)
    return drain(
        iter_target_and_weights(
            labels, gap=gap, w0=w0, sigma=sigma, class_weights=class_weights, mask=mask, mode=mode
        )
    )


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


@checks_keywords("weight map")
def weight_map(
    labels,
    w0: float = WeightMapSettings.w0,
    sigma: float = WeightMapSettings.sigma,
    class_weights: str | Sequence[float] = WeightMapSettings.class_weights,
    mask=None,
    gap: int = WeightMapSettings.gap,
    mode: str = WeightMapSettings.mode,
):
    """The U-Net weight map ``w = w_c + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))``.

    Same parameters as :func:`target_and_weights`; returns only the float32 weights. With
    no cell or a single cell there is no border term (``d2`` is infinite).
    """
    return target_and_weights(
        labels, gap=gap, w0=w0, sigma=sigma, class_weights=class_weights, mask=mask, mode=mode
    )[1]


@checks_keywords("weight map")
def iter_target_and_weights(
    labels,
    *,
    gap: int = WeightMapSettings.gap,
    w0: float = WeightMapSettings.w0,
    sigma: float = WeightMapSettings.sigma,
    class_weights: str | Sequence[float] = WeightMapSettings.class_weights,
    mask=None,
    mode: str = WeightMapSettings.mode,
) -> Generator[WeightMapProgress, None, tuple[np.ndarray, np.ndarray]]:
    """Like :func:`target_and_weights`, plane by plane, yielding progress.

    Dask stacks are read one plane at a time. Yields a :class:`WeightMapProgress` after each
    plane (a 2D image counts as one plane) and returns ``(target, weights)`` as numpy arrays.
    """
    given = np.shape(labels)
    labels = check_labels(labels)
    gap = check_parameters(w0, sigma, gap, mode)
    class_weight_values(np.zeros(1, np.uint8), class_weights, 2 if mode == "binary" else 3, w0=w0)
    mask = _check_mask(mask, labels.shape, given)
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
