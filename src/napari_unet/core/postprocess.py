"""Class probabilities -> instance labels, and ``segment`` (predict + label in one call).

The network is trained on targets where touching cells are separated by a thin background
gap (:func:`napari_unet.core.weightmap.separate_touching`), so its foreground splits
touching cells. :func:`probabilities_to_labels` labels the foreground components, removes
small ones, optionally splits components that pinch in the middle (two cells the network
left joined), and then grows the instances back over the separation gaps only, so touching
cells come out as separate, full-size instances while the outer outlines stay where the
network put them.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
from scipy import ndimage

from napari_unet.core.errors import InputError

DEFAULT_GAP = 2


def probabilities_to_labels(
    foreground: np.ndarray,
    threshold: float = 0.5,
    min_size: int = 10,
    gap: int = DEFAULT_GAP,
    split: float = 0.0,
) -> np.ndarray:
    """Instance labels from a 2D foreground probability map.

    Parameters
    ----------
    foreground : numpy.ndarray
        ``(H, W)`` foreground probability in [0, 1].
    threshold : float
        Pixels above it are foreground.
    min_size : int
        Components with fewer pixels are removed (noise).
    gap : int
        Width of the separation gap the training target had between touching cells; each
        instance grows by up to this many pixels into background that lies between two
        instances (not into open background).
    split : float
        Split joined cells: a component whose distance-to-background map has two peaks, each
        rising at least ``split`` pixels above the saddle between them, is cut along the
        saddle by a watershed (the classic distance-transform split, seeded by h-maxima).
        ``0`` (the default) turns it off; 0.5-2 px suits round nuclei; larger values split
        less. Model files may recommend a value (``postprocess.split``).

    Returns
    -------
    numpy.ndarray
        int32 labels, 0 background, 1..N consecutive.
    """
    from skimage.measure import label
    from skimage.segmentation import expand_labels, relabel_sequential

    prob = np.asarray(foreground)
    if prob.ndim != 2:
        raise InputError(f"expected a 2D probability map; got shape {prob.shape}")
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must be between 0 and 1; got {threshold}")
    if min_size < 0 or gap < 0 or split < 0:
        raise InputError(f"min_size, gap and split must be >= 0; got {min_size}, {gap}, {split}")
    labels = label(prob > threshold, connectivity=1).astype(np.int32)
    if min_size > 1 and labels.any():
        # By hand (a bincount) because remove_small_objects changed its API in 0.26.
        sizes = np.bincount(labels.ravel())
        small = sizes < min_size
        small[0] = False
        labels[small[labels]] = 0
    if split > 0 and labels.any():
        labels = split_joined(labels, split)
    if gap > 0 and labels.any():
        grown = expand_labels(labels, distance=gap)
        # Fill only background pixels that have two different instances within ``gap``:
        # that is the separation gap. scikit-image has no "expand into gaps only", so the
        # test is a max/min filter over the window (cheap, and exact for gap-wide seams).
        size = 2 * gap + 1
        big = np.iinfo(np.int32).max
        highest = ndimage.maximum_filter(labels, size=size)
        lowest = ndimage.minimum_filter(np.where(labels > 0, labels, big), size=size)
        between = (labels == 0) & (grown > 0) & (lowest != big) & (highest != lowest)
        labels = np.where(between, grown, labels)
    return relabel_sequential(labels)[0].astype(np.int32)


def split_joined(labels: np.ndarray, depth: float, smooth: float = 1.0) -> np.ndarray:
    """Cut instances that pinch in the middle along their necks (distance-transform watershed).

    Each instance is treated on its own: its seeds are the h-maxima regions (height ``depth``
    pixels) of the lightly smoothed distance to the background, and with two or more seeds it is
    flooded from them (a watershed restricted to the instance). So an instance is never
    merged with another, no pixel is added or lost, and an instance without two such peaks
    stays whole. Working per instance, in its bounding box, is also about five times faster
    than one h-maxima transform over the whole image.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` instance labels (0 background).
    depth : float
        How far (in pixels of distance) each of two peaks must rise above their saddle.
    smooth : float
        Gaussian sigma applied to the distance map first (removes pixel-level ripples).

    Returns
    -------
    numpy.ndarray
        int32 labels, consecutive from 1.
    """
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


def postprocess_settings(
    metadata: dict | None,
    threshold: float | None = None,
    min_size: int | None = None,
    gap: int | None = None,
    split: float | None = None,
) -> dict:
    """The post-processing to use: each value given, else the model file's, else the default.

    Returns ``threshold``, ``min_size``, ``gap`` and ``split`` (keywords of
    :func:`label_planes`); the model file recommends the first three in ``postprocess`` and
    records ``separation_gap``; the defaults are 0.5, 10 px, 2 px and 0 (no split).
    """
    recommended = (metadata or {}).get("postprocess") or {}
    return {
        "threshold": float(recommended.get("threshold", 0.5) if threshold is None else threshold),
        "min_size": int(recommended.get("min_size", 10) if min_size is None else min_size),
        "gap": int((metadata or {}).get("separation_gap", DEFAULT_GAP) if gap is None else gap),
        "split": float(recommended.get("split", 0.0) if split is None else split),
    }


def iter_segment(
    model,
    image,
    threshold: float | None = None,
    min_size: int | None = None,
    gap: int | None = None,
    split: float | None = None,
    metadata: dict | None = None,
    foreground_class: int = 1,
    **predict_kwargs,
) -> Generator[object, None, tuple[np.ndarray, np.ndarray]]:
    """Generator twin of :func:`segment`: yields progress, returns ``(labels, probabilities)``."""
    from napari_unet.core.predict import iter_predict

    probs = yield from iter_predict(model, image, metadata=metadata, **predict_kwargs)
    post = postprocess_settings(metadata, threshold, min_size, gap, split)
    if not 0 <= foreground_class < probs.shape[0]:
        raise InputError(
            f"foreground_class {foreground_class} is not a class of this model "
            f"({probs.shape[0]} classes)"
        )
    fg = probs[foreground_class]
    if hasattr(fg, "compute"):
        fg = fg.compute()
    return label_planes(fg, **post), probs


def label_planes(
    foreground, threshold: float, min_size: int, gap: int, split: float = 0.0
) -> np.ndarray:
    """:func:`probabilities_to_labels` for each plane of ``(*stack, H, W)``; ids unique overall."""
    fg = np.asarray(foreground)
    planes = fg.reshape(-1, *fg.shape[-2:])
    labels = np.zeros(planes.shape, np.int32)
    offset = 0
    for k, plane in enumerate(planes):
        lab = probabilities_to_labels(plane, threshold, min_size, gap, split)
        labels[k] = np.where(lab > 0, lab + offset, 0)
        offset += int(lab.max())
    return labels.reshape(fg.shape)


def segment(model, image, return_probabilities: bool = False, **kwargs):
    """Instance labels of ``image``: tiled prediction, then :func:`probabilities_to_labels`.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the family; class 1 is the foreground.
    image : numpy.ndarray or dask.array.Array
        Raw pixels, any layout :func:`napari_unet.core.predict.predict` accepts. Stacks are
        labelled plane by plane, with ids unique over the stack.
    return_probabilities : bool
        Also return the probabilities.
    **kwargs
        ``threshold``, ``min_size`` and ``split`` (the model file's recommended
        ``postprocess`` values when it records them, else 0.5, 10 pixels and 0, see
        :func:`probabilities_to_labels`), ``gap`` (the model's recorded
        ``separation_gap``, else 2), ``metadata`` (the model file's) and any argument of
        :func:`~napari_unet.core.predict.predict`.

    Returns
    -------
    numpy.ndarray or tuple
        int32 labels of shape ``(*stack, H, W)``; with ``return_probabilities`` also the
        probabilities ``(n_classes, *stack, H, W)``.
    """
    gen = iter_segment(model, image, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            labels, probs = stop.value
            return (labels, probs) if return_probabilities else labels
