"""Annotation arithmetic: label ids, annotated regions, merging predictions, image axes.

Pure numpy / scikit-image functions used by the Annotate widget and by training (the
region mask says where annotation is complete). Persistence lives in
:mod:`napari_unet.core.project`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError

#: Shape types that enclose an area and therefore count as annotated region.
AREA_SHAPES = ("rectangle", "polygon", "ellipse")

#: How the leading (non-spatial) axes of an image are read.
AXES_CHOICES = ("auto", "2D", "stack", "channels")

#: A first axis this short, on a 3D non-RGB image, is read as channels by ``"auto"``.
MAX_CHANNELS = 4


@dataclass(frozen=True)
class AxesPlan:
    """How an image layer's axes map onto its annotation labels.

    Attributes
    ----------
    kind : str
        ``"2D"``, ``"rgb"``, ``"stack"`` or ``"channels"``.
    labels_shape : tuple of int
        Shape of the labels array: the spatial axes (planes of a stack included).
    n_leading : int
        Number of leading image axes not present in the labels (channels).
    """

    kind: str
    labels_shape: tuple[int, ...]
    n_leading: int

    @property
    def is_stack(self) -> bool:
        """True when the labels have a plane axis before the two image axes."""
        return len(self.labels_shape) == 3


def plan_axes(shape: Sequence[int], rgb: bool = False, axes: str = "auto") -> AxesPlan:
    """Decide which axes of an image are annotated.

    RGB(A) images: the last axis is colour, the labels take the two before it. 2D images:
    the labels have the image's shape. 3D images are ambiguous: a stack of planes
    (labels of the same shape, annotated plane by plane) or channels first (labels of
    the last two axes). ``"auto"`` reads a first axis of at most :data:`MAX_CHANNELS`
    as channels and anything longer as planes, except that a last axis that short
    (channels last, which napari would show as narrow planes) is refused with a message.
    Labels of a channels-first image have two axes; napari lines layers up by their last
    axes, so they overlay every channel.

    Parameters
    ----------
    shape : sequence of int
        The image layer's data shape.
    rgb : bool
        Whether the layer is RGB(A) (napari's ``layer.rgb``).
    axes : str
        One of :data:`AXES_CHOICES`.

    Returns
    -------
    AxesPlan

    Raises
    ------
    InputError
        If the image has too few or too many axes for the requested reading.
    """
    shape = tuple(int(s) for s in shape)
    if axes not in AXES_CHOICES:
        raise InputError(f"axes must be one of {', '.join(AXES_CHOICES)}; got {axes!r}")
    if rgb:
        if len(shape) != 3:
            raise InputError(
                f"an RGB image must be Y x X x colour to annotate; got shape {shape}. "
                "Stacks of RGB images are not supported: open one plane."
            )
        return AxesPlan("rgb", shape[:2], 0)
    ndim = len(shape)
    if ndim == 2:
        if axes in ("stack", "channels"):
            raise InputError(f"a 2D image {shape} has no {axes} axis; choose 'auto' or '2D'")
        return AxesPlan("2D", shape, 0)
    if ndim == 3:
        if axes == "2D":
            raise InputError(
                f"image of shape {shape} is 3D; choose 'stack' (planes first) or "
                "'channels' (channels first)"
            )
        if axes == "channels" or (axes == "auto" and shape[0] <= MAX_CHANNELS):
            return AxesPlan("channels", shape[1:], 1)
        if axes == "auto" and shape[-1] <= MAX_CHANNELS:
            raise InputError(
                f"image of shape {shape} looks like Y x X x {shape[-1]} channels (channels "
                f"last), which napari shows as {shape[0]} planes of {shape[1]} x {shape[2]} "
                "pixels. Open it with one layer per channel (napari's channel_axis) or with "
                "the channels first; choose 'stack' if it really is a stack of planes"
            )
        return AxesPlan("stack", shape, 0)
    raise InputError(
        f"cannot annotate an image of shape {shape} read as {axes!r}: expected Y x X, "
        "Y x X x RGB, planes x Y x X or channels x Y x X. For more axes open the image "
        "with a channel axis (one layer per channel) or take one time point."
    )


def next_free_id(labels: np.ndarray) -> int:
    """Return the smallest label id above every id in use.

    Ids are never reused, so a new cell cannot merge with a cell that was painted,
    erased in part and is still present somewhere else.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer instance labels, 0 is background.

    Returns
    -------
    int
        ``max(labels) + 1`` (1 for an empty mask).

    Raises
    ------
    InputError
        If ``labels`` is not an integer array or the next id does not fit its dtype.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be an integer array; got {labels.dtype}")
    top = int(labels.max()) if labels.size else 0
    nxt = max(top, 0) + 1
    if nxt > np.iinfo(labels.dtype).max:
        raise InputError(
            f"no free label id left in {labels.dtype} (largest id {top}); relabel the "
            "annotations or use a wider integer type"
        )
    return nxt


def count_cells(labels: np.ndarray) -> tuple[int, int]:
    """Return (number of distinct cells, annotated pixels) of an instance mask."""
    flat = np.asarray(labels).ravel()
    area = int(np.count_nonzero(flat))
    if area == 0:
        return 0, 0
    ids = flat[flat != 0]
    return int(np.unique(ids).size), area


def _rasterise_one(kind: str, verts: np.ndarray, plane_shape: tuple[int, int]):
    from skimage.draw import ellipse, polygon

    if kind == "rectangle" and all(np.unique(verts[:, i]).size <= 2 for i in (0, 1)):
        # Axis-aligned rectangle (the usual case): a slice, not a point-in-polygon test,
        # which takes over a second on a 2048 x 2048 image.
        lo = np.maximum(np.ceil(verts.min(axis=0)), 0).astype(int)
        hi = np.minimum(np.floor(verts.max(axis=0)) + 1, plane_shape).astype(int)
        return slice(lo[0], max(hi[0], lo[0])), slice(lo[1], max(hi[1], lo[1]))
    if kind == "ellipse":
        # napari stores an ellipse as the 4 corners of its bounding box.
        lo, hi = verts.min(axis=0), verts.max(axis=0)
        centre, radii = (lo + hi) / 2, np.maximum((hi - lo) / 2, 0.5)
        return ellipse(centre[0], centre[1], radii[0], radii[1], shape=plane_shape)
    return polygon(verts[:, 0], verts[:, 1], shape=plane_shape)


def region_mask(
    shapes_data: Sequence[np.ndarray],
    shape_types: Sequence[str],
    image_shape: Sequence[int],
) -> np.ndarray:
    """Rasterise napari Shapes (rectangles, polygons, ellipses) into a boolean mask.

    Paths and lines enclose no area and are ignored. Shapes with as many coordinates as
    ``image_shape`` has axes belong to the plane given by their leading coordinates;
    2D shapes on a stack apply to every plane. No shapes give an all-False mask: nothing
    is marked as completely annotated.

    Parameters
    ----------
    shapes_data : sequence of numpy.ndarray
        Vertices per shape in data coordinates (napari's ``Shapes.data``), N x D.
    shape_types : sequence of str
        napari's ``Shapes.shape_type``, one per shape.
    image_shape : sequence of int
        Shape of the mask (that of the labels: Y x X or planes x Y x X).

    Returns
    -------
    numpy.ndarray
        bool mask of ``image_shape``.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if len(shapes_data) != len(shape_types):
        raise InputError(
            f"got {len(shapes_data)} shapes but {len(shape_types)} shape types; "
            "expected one type per shape"
        )
    mask = np.zeros(image_shape, dtype=bool)
    plane_shape = image_shape[-2:]
    for verts, kind in zip(shapes_data, shape_types, strict=True):
        if kind not in AREA_SHAPES:
            continue
        verts = np.asarray(verts, dtype=float)
        if verts.ndim != 2 or verts.shape[1] < 2 or verts.shape[1] > len(image_shape):
            raise InputError(
                f"a {kind} with vertices of shape {verts.shape} does not fit an image of "
                f"shape {image_shape}"
            )
        rr, cc = _rasterise_one(kind, verts[:, -2:], plane_shape)
        lead = verts[:, :-2]
        if lead.shape[1] == 0:
            mask[..., rr, cc] = True
            continue
        plane = tuple(int(round(v)) for v in lead[0])
        if all(0 <= p < s for p, s in zip(plane, image_shape[:-2], strict=True)):
            mask[plane + (rr, cc)] = True
    return mask


def whole_image_rectangle(plane_shape: Sequence[int], plane: Sequence[int] = ()) -> np.ndarray:
    """Return the corners of a rectangle covering a whole plane, for a napari Shapes layer.

    Parameters
    ----------
    plane_shape : sequence of int
        Height and width of the image.
    plane : sequence of int
        Leading coordinates (the plane index of a stack), empty for 2D.

    Returns
    -------
    numpy.ndarray
        4 x D vertices; they cover the pixel centres 0 .. size-1 of both axes.
    """
    h, w = (float(s - 1) for s in plane_shape[-2:])
    lead = [float(p) for p in plane]
    return np.array([lead + [0, 0], lead + [0, w], lead + [h, w], lead + [h, 0]])


def merge_prediction(
    annotations: np.ndarray,
    prediction: np.ndarray,
    region: np.ndarray | None = None,
    min_size: int = 10,
) -> np.ndarray:
    """Turn predicted instances into annotations without touching the user's cells.

    Rules: every annotated pixel (non-zero in ``annotations``) is kept as it is, so the
    user's strokes win; predicted pixels outside ``region`` are ignored; a predicted
    instance that overlaps a user's cell keeps only its free pixels; what remains is
    split into connected pieces and pieces smaller than ``min_size`` pixels are dropped;
    each surviving piece gets a fresh id above every id in use.

    Parameters
    ----------
    annotations : numpy.ndarray
        Current instance annotations (integer, 0 background).
    prediction : numpy.ndarray
        Predicted instance labels of the same shape.
    region : numpy.ndarray, optional
        bool mask of the same shape where predictions may be accepted; None = everywhere.
    min_size : int
        Smallest piece of a predicted instance (in pixels) that is kept.

    Returns
    -------
    numpy.ndarray
        New annotations, same shape and dtype as ``annotations`` (a new array).

    Raises
    ------
    InputError
        On shape mismatch, a non-integer prediction, or ids that overflow the dtype.
    """
    from skimage.measure import label as connected

    annotations = np.asarray(annotations)
    prediction = np.asarray(prediction)
    if prediction.shape != annotations.shape:
        raise InputError(
            f"prediction of shape {prediction.shape} does not match the annotations of "
            f"shape {annotations.shape}; predict on the same image"
        )
    if not np.issubdtype(prediction.dtype, np.integer):
        raise InputError(
            f"prediction must be integer instance labels; got {prediction.dtype}. "
            "Use a Labels layer, not probabilities."
        )
    if region is not None and np.shape(region) != annotations.shape:
        raise InputError(
            f"region mask of shape {np.shape(region)} does not match the annotations of "
            f"shape {annotations.shape}"
        )
    free = (annotations == 0) & (prediction > 0)
    if region is not None:
        free &= np.asarray(region, dtype=bool)
    result = annotations.copy()
    if not free.any():
        return result
    # Pieces of the same predicted id that got separated, and neighbouring instances
    # that touch, stay apart: skimage labels connected runs of equal value.
    pieces = connected(np.where(free, prediction, 0), background=0, connectivity=1)
    sizes = np.bincount(pieces.ravel())
    keep = sizes >= max(int(min_size), 1)
    keep[0] = False
    new_ids = np.zeros(sizes.size, dtype=np.int64)
    start = next_free_id(annotations)
    new_ids[keep] = np.arange(start, start + int(keep.sum()))
    if int(keep.sum()) and new_ids.max() > np.iinfo(result.dtype).max:
        raise InputError(
            f"{int(keep.sum())} new cells do not fit label type {result.dtype}; "
            "relabel the annotations first"
        )
    mapped = new_ids[pieces]
    put = mapped > 0
    result[put] = mapped[put].astype(result.dtype)
    return result
