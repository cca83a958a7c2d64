"""One image's annotations as training data that grows stroke by stroke.

:class:`LiveData` holds the image (normalised once, as prediction normalises the whole
plane), the annotations, the annotated region and the targets and weight maps of the
network's head. An update replaces the labels and region of one box (what a stroke, an
erase or a fill changed) and recomputes the targets and weight maps only there: the box
plus :data:`CONTEXT` pixels around it, so cells cut by the box and the paper's border
weights between neighbours come out as on the whole image. A 40 x 40 px stroke costs a
few milliseconds; the whole 1024 x 1024 image would cost about a second.

It also keeps what the sampler favours: the boxes updated recently and the pixels where the
model's latest prediction disagreed with the annotations.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import compact_ids
from napari_unet.core.images.normalize import normalize
from napari_unet.core.models.heads import DEFAULT_HEAD
from napari_unet.core.training.pairs import TrainPair
from napari_unet.core.training.targets import WeightMapSettings

__all__ = ["CONTEXT", "RING", "Box", "LiveData", "check_box", "check_update", "other_pairs"]

#: Pixels around an updated box whose targets and weights are recomputed with it (the
#: paper's border weights fade within about 4 sigma = 20 px; cells are rarely wider).
CONTEXT = 64
#: Pixels around a painted cell that a stroke also marks as annotated background: painting
#: a cell says "this is a cell, and right around it is not".
RING = 6
#: Recent boxes kept for the sampler (the newest first).
RECENT = 32
#: Disagreement pixels kept for the sampler (a random subset when there are more).
MAX_ERRORS = 4096

#: ``(y0, y1, x0, x1)``, end exclusive.
Box = tuple[int, int, int, int]


def _grow(box: Box, by: int, shape: tuple[int, int]) -> Box:
    y0, y1, x0, x1 = box
    return max(0, y0 - by), min(shape[0], y1 + by), max(0, x0 - by), min(shape[1], x1 + by)


BOX_FORM = "(y0, y1, x0, x1), end excluded"


def _differing_box(new: np.ndarray, old: np.ndarray) -> Box | None:
    """The bounding box of the pixels where ``new`` and ``old`` differ (None: none do).

    From per-axis ``any()`` reductions: before, ``np.argwhere`` listed every changed pixel
    as int64 (16 bytes a pixel: 1 GiB for one big rectangle on 8192 x 8192, seconds).
    """
    diff = new != old
    rows = np.flatnonzero(diff.any(axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_box(box, shape: tuple[int, int]) -> Box:
    """``box`` as four ints; an :class:`InputError` if it is not a box of the plane.

    A box is ``(y0, y1, x0, x1)``, end excluded, with ``y0 < y1`` and ``x0 < x1`` inside
    the plane. Checked on the caller's thread: before, a ``((y0, y1), (x0, x1))`` region was
    queued as it was and the trainer's thread died on it with a TypeError.
    """
    try:
        items = tuple(box)
    except TypeError:
        items = ()
    if len(items) != 4 or not all(_is_int(v) for v in items):
        hint = ""
        if len(items) == 2 and all(np.shape(p) == (2,) for p in items):
            (y0, y1), (x0, x1) = items
            hint = f"; for the region {box!r} pass ({y0}, {y1}, {x0}, {x1})"
        raise InputError(f"box must be four integers {BOX_FORM}; got {box!r}{hint}")
    y0, y1, x0, x1 = (int(v) for v in items)
    h, w = shape
    if not (y0 < y1 and x0 < x1):
        raise InputError(f"box {box!r} is empty or reversed: a box is {BOX_FORM}, y0 < y1, x0 < x1")
    if not (0 <= y0 and y1 <= h and 0 <= x0 and x1 <= w):
        raise InputError(
            f"box {box!r} is outside the {h} x {w} image: a box is {BOX_FORM}, "
            f"with 0 <= y0 < y1 <= {h} and 0 <= x0 < x1 <= {w}"
        )
    return y0, y1, x0, x1


def check_update(box, labels, mask, shape: tuple[int, int]) -> Box | None:
    """The checked ``box`` of an update whose ``labels`` (and ``mask``), if given, fill it.

    On the caller's thread, so that a wrong update raises there instead of ending the
    trainer's thread. ``box`` None with ``labels``: a region of the whole plane (what
    :meth:`~napari_unet.core.live.trainer.LiveTrainer.set_region` hands over), a mask of the
    plane's shape (before, one of another shape was taken and ended the thread later).
    """
    if box is None and labels is not None:
        dtype = np.asarray(labels).dtype
        if np.shape(labels) != tuple(shape):
            raise InputError(f"region of shape {np.shape(labels)}; expected {tuple(shape)}")
        if dtype.kind not in "biu":
            raise InputError(f"a region is a boolean mask (True: annotated); got {dtype}")
        return None
    box = check_box(box, shape)
    size = (box[1] - box[0], box[3] - box[2])
    for name, arr in (("labels", labels), ("mask", mask)):
        if arr is not None and np.shape(arr) != size:
            raise InputError(
                f"{name} of shape {np.shape(arr)} do not fill the box {box}: a box is "
                f"{BOX_FORM}, so its {name} are {size[0]} x {size[1]}"
            )
    dtype = np.asarray(labels if labels is not None else 0).dtype
    if dtype.kind not in "biu":
        raise InputError(f"labels must be integer ids; got {dtype}")
    return box


def check_plane(raw, in_channels: int) -> None:
    """Refuse a live plane that is not ``(C, H, W)`` with the model's ``C`` input channels.

    Before, a ``(H, W, 3)`` image or a colour plane for a grey model was taken and the
    trainer's thread died later with a message about boxes or tensors.
    """
    shape = np.shape(raw)
    if len(shape) != 3 or shape[0] != in_channels:
        raise InputError(
            f"raw must be the plane as the model reads it, (C, H, W) with C = {in_channels} "
            f"(the model's input channels); got shape {tuple(shape)}: pass image[None] for a "
            "grey plane, or move a colour image's channel axis first"
        )


class LiveData:
    """The annotations of one image plane, with targets kept current box by box.

    Parameters
    ----------
    raw : numpy.ndarray
        The plane as the model reads it: ``(C, H, W)`` (see
        :func:`napari_unet.core.training.pairs.make_pairs` for the channel rules).
    normalization : dict, optional
        The model's normalisation spec.
    head : str
        The network head (which targets).
    w0, sigma, gap : float, float, int
        The weight map's settings (the paper's by default).
    """

    def __init__(
        self,
        raw: np.ndarray,
        normalization: dict | None = None,
        head: str = DEFAULT_HEAD,
        w0: float = WeightMapSettings.w0,
        sigma: float = WeightMapSettings.sigma,
        gap: int = WeightMapSettings.gap,
    ) -> None:
        raw = np.asarray(raw)
        if raw.ndim != 3:
            raise InputError(f"live data needs a (C, H, W) plane; got shape {raw.shape}")
        self.raw = raw
        self._normalization, self._image = normalization, None
        h, w = raw.shape[-2:]
        self.labels = np.zeros((h, w), np.int32)  # int64 once an id needs it (_fitting)
        self.mask = np.zeros((h, w), bool)  # painted | region: what is annotated
        self.painted = np.zeros((h, w), bool)  # painted cells and their rings
        self.region = np.zeros((h, w), bool)  # areas the user marked (set_region)
        self.target = np.zeros((h, w), np.uint8)
        # The paper's border term alone; the class-balance weights come from the whole
        # annotated region when the data is sampled (:meth:`pair`), as on a whole image.
        self.border = np.zeros((h, w), np.float32)
        self.extra = np.zeros((h, w), np.float32) if head == "distance" else None
        self.head, self.w0, self.sigma, self.gap = head, w0, sigma, gap
        self.recent: deque[tuple[float, Box]] = deque(maxlen=RECENT)
        self.errors = np.zeros((0, 2), np.int64)
        self.version = 0  # bumped by every update
        self._pair: TrainPair | None = None
        self._coeffs = None

    @property
    def shape(self) -> tuple[int, int]:
        """The plane's height and width."""
        return self.labels.shape

    def checked(self, box, labels=None, mask=None, undone=False) -> Box | None:
        """``box`` checked as a box of this plane (:func:`check_update`), as four ints.

        ``undone`` may be a mask of the pixels an undo took back (see :meth:`update`).
        """
        checked = check_update(box, labels, mask, self.shape)
        if isinstance(undone, np.ndarray) and (checked is None or np.shape(undone) != (
            checked[1] - checked[0], checked[3] - checked[2])):  # fmt: skip
            raise InputError(f"the undone mask {np.shape(undone)} does not fill the box {box}")
        return checked

    def update(
        self, box: Box, labels: np.ndarray, mask: np.ndarray | None = None, undone=False
    ) -> None:
        """Replace the labels (and region) of ``box``; recompute targets around it.

        ``mask`` None: the region grows by what was painted and a :data:`RING` of
        background around each painted cell (what was annotated before stays annotated, so
        an erased cell becomes annotated background). Give the box with room for the ring.
        ``undone``: the change takes strokes back (undo): a cell that is gone and its ring
        are no longer annotated, except within the ring of a cell that is left. A boolean
        mask of the box also takes back its True pixels that are empty, though they were
        empty before too: an erase and the paint before it, undone at once, leave the
        labels as the trainer holds them, and the erase's background must go.
        """
        y0, y1, x0, x1 = (int(v) for v in box)
        h, w = self.shape
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            raise InputError(f"box {box} is outside the {h} x {w} image")
        labels = self._fitting(np.asarray(labels))
        if labels.shape != (y1 - y0, x1 - x0):
            raise InputError(f"labels of shape {labels.shape} do not fill the box {box}")
        gone = (self.labels[y0:y1, x0:x1] > 0) & (labels == 0)
        if isinstance(undone, np.ndarray):  # pixels taken back that were empty already
            gone, undone = gone | (np.asarray(undone, bool) & (labels == 0)), True
        self.labels[y0:y1, x0:x1] = labels
        if mask is None:
            from scipy import ndimage as ndi

            ring = ndi.binary_dilation(labels > 0, iterations=RING)
            if undone and gone.any():
                self.painted[y0:y1, x0:x1] &= ~ndi.binary_dilation(gone, iterations=RING)
            self.painted[y0:y1, x0:x1] |= ring
        else:
            self.painted[y0:y1, x0:x1] = np.asarray(mask, bool)
        self.mask[y0:y1, x0:x1] = self.painted[y0:y1, x0:x1] | self.region[y0:y1, x0:x1]
        self._recompute((y0, y1, x0, x1))
        self.recent.appendleft((time.monotonic(), (y0, y1, x0, x1)))
        self.version += 1
        self._pair = None

    def _fitting(self, labels: np.ndarray) -> np.ndarray:
        """``labels``, with the plane's ids widened to int64 when int32 cannot hold them.

        Ids are kept as they are (a uint32 layer's 3,000,000,000, an int64 layer's
        2**32 + 1): cast to int32 they wrapped, to "not annotated" or onto another cell.
        """
        if labels.dtype.kind not in "biu":
            raise InputError(f"labels must be integer ids; got {labels.dtype}")
        if labels.size == 0 or np.can_cast(labels.dtype, self.labels.dtype):
            return labels
        top, low = int(labels.max()), int(labels.min())
        big = np.iinfo(np.int64)
        if top > big.max:
            raise InputError(f"label id {top} is above {big.max} (2**63 - 1), the largest "
                             "id live training takes; renumber the annotations")  # fmt: skip
        small = np.iinfo(self.labels.dtype)
        if top > small.max or low < small.min:
            self.labels = self.labels.astype(np.int64)
        return labels

    def set_region(self, region: np.ndarray) -> Box | None:
        """Replace the areas the user marked as annotated (a drawn region).

        They are kept apart from the painted cells and their rings: what is annotated is
        the union of the two, so a
        region drawn over empty background teaches "no cell here" and removing the region
        keeps the painted cells. Returns the box that changed (None: nothing did).
        """
        region = np.asarray(region, bool)
        if region.shape != self.shape:
            raise InputError(f"region of shape {region.shape}; expected {self.shape}")
        self.region[...] = region
        mask = self.painted | region
        box = _differing_box(mask, self.mask)
        if box is None:
            return None
        self.mask[...] = mask
        self._recompute(box)
        self.recent.appendleft((time.monotonic(), box))
        self.version += 1
        self._pair = None
        return box

    def _recompute(self, box: Box) -> None:
        from napari_unet.core.training.targets import normalized_distance
        from napari_unet.core.training.weightmap import target_and_weights

        ctx = _grow(box, 2 * CONTEXT, self.shape)
        keep = _grow(box, CONTEXT, self.shape)
        cy0, cy1, cx0, cx1 = ctx
        # ids counted 1..n when large (a uint32 layer's 3e9): per-id tables stay small
        labels = compact_ids(np.maximum(self.labels[cy0:cy1, cx0:cx1], 0))
        mask = self.mask[cy0:cy1, cx0:cx1]
        mode = "3class" if self.head == "3class" else "binary"
        target, weights = target_and_weights(
            labels, gap=self.gap, w0=self.w0, sigma=self.sigma, mask=mask, mode=mode,
            class_weights="none",
        )  # fmt: skip
        ky0, ky1, kx0, kx1 = keep
        inner = (slice(ky0 - cy0, ky1 - cy0), slice(kx0 - cx0, kx1 - cx0))
        self.target[ky0:ky1, kx0:kx1] = target[inner]
        border = np.where(mask, np.asarray(weights, np.float32) - 1.0, 0.0)
        self.border[ky0:ky1, kx0:kx1] = border[inner]
        if self.extra is not None:
            self.extra[ky0:ky1, kx0:kx1] = normalized_distance(labels)[inner]

    def set_errors(self, origin: tuple[int, int], predicted: np.ndarray, rng=None) -> int:
        """Keep the painted cell pixels that ``predicted`` (labels of a region) misses.

        Only misses inside painted cells count: predicted cells on the background ring of a
        painted cell are often a neighbour nobody painted yet (the ring is a guess), and
        sampling there would teach the model to miss it. Returns how many.
        """
        y0, x0 = origin
        h, w = predicted.shape
        ann = self.labels[y0 : y0 + h, x0 : x0 + w] > 0
        wrong = np.argwhere(ann & (predicted == 0)) + np.array([y0, x0])
        if len(wrong) > MAX_ERRORS:
            rng = rng or np.random.default_rng(0)
            wrong = wrong[rng.choice(len(wrong), MAX_ERRORS, replace=False)]
        self.errors = wrong
        return len(wrong)

    @property
    def image(self) -> np.ndarray:
        """The plane normalised for the network, ``(C, H, W)`` float32.

        Made when training first needs it, on the trainer's thread: 1.4 s for 8192 x 8192
        that napari was frozen for at Start.
        """
        if self._image is None:
            from napari_unet.core.images.normalize import check_spec
            from napari_unet.core.images.photons import prepared

            # photon-limited: blurred, as prediction reads it
            plane, spec, _ = prepared(self.raw, check_spec(self._normalization))
            self._image = normalize(plane.astype(np.float32, copy=False), spec)
        return self._image

    @property
    def weights(self) -> np.ndarray:
        """The weight map: balanced class weights over the annotated region + border term."""
        from napari_unet.core.training.weightmap import class_weight_values

        n_classes = 3 if self.head == "3class" else 2
        wc = class_weight_values(self.target, "balanced", n_classes, self.mask)
        weights = wc.astype(np.float32)[self.target] + self.border
        weights[~self.mask] = 0.0
        return weights

    def pair(self) -> TrainPair:
        """The data as a :class:`TrainPair` (rebuilt after an update)."""
        if self._pair is None:
            from napari_unet.core.training import augment as aug

            if self._coeffs is None:
                self._coeffs = aug.prefilter(self.image)
            self._pair = TrainPair(
                self.image, self.labels.copy(), self.mask.copy(), self.target.copy(),
                self.weights, "live", self.raw, self.head,
                None if self.extra is None else self.extra.copy(), _coeffs=self._coeffs,
            )  # fmt: skip
        return self._pair

    @property
    def annotated(self) -> bool:
        """Whether any pixel is annotated yet."""
        return bool(self.mask.any())


def other_pairs(others, metadata: dict, model, head: str) -> list:
    """Training pairs of the other annotated images (cells + rings, as live painting)."""
    if not others:
        return []
    from scipy import ndimage as ndi

    from napari_unet.core.training.pairs import make_pairs

    images = [image for image, _ in others]
    labels = [np.asarray(lab) for _, lab in others]
    regions = [ndi.binary_dilation(lab > 0, iterations=RING) for lab in labels]
    return make_pairs(
        images, labels, regions, names=[f"other image {i + 1}" for i in range(len(images))],
        normalization=metadata.get("normalization"), in_channels=int(model.in_channels),
        head=head,
    )  # fmt: skip
