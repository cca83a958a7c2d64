"""Training data: validated (image, labels, region) pairs, cached targets, crop sampling.

A :class:`TrainPair` is one 2D plane: its normalised image ``(C, H, W)``, instance labels,
the optional annotated-region mask, and the U-Net target and weight map (computed once per
pair by :mod:`napari_unet.core.training.weightmap` and cached by content). Pixels outside the
annotated region get weight 0, so partially annotated images train safely.
Crops and batches are drawn from the pairs by :mod:`napari_unet.core.training.sampling`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import compact_ids, count_ids
from napari_unet.core.images.normalize import check_spec, normalize
from napari_unet.core.images.photons import prepared
from napari_unet.core.models.heads import DEFAULT_HEAD, check_head
from napari_unet.core.training import augment as aug
from napari_unet.core.training.pairinputs import (  # checked_image: the docks' import too
    check_counts,
    checked_image,
    checked_labels,
    checked_region,
    listed,
)
from napari_unet.core.training.targets import WeightMapSettings, check_parameters

_CACHE: OrderedDict[str, tuple] = OrderedDict()
_CACHE_SIZE = 64
#: Bytes the target cache holds at most (the oldest entries go first). Bounded by entries
#: only, it held up to 64 planes of any size after training had ended (5 GB at 4096 px).
_CACHE_BYTES = 256 << 20


@dataclass(eq=False)
class TrainPair:
    """One annotated 2D plane, ready for sampling.

    Attributes
    ----------
    image : numpy.ndarray
        ``(C, H, W)`` float32, normalised as prediction normalises.
    labels : numpy.ndarray
        ``(H, W)`` int32 instance labels (0 = background).
    mask : numpy.ndarray or None
        ``(H, W)`` bool annotated region, or None for "the whole plane is annotated".
    target, weights : numpy.ndarray
        Class target (uint8) and weight map (float32, 0 outside the region).
    name : str
        For messages and provenance.
    raw : numpy.ndarray
        The un-normalised ``(C, H, W)`` plane as prediction reads it (a photon-limited plane
        blurred, :func:`~napari_unet.core.images.photons.prepared`).
    head : str
        The network head the target is for (:mod:`napari_unet.core.models.heads`).
    extra : numpy.ndarray or None
        The regression target of heads that have one (``distance``: the normalised distance
        map, float32), else None.
    settings : tuple or None
        ``(w0, sigma, gap)`` the target and weights were made with (None: not recorded).
    normalization : dict or None
        The normalisation ``image`` was made with from ``raw`` (None: not recorded).
    """

    image: np.ndarray
    labels: np.ndarray
    mask: np.ndarray | None
    target: np.ndarray
    weights: np.ndarray
    name: str
    raw: np.ndarray
    head: str = DEFAULT_HEAD
    extra: np.ndarray | None = None
    settings: tuple | None = None
    normalization: dict | None = None
    _coeffs: np.ndarray | None = field(default=None, repr=False)
    _fg: np.ndarray | None = field(default=None, repr=False)
    _region: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width."""
        return self.labels.shape

    @property
    def n_cells(self) -> int:
        """Number of annotated cells (inside the region)."""
        return count_ids(self.labels if self.mask is None else self.labels[self.mask])

    @property
    def coeffs(self) -> np.ndarray:
        """Cubic spline coefficients of the image (computed on first use)."""
        if self._coeffs is None:
            self._coeffs = aug.prefilter(self.image)
        return self._coeffs

    @property
    def fg_index(self) -> np.ndarray:
        """Flat indices of annotated cell pixels."""
        if self._fg is None:
            fg = self.labels > 0
            if self.mask is not None:
                fg &= self.mask
            self._fg = np.flatnonzero(fg)
        return self._fg

    @property
    def region_index(self) -> np.ndarray:
        """Flat indices of pixels with a non-zero weight (the annotated region)."""
        if self._region is None:
            self._region = np.flatnonzero(self.weights > 0)
        return self._region


def cached_target_and_weights(
    labels: np.ndarray,
    mask: np.ndarray | None,
    w0: float,
    sigma: float,
    gap: int = WeightMapSettings.gap,
    head: str = DEFAULT_HEAD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The target, weight map and regression target (or None) of one plane for ``head``.

    Cached by content and settings. ``paper`` and ``distance``: the paper's two classes with
    a gap between touching cells; ``3class``: background, interior and boundary (the border
    term on the gaps, which are boundary). ``distance`` adds the normalised distance map.
    Each call returns copies (the cache's own arrays are read-only): before, every pair of
    the same labels shared the cached arrays, and editing one pair's weights in place
    changed those of every later :func:`make_pairs`.
    """
    gap = check_parameters(w0, sigma, gap, "binary")  # InputError, not int(None) in the key
    h = hashlib.blake2b(labels.tobytes(), digest_size=16)
    h.update(repr((labels.shape, float(w0), float(sigma), gap, head)).encode())
    if mask is not None:
        h.update(np.packbits(mask).tobytes())
    key = h.hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _copies(_CACHE[key])
    from napari_unet.core.training.targets import normalized_distance
    from napari_unet.core.training.weightmap import target_and_weights

    mode = "3class" if check_head(head) == "3class" else "binary"
    target, weights = target_and_weights(labels, gap=gap, w0=w0, sigma=sigma, mask=mask, mode=mode)
    weights = np.asarray(weights, np.float32)
    if mask is not None:
        weights = np.where(mask, weights, np.float32(0))
    extra = normalized_distance(labels) if head == "distance" else None
    result = (np.asarray(target, np.uint8), weights, extra)
    for a in result:
        if a is not None:
            a.flags.writeable = False
    _remember(key, result)
    return _copies(result)


def _remember(key: str, arrays: tuple) -> None:
    """Cache ``arrays``, the oldest entries dropped to stay within the entries and bytes."""
    if _nbytes(arrays) > _CACHE_BYTES:
        return  # one plane over the limit: not kept
    _CACHE[key] = arrays
    while len(_CACHE) > _CACHE_SIZE or sum(map(_nbytes, _CACHE.values())) > _CACHE_BYTES:
        _CACHE.popitem(last=False)


def _nbytes(arrays: tuple) -> int:
    return sum(a.nbytes for a in arrays if a is not None)


def _counted(images, labels, regions, names) -> tuple:
    """``(images, labels, regions, names)`` listed (generators too) and :func:`check_counts`.

    An array where make_pairs takes a list of them is refused.

    Before, one image passed as an array was read as a list of its rows: "pair 1: labels:
    expected 2D ... got 1D (347,)", or "1 images but 260 label images".
    """
    for what, value in (("images", images), ("labels", labels), ("regions", regions)):
        if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy, dask, zarr
            raise InputError(
                f"make_pairs: {what} is one array (shape {tuple(value.shape)}); it takes lists "
                "of them, one item per image: make_pairs([image], [labels]) for one pair"
            )
    images, labels, regions, names = listed(images, labels, regions, names)
    return (images, labels, *check_counts(images, labels, regions, names))


def _copies(arrays: tuple) -> tuple:
    return tuple(None if a is None else a.copy() for a in arrays)


def make_pairs(
    images: list,
    labels: list,
    regions: list | None = None,
    *,
    names: list[str] | None = None,
    normalization: dict | None = None,
    w0: float = WeightMapSettings.w0,
    sigma: float = WeightMapSettings.sigma,
    gap: int = WeightMapSettings.gap,
    in_channels: int | None = None,
    channel: int | str | None = None,
    head: str = DEFAULT_HEAD,
    validation: bool = False,
) -> list[TrainPair]:
    """Validate training data and prepare one :class:`TrainPair` per annotated plane.

    Parameters
    ----------
    images : list of array-like
        2D images ``(H, W)``, multi-channel ``(H, W, C)`` or ``(C, H, W)``, or stacks
        ``(Z, H, W)`` / ``(Z, H, W, C)`` whose planes pair with 3D labels.
    labels : list of array-like
        Integer instance labels, 2D or 3D, one per image (lists even for one pair).
    regions : list of array-like or None, optional
        Annotated-region masks (non-zero = annotated), one per image or None. Without a
        region the whole plane counts as annotated; stack planes with no labelled pixel
        are then skipped (not annotated).
    names : list of str, optional
        Names for messages.
    normalization : dict, optional
        Normalisation spec (:mod:`napari_unet.core.images.normalize`; default 1-99.8 percentiles).
    w0, sigma : float
        Weight-map border weight and width (paper: 10 and 5 px).
    gap : int
        Background gap separating touching cells in the target (pixels).
    in_channels : int, optional
        The channels of the model to be trained (when fine-tuning or resuming): images get
        them as prediction gives them (:func:`~napari_unet.core.images.layout.fit_channels`:
        an RGBA alpha dropped, colour averaged for a grey model, or ``channel`` picked).
        None (from scratch): the images' own channels, alpha dropped, equal channels as one.
    channel : None, "mean" or int
        What a grey model reads of multichannel images (see ``in_channels``).
    head : str
        The head of the network to be trained: which target to make (the trainer makes
        them again for a network with another head, see :func:`for_head`).
    validation : bool
        A validation set (``iter_train(..., val=...)``): images without a cell are allowed
        (the cells found there are false positives: AP50 1 if none, else 0); one with no
        annotated plane at all is refused, naming the validation set.

    Returns
    -------
    list of TrainPair
        With copies of the labels and image, and their own target and weights.

    Raises
    ------
    InputError
        Different shapes, bad labels (a mask: label it first; a file name: read it first;
        floats), an empty region, other channel counts, 2D labels of a stack, no cell at all.
    """
    images, labels, regions, names = _counted(images, labels, regions, names)
    pairs: list[TrainPair] = []
    channels, out = None, []  # what is said of stack planes with cells no region covers
    for img, lab, reg, name in zip(images, labels, regions, names, strict=True):
        lab = compact_ids(checked_labels(lab, name))  # a mask or a file name: refused
        img = checked_image(img, lab.shape, name, in_channels, channel)
        channels = _same_channels(img, channels, name)
        mask = checked_region(reg, lab.shape, name)
        for z, lz, mz, iz in _annotated_planes(img, lab, mask, name, out):
            target, weights, extra = cached_target_and_weights(lz, mz, w0, sigma, gap, head)
            lz, (raw, norm, _) = np.array(lz), prepared(np.array(iz), check_spec(normalization))
            image = normalize(raw.astype(np.float32, copy=False), norm)
            plane = name if z is None else f"{name} [plane {z}]"
            pairs.append(
                TrainPair(image, lz, mz, target, weights, plane, raw, head, extra,
                          (w0, sigma, gap), norm)  # fmt: skip
            )
    return _checked_validation(pairs, names) if validation else _checked_training(pairs, names, out)


def _checked_training(pairs: list[TrainPair], names: list[str], outside=()) -> list[TrainPair]:
    """Training pairs need a cell; ``outside`` names the planes whose cells no region covers."""
    if not pairs or sum(p.fg_index.size for p in pairs) == 0:
        raise InputError(
            f"no annotated cell in {_shown(names)}: the labels hold no cell (value > 0) inside "
            "the annotated region; "
            + "".join(f"{o}; draw a region on it, or " for o in outside)
            + "paint at least a few cells before training"
        )
    return pairs


def _planes_outside(lab, mask, name: str) -> list[str]:
    """What is said of each stack plane holding cells outside the annotated region."""
    covered = ", ".join(str(z) for z in range(len(mask)) if mask[z].any())
    return [
        f"{name}: plane {z} holds {np.unique(lab[z]).size - 1} cells but is outside the "
        f"annotated region (planes {covered})"
        for z in range(len(lab)) if lab[z].any() and not mask[z].any()
    ]  # fmt: skip


def _checked_validation(pairs: list[TrainPair], names: list[str]) -> list[TrainPair]:
    """Validation pairs need a plane, not a cell (an empty image scores false positives)."""
    if not pairs:
        raise InputError(
            f"validation ({_shown(names)}): no annotated plane; its labels hold no cell and "
            "no region marks the planes that were checked: give a region, or paint the cells"
        )
    return pairs


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")


def for_head(
    pairs: list[TrainPair], head: str, w0: float, sigma: float, gap: int,
    normalization: dict | None = None,
) -> list[TrainPair]:  # fmt: skip
    """``pairs`` with the targets of ``head`` and these settings (the same pairs if so).

    Before, pairs of the same head kept targets of other settings, and the model file
    recorded a gap its targets did not have. With ``normalization``, pairs whose image
    was normalised otherwise are normalised again from ``raw`` (pairs that do not record
    theirs are kept).
    """
    from dataclasses import replace

    out = []
    norm = None if normalization is None else check_spec(normalization)
    for p in pairs:
        if norm is not None and p.normalization not in (None, norm):
            image = normalize(p.raw.astype(np.float32, copy=False), norm)
            # Its spline coefficients go with the old image: before, the host sampler
            # went on cropping the old normalisation's pixels.
            p = replace(p, image=image, normalization=norm, _coeffs=None)
        made = p.settings is None or p.settings == (w0, sigma, gap)
        if p.head != head or not made:
            target, weights, extra = cached_target_and_weights(
                p.labels, p.mask, w0, sigma, gap, head
            )
            p = replace(p, target=target, weights=weights, extra=extra, head=head,
                        settings=(w0, sigma, gap), _region=None)  # fmt: skip
        out.append(p)
    return out


def _same_channels(img: np.ndarray, channels: int | None, name: str) -> int:
    """The channel count every training image shares (the first image's)."""
    channels = channels or img.shape[-3]
    if img.shape[-3] != channels:
        raise InputError(
            f"{name}: image has {img.shape[-3]} channel(s) but the first image has "
            f"{channels}; all training images need the same channel count (convert colour "
            "images to grey, e.g. the command's --grey, or train separate models)"
        )
    return channels


def _annotated_planes(img, lab, mask, name="", outside=None):
    """``(plane index or None, labels, mask, image)`` of each plane that holds annotation.

    A 2D pair is one plane; a stack plane counts when its region has pixels or, without a
    region, when it holds a labelled cell. ``outside`` gets what is said of each plane
    that holds cells but no region (named in a refusal to train).
    """
    if lab.ndim == 2:
        yield None, lab, mask, img
        return
    if outside is not None and mask is not None:
        outside += _planes_outside(lab, mask, name)
    for z in range(lab.shape[0]):
        mz = None if mask is None else mask[z]
        if (mz is not None and mz.any()) or (mz is None and (lab[z] > 0).any()):
            yield z, lab[z], mz, img[z]
