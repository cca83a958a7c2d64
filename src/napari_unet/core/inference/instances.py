"""Probabilities -> instance labels for every head (see :mod:`napari_unet.core.models.heads`).

- ``paper``: :func:`~napari_unet.core.inference.postprocess.probabilities_to_labels` on the
  foreground (components, optional split of joined cells, grown back over the gaps).
- ``3class`` and ``distance``: a seeded watershed. Seeds are the connected regions where the
  seed map (the interior probability, or the normalised distance to the outline) exceeds
  ``seed_level``; each floods the foreground (``> threshold``) downhill on the seed map, so two
  touching cells meet where their seed maps are lowest. A foreground component with no seed
  stays one instance. Small instances are removed and instances grow back over the
  separation gap their target had, as for the paper's head.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import (
    Postprocess,
    close_gaps,
    join_planes,
    label_planes,
    probabilities_to_labels,
    remove_small,
)
from napari_unet.core.models.heads import DEFAULT_HEAD, check_head

__all__ = [
    "check_classes",
    "foreground_class_of",
    "foreground_of",
    "instance_planes",
    "instances",
    "labels_and_foreground",
    "seed_map",
    "seeded_labels",
]


def foreground_class_of(n_classes: int, requested: int | None = None) -> int:
    """The class whose probability is the foreground: the one class, else class 1.

    A one-class model (sigmoid output) has its foreground in class 0; two or more classes
    (softmax) have the background in class 0 and the cells in class 1 (the interior, for a
    3-class model with a boundary class). ``requested`` overrides this and is checked.
    """
    chosen = (0 if n_classes == 1 else 1) if requested is None else int(requested)
    if not 0 <= chosen < n_classes:
        raise InputError(
            f"foreground class {chosen} is not a class of this model ({n_classes} classes: "
            f"0..{n_classes - 1})"
        )
    return chosen


def check_classes(probabilities, n_classes: int):
    """``probabilities`` if they are ``(n_classes, ..., H, W)``, else InputError.

    Before, a model's probabilities with their class axis last, or one class's map, gave a
    row or a column of the map as "the foreground" without a word.
    """
    shape = tuple(np.shape(probabilities))
    if len(shape) < 3 or shape[0] != n_classes:
        raise InputError(
            f"expected probabilities of shape (classes, ..., H, W) with the class axis first "
            f"({n_classes} classes for this model), as predict returns them; got shape {shape}"
        )
    return probabilities


def foreground_of(probabilities, head: str = DEFAULT_HEAD, foreground_class: int = 1):
    """The cell probability of ``probabilities`` (class axis first; numpy or dask).

    ``paper``: the foreground class; ``3class``: interior plus boundary; ``distance``: its
    cell class (channel 1).
    """
    if check_head(head) == "3class":
        return probabilities[1] + probabilities[2]
    if head == "distance":
        return probabilities[1]
    return probabilities[foreground_class]


def seed_map(probabilities, head: str) -> np.ndarray:
    """What seeds and floods the instances: the interior probability or the distance map."""
    return probabilities[1] if head == "3class" else probabilities[2]


def instances(
    probabilities: np.ndarray,
    head: str = DEFAULT_HEAD,
    post: Postprocess | None = None,
    foreground_class: int = 1,
    *,
    split_max_area: int | None = None,
) -> np.ndarray:
    """int32 instance labels (1..N) of one plane's ``(K, H, W)`` probabilities.

    ``split_max_area``: the paper's head leaves instances of more pixels unsplit (see
    :func:`~.postprocess.probabilities_to_labels`); the seeded heads have no split.
    """
    probs = np.asarray(probabilities)
    if probs.ndim != 3:
        raise InputError(f"expected (classes, H, W) probabilities; got shape {probs.shape}")
    post = post or Postprocess()
    fg = foreground_of(probs, head, foreground_class)
    if head == DEFAULT_HEAD:
        return probabilities_to_labels(fg, **post.as_dict(), split_max_area=split_max_area)
    if probs.shape[0] < 3:
        raise InputError(f"the {head!r} head needs 3 channels; got {probs.shape[0]}")
    if head == "3class":  # its foreground holds the gaps (boundary class): none to close
        post = replace(post, gap=0)
    return seeded_labels(fg, seed_map(probs, head), post)


def seeded_labels(foreground: np.ndarray, seeds: np.ndarray, post: Postprocess) -> np.ndarray:
    """Watershed of ``-seeds`` in ``foreground > threshold``, seeded where ``seeds > seed_level``.

    Seeds of fewer than ``min_size // 4`` pixels are dropped first (noise on a cell's
    flank would cut it in two); their pixels are flooded by the neighbouring seed.
    """
    from skimage.measure import label
    from skimage.segmentation import watershed

    mask = foreground > post.threshold
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    markers = label(mask & (seeds > post.seed_level), connectivity=1).astype(np.int32)
    markers = remove_small(markers, max(1, post.min_size // 4))
    parts = label(mask, connectivity=1).astype(np.int32)
    lone = (parts > 0) & (np.bincount(parts[markers > 0], minlength=parts.max() + 1) == 0)[parts]
    markers[lone] = parts[lone] + markers.max()  # a component without a seed: one instance
    labels = watershed(-seeds, markers, mask=mask).astype(np.int32)
    return close_gaps(remove_small(labels, post.min_size), post.gap)


def instance_planes(
    probabilities,
    head: str = DEFAULT_HEAD,
    post: Postprocess | None = None,
    fg_class: int = 1,
    *,
    split_max_area: int | None = None,
) -> np.ndarray:
    """:func:`instances` of every plane of ``(K, *stack, H, W)``; ids unique over the stack."""
    probs = np.asarray(probabilities)
    planes = probs.reshape(probs.shape[0], -1, *probs.shape[-2:])
    labels = join_planes(
        lambda k: instances(planes[:, k], head, post, fg_class, split_max_area=split_max_area),
        planes.shape[1],
        planes.shape[2:],
    )
    return labels.reshape(probs.shape[1:])


def labels_and_foreground(probabilities, head: str, post: Postprocess, fg_class: int = 1):
    """``(labels, foreground)`` of array-like ``(K, *stack, H, W)`` probabilities.

    Numpy, Zarr or dask: the paper's head reads only its foreground channel, the seeded
    heads every channel, once.
    """
    if head == DEFAULT_HEAD:
        foreground = np.asarray(foreground_of(probabilities, head, fg_class))
        return label_planes(foreground, **post.as_dict()), foreground
    probs = np.asarray(probabilities)
    return instance_planes(probs, head, post, fg_class), foreground_of(probs, head, fg_class)
