"""The post-processing as it was before issue 21 (whole-image transforms), kept as a reference.

Tests and ``benchmarks/postprocess.py`` compare the fast path of
:mod:`napari_unet.core.inference.postprocess` with it: the instances must be the same.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def reference_labels(
    foreground: np.ndarray,
    threshold: float = 0.5,
    min_size: int = 10,
    gap: int = 2,
    split: float = 0.0,
) -> np.ndarray:
    """The old ``probabilities_to_labels`` (same parameters, same result)."""
    from skimage.measure import label

    prob = np.asarray(foreground)
    labels = remove_small(label(prob > threshold, connectivity=1).astype(np.int32), min_size)
    if split > 0 and labels.any():
        labels = reference_split(labels, split)
    return close_gaps(labels, gap)


def remove_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """``labels`` (int32, changed in place) without the instances of fewer than ``min_size`` px.

    By hand (a bincount) because scikit-image's remove_small_objects changed its API in 0.26.
    """
    if min_size > 1 and labels.any():
        sizes = np.bincount(labels.ravel())
        small = sizes < min_size
        small[0] = False
        labels[small[labels]] = 0
    return labels


def close_gaps(labels: np.ndarray, gap: int) -> np.ndarray:
    """Grow instances over the separation gaps (``gap`` px) only; int32 ids from 1."""
    from skimage.segmentation import expand_labels, relabel_sequential

    if gap > 0 and labels.any():
        grown = expand_labels(labels, distance=gap)
        # Fill only background pixels that have two different instances within ``gap``:
        # that is the separation gap.
        between = (labels == 0) & (grown > 0) & near_two_instances(labels, gap)
        labels = joined_rings(labels, np.where(between, grown, 0), gap)
    return relabel_sequential(labels)[0].astype(np.int32)


def joined_rings(body: np.ndarray, grown: np.ndarray, gap: int) -> np.ndarray:
    """``body`` with the ``grown`` pixels that ``gap`` rings of 8-neighbour growth reach."""
    out = body.copy()
    pending = grown > 0
    for _ in range(gap):
        padded = np.pad(out, 1)
        h, w = out.shape
        touch = np.zeros(out.shape, bool)
        for dy in range(3):
            for dx in range(3):
                touch |= padded[dy : dy + h, dx : dx + w] == grown
        touch &= pending
        out[touch] = grown[touch]
        pending &= ~touch
    return out


def near_two_instances(labels: np.ndarray, distance: int) -> np.ndarray:
    """Pixels with two different instances within ``distance`` (the seams of touching cells).

    scikit-image has no "expand into gaps only", so the test is a max/min filter over the
    window (cheap, and exact for seams ``distance`` wide).
    """
    size = 2 * distance + 1
    big = np.iinfo(np.int32).max
    highest = ndimage.maximum_filter(labels, size=size)
    lowest = ndimage.minimum_filter(np.where(labels > 0, labels, big), size=size)
    return (lowest != big) & (highest != lowest)


def reference_split(labels: np.ndarray, depth: float, smooth: float = 1.0) -> np.ndarray:
    """The old ``split_joined``: a whole-image distance transform, then each instance."""
    from skimage.measure import label
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import find_boundaries, watershed

    labels = np.asarray(labels)
    # Distance to the background or to another instance (touching instances are separate).
    inner = (labels > 0) & ~find_boundaries(labels, connectivity=1, mode="inner")
    dist = ndimage.distance_transform_edt(inner)
    if smooth > 0:
        dist = ndimage.gaussian_filter(dist, smooth)
    out = np.zeros(labels.shape, np.int32)
    next_id = 1
    for value, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        own = labels[box] == value
        local = np.where(own, dist[box], 0.0)
        # The h-maxima regions: plateaus of the reconstruction of (distance - depth) under
        # the distance. (skimage's h_maxima keeps every equal-height peak, so two equal
        # halves would be cut at any depth; the plateaus join them unless the neck is deep.)
        domes = reconstruction(local - depth, local, method="dilation")
        seeds = label(local_maxima(domes) & own, connectivity=2)
        n = int(seeds.max())
        if n <= 1:
            out[box][own] = next_id
            next_id += 1
            continue
        basins = watershed(-local, seeds, mask=own)
        unreached = own & (basins == 0)  # a piece of the instance cut off from every seed
        basins[unreached] = n + 1
        out[box][own] = basins[own] + (next_id - 1)
        next_id += n + int(unreached.any())
    return out
