"""Class probabilities -> instance labels, and the post-processing settings of a model.

The network is trained on targets where touching cells are separated by a thin background
gap (:func:`napari_unet.core.training.targets.separate_touching`), so its foreground splits
touching cells. :func:`probabilities_to_labels` labels the foreground components, removes
small ones, optionally splits components that pinch in the middle (two cells the network
left joined), and then grows the instances back over the separation gaps only, so touching
cells come out as separate, full-size instances while the outer outlines stay where the
network put them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from napari_unet.core.errors import InputError, check_int
from napari_unet.core.inference import seams
from napari_unet.core.inference.keywords import checks_keywords
from napari_unet.core.models.filecheck import MAX_SEPARATION_GAP

__all__ = [
    "DEFAULT_GAP",
    "MAX_GAP",
    "Postprocess",
    "close_gaps",
    "join_planes",
    "label_planes",
    "near_two_instances",
    "probabilities_to_labels",
    "remove_small",
    "snap_outlines",
    "split_joined",
]

#: Background gap (pixels) that training targets leave between touching cells; the
#: post-processing grows instances back over it. Model files record theirs.
DEFAULT_GAP = 2
#: The widest gap accepted (a separation gap is a few pixels). Before, ``gap=10**6`` (or a
#: model file's ``separation_gap``) was accepted and failed with a MemoryError.
MAX_GAP = MAX_SEPARATION_GAP


def _metadata_of(metadata) -> dict:
    """A model file's metadata dict, or the one a network carries; else an InputError."""
    from collections.abc import Mapping

    from napari_unet.core.models.carried import carried

    if metadata is None or isinstance(metadata, Mapping):
        return metadata or {}
    if callable(getattr(metadata, "parameters", None)):  # a network: what it carries
        return carried(metadata) or {}
    raise InputError(
        f"metadata: expected a model file's metadata (the dict load_model returns) or a "
        f"loaded network; got {type(metadata).__name__}"
    )


@checks_keywords("post-processing")  # a misspelt setting: an InputError, not a TypeError
@dataclass(frozen=True)
class Postprocess:
    """How foreground probabilities become instances (see :func:`probabilities_to_labels`).

    The defaults here are the one source of the defaults of the command line, the Predict
    dock and the API.
    """

    threshold: float = 0.5
    min_size: int = 10
    gap: int = DEFAULT_GAP
    split: float = 0.0
    #: Heads with seeds (``3class``, ``distance``): the interior probability or normalised
    #: distance above which a pixel seeds an instance (see ``core.inference.instances``).
    seed_level: float = 0.5

    @classmethod
    def for_model(cls, metadata: dict | None, **given) -> Postprocess:
        """Each value given (not None), else the model file's recommendation, else the default.

        A model file recommends ``threshold``, ``min_size`` and ``split`` in its
        ``postprocess`` entry and records its target's ``separation_gap``. ``metadata`` is
        the file's metadata, or a loaded network (the metadata it carries: before, an
        AttributeError).
        """
        meta = _metadata_of(metadata)
        known = {**(meta.get("postprocess") or {})}
        if "separation_gap" in meta:
            known["gap"] = meta["separation_gap"]
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown post-processing setting(s): {', '.join(unknown)}")
        values = {}
        for name, field in cls.__dataclass_fields__.items():
            value = given.get(name)
            values[name] = known.get(name, field.default) if value is None else value
        return cls(**values)

    def __post_init__(self) -> None:
        for name in ("min_size", "gap"):  # whole pixels; 4.0 from a JSON file is fine
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            object.__setattr__(self, name, check_int(name, value, low=0))
        for name in ("threshold", "split", "seed_level"):
            value = getattr(self, name)
            number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
            if not number or not np.isfinite(value):
                raise InputError(f"{name} must be a finite number; got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("threshold", "seed_level"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise InputError(f"{name} must be between 0 and 1; got {getattr(self, name)}")
        if self.gap > MAX_GAP:
            raise InputError(
                f"gap must be at most {MAX_GAP} px (the background gap between touching "
                f"cells the model was trained with, a few pixels); got {self.gap}"
            )
        if min(self.min_size, self.gap, self.split) < 0:
            raise InputError(
                f"min_size, gap and split must be >= 0; got {self.min_size}, {self.gap}, "
                f"{self.split}"
            )

    def as_dict(self) -> dict:
        """Keyword arguments of :func:`probabilities_to_labels` and :func:`label_planes`."""
        values = asdict(self)
        del values["seed_level"]  # the paper's head has no seeds
        return values


def probabilities_to_labels(
    foreground: np.ndarray,
    threshold: float = Postprocess.threshold,
    min_size: int = Postprocess.min_size,
    gap: int = Postprocess.gap,
    split: float = Postprocess.split,
    *,
    split_max_area: int | None = None,
) -> np.ndarray:
    """Instance labels from a 2D foreground probability map.

    Parameters
    ----------
    foreground : numpy.ndarray
        ``(H, W)`` foreground probability in [0, 1]; NaN or infinite values: InputError.
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
    split_max_area : int, optional
        Components of more pixels than this are not split (the Live dock's view: an
        untrained model's blob the size of the image is not cells yet).

    Returns
    -------
    numpy.ndarray
        int32 labels, 0 background, 1..N consecutive.
    """
    prob = np.asarray(foreground)
    if prob.ndim != 2:
        raise InputError(f"expected a 2D probability map; got shape {prob.shape}")
    if prob.dtype.kind in "fc" and not (finite := np.isfinite(prob)).all():  # before: silent
        raise InputError(  # a NaN column cut a cell in two; all NaN gave no object
            f"the probability map holds {int(finite.size - finite.sum())} NaN or infinite "
            "value(s); expected probabilities in [0, 1] (a network whose training diverged "
            "predicts NaN: train it again with a lower rate); replace them (np.nan_to_num)"
        )
    Postprocess(threshold, min_size, gap, split)  # checks the values
    cross = ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(prob > threshold, structure=cross, output=np.int32)
    if n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        kept = sizes >= min_size
        kept[0] = True
        if not kept.all():  # drop the small ones and renumber 1..N in one pass
            labels = seams.sequential(labels, kept)
    if split > 0 and labels.any():
        labels = split_joined(labels, split, max_area=split_max_area)
    return _grow_over_gaps(labels, gap)


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
    return _grow_over_gaps(seams.sequential(labels), gap)


def _grow_over_gaps(labels: np.ndarray, gap: int) -> np.ndarray:
    """:func:`close_gaps` of labels already numbered ``1..N``.

    A background pixel may be filled when it has two different instances within ``gap`` px
    (chessboard): that is a separation gap. It takes the instance ``expand_labels(labels,
    gap)`` would give it, looked up only there (see :mod:`.seams`), but only where that
    instance reaches it ring by ring through such pixels of its id (8 neighbours, ``gap``
    rings), so no grown pixel is cut off from its cell's body (:func:`.seams.grow_connected`).
    """
    labels = np.asarray(labels, np.int32)
    if gap > 0 and labels.any():
        between = seams.near_two(labels, gap)
        between &= labels == 0
        if between.any():
            labels = seams.grow_connected(labels, between, gap)
    return labels


def near_two_instances(labels: np.ndarray, distance: int) -> np.ndarray:
    """Pixels with two different instances within ``distance`` (the seams of touching cells).

    scikit-image has no "expand into gaps only", so the test is a max/min over the window
    (exact for seams ``distance`` wide), written with shifted slices (see :mod:`.seams`).
    """
    return seams.near_two(np.asarray(labels), distance)


def snap_outlines(labels, foreground, threshold: float, distance: int) -> np.ndarray:
    """Move the outer outlines of instances onto the foreground, by up to ``distance`` px.

    For labels resized from another scale by nearest neighbour (staircase outlines) and the
    foreground probability resized linearly: labelled pixels outside the foreground
    (``<= threshold``) are cleared and foreground pixels next to one instance join it, except
    at the seams between touching instances, which stay as the labels have them. No id is
    made or merged; an id can only vanish (a sliver with no foreground). Planes of
    ``(*stack, H, W)`` are treated one by one.
    """
    from skimage.segmentation import expand_labels

    labels = np.asarray(labels, np.int32)
    fg = np.asarray(foreground).reshape(-1, *labels.shape[-2:])
    out = labels.reshape(-1, *labels.shape[-2:]).copy()
    for k, plane in enumerate(out):
        if not plane.any():
            continue
        inside = fg[k] > threshold
        keep = near_two_instances(plane, distance)
        plane[(plane > 0) & ~inside & ~keep] = 0
        grown = expand_labels(plane, distance=distance)
        add = (plane == 0) & inside & ~keep & (grown > 0)
        plane[add] = grown[add]
    return out.reshape(labels.shape)


def split_joined(
    labels: np.ndarray, depth: float, smooth: float = 1.0, max_area: int | None = None
) -> np.ndarray:
    """Cut instances that pinch in the middle along their necks (distance-transform watershed).

    Each instance is treated on its own: its seeds are the h-maxima regions (height ``depth``
    pixels) of the lightly smoothed distance to the background, and with two or more seeds it is
    flooded from them (a watershed restricted to the instance). So an instance is never
    merged with another, no pixel is added or lost, and an instance without two such peaks
    stays whole. The work is done per instance, in its bounding box, and instances with a
    single peak skip the flooding (see :mod:`.splitting`).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` instance labels (0 background).
    depth : float
        How far (in pixels of distance) each of two peaks must rise above their saddle.
    smooth : float
        Gaussian sigma applied to the distance map first (removes pixel-level ripples).
    max_area : int, optional
        Instances of more pixels are kept whole.

    Returns
    -------
    numpy.ndarray
        int32 labels, consecutive from 1.
    """
    from napari_unet.core.inference.splitting import split_instances

    return split_instances(np.asarray(labels), depth, smooth, max_area=max_area)


def label_planes(
    foreground,
    threshold: float = Postprocess.threshold,
    min_size: int = Postprocess.min_size,
    gap: int = Postprocess.gap,
    split: float = Postprocess.split,
) -> np.ndarray:
    """:func:`probabilities_to_labels` for each plane of ``(*stack, H, W)``; ids unique overall."""
    fg = np.asarray(foreground)
    planes = fg.reshape(-1, *fg.shape[-2:])
    labels = join_planes(
        lambda k: probabilities_to_labels(planes[k], threshold, min_size, gap, split),
        len(planes), planes.shape[1:],
    )  # fmt: skip
    return labels.reshape(fg.shape)


def join_planes(label_plane, n_planes: int, shape: tuple[int, int]) -> np.ndarray:
    """``(n_planes, H, W)`` int32 labels from ``label_plane(k)``, ids unique over the stack."""
    labels = np.zeros((n_planes, *shape), np.int32)
    offset = 0
    for k in range(n_planes):
        lab = label_plane(k)
        labels[k] = np.where(lab > 0, lab + offset, 0)
        offset += int(lab.max())
    return labels
