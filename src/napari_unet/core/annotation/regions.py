"""Annotated regions: napari Shapes (rectangles, polygons, ellipses) rasterised to masks.

The region says where annotation is complete: training ignores pixels outside it and
evaluation scores only the objects inside it. Every dock turns a Shapes layer into a mask
with :func:`region_mask`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_unet.core.annotation.scanline import polygon_block
from napari_unet.core.errors import InputError

#: Shape types that enclose an area and therefore count as annotated region.
AREA_SHAPES = ("rectangle", "polygon", "ellipse")
#: napari's shape types that enclose no area: they mark nothing.
LINE_SHAPES = ("path", "line")


def _rasterise_one(kind: str, verts: np.ndarray, plane_shape: tuple[int, int]):
    """The pixels of one area shape: (rows, columns) to set, and what to set them to.

    Rows and columns are slices or index arrays; the value is True or a bool block of the
    slices' extent (a polygon's), to be combined with what other shapes marked.
    """
    from skimage.draw import ellipse

    if kind == "rectangle" and all(np.unique(verts[:, i]).size <= 2 for i in (0, 1)):
        # Axis-aligned rectangle (the usual case): a slice, not a point-in-polygon test,
        # which takes over a second on a 2048 x 2048 image.
        lo = np.maximum(np.ceil(verts.min(axis=0)), 0).astype(int)
        hi = np.minimum(np.floor(verts.max(axis=0)) + 1, plane_shape).astype(int)
        return (slice(lo[0], max(hi[0], lo[0])), slice(lo[1], max(hi[1], lo[1]))), True
    if kind == "ellipse":
        # napari stores an ellipse as the 4 corners of its bounding box, which turns with it.
        edge = verts[1] - verts[0]
        if min(abs(edge)) > 1e-6 * max(abs(edge)):
            return _turned_ellipse(verts, plane_shape), True
        lo, hi = verts.min(axis=0), verts.max(axis=0)
        centre, radii = (lo + hi) / 2, np.maximum((hi - lo) / 2, 0.5)
        return ellipse(centre[0], centre[1], radii[0], radii[1], shape=plane_shape), True
    # Polygons, freehand shapes and turned rectangles: skimage.draw.polygon's pixels, by
    # scanlines (skimage's per-pixel test is O(area x edges) and holds the GIL: see scanline).
    rows, cols, inside = polygon_block(verts[:, 0], verts[:, 1], plane_shape)
    return (rows, cols), inside


def _turned_ellipse(corners: np.ndarray, plane_shape: tuple[int, int]):
    """The pixels inside the ellipse inscribed in a turned box (corners in order).

    The box is a parallelogram: a rotated rectangle, or one drawn on a Shapes layer whose
    scale differs from the labels' along one axis. The ellipse is the image of the unit disc
    under the map taking (1, 0) and (0, 1) to the two half-edges; a pixel is inside when its
    coordinates in that basis (each read with :func:`_across`) lie in the unit disc. Before,
    they were read by projection onto each half-edge, right only when the edges are
    perpendicular: on such a parallelogram most of the pixels were wrong.
    """
    centre = corners.mean(axis=0)
    a, b = (corners[1] - corners[0]) / 2, (corners[2] - corners[1]) / 2
    lo = np.maximum(np.floor(corners.min(axis=0)), 0).astype(int)
    hi = np.minimum(np.ceil(corners.max(axis=0)) + 1, plane_shape).astype(int)
    rr, cc = np.mgrid[lo[0] : max(hi[0], lo[0]), lo[1] : max(hi[1], lo[1])]
    offset = np.stack([rr - centre[0], cc - centre[1]], axis=-1)
    edges = ((a, _across(a, b)), (b, _across(b, a)))
    inside = sum((offset @ d / max(e @ d, 0.25)) ** 2 for e, d in edges) < 1
    return rr[inside], cc[inside]


def _across(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The part of ``a`` perpendicular to ``b``: ``p @ it / (a @ it)`` reads p along ``a``.

    That is p's coordinate along ``a`` in the basis (a, b). Edges perpendicular to within
    rounding (a rotated box) give ``a`` itself, the projection used before, bit for bit;
    so do a zero or parallel ``b`` (a flat box: no basis).
    """
    ab, bb = a @ b, b @ b
    if ab * ab <= 1e-24 * (a @ a) * bb:
        return a
    d = a - (ab / bb) * b
    return d if d @ d > 1e-12 * (a @ a) else a


def region_mask(
    shapes_data: Sequence[np.ndarray],
    shape_types: Sequence[str],
    image_shape: Sequence[int],
) -> np.ndarray:
    """Rasterise napari Shapes (rectangles, polygons, ellipses) into a boolean mask.

    Paths and lines enclose no area and are ignored; an unknown shape type is an
    InputError (case is ignored: "Rectangle" is a rectangle). Shapes with as many coordinates as
    ``image_shape`` has axes belong to the plane given by their leading coordinates;
    2D shapes on a stack apply to every plane; a shape without vertices marks nothing.
    No shapes give an all-False mask: nothing
    is marked as completely annotated.

    Parameters
    ----------
    shapes_data : sequence of numpy.ndarray
        Vertices per shape in data coordinates (napari's ``Shapes.data``), N x D.
    shape_types : sequence of str
        napari's ``Shapes.shape_type``, one per shape: rectangle, polygon, ellipse, path
        or line.
    image_shape : sequence of int
        Shape of the mask (that of the labels: Y x X or planes x Y x X).

    Returns
    -------
    numpy.ndarray
        bool mask of ``image_shape``.
    """
    image_shape = tuple(int(s) for s in image_shape)
    check_region_fits(shapes_data, shape_types, image_shape)
    mask = np.zeros(image_shape, dtype=bool)
    plane_shape = image_shape[-2:]
    for verts, kind in zip(shapes_data, shape_types, strict=True):
        kind = _checked_kind(kind)
        if kind in LINE_SHAPES:
            continue
        verts = _fitting_vertices(verts, kind, image_shape)
        if verts is None:  # a shape of another plane, dropped by the caller: no pixel
            continue
        lead = verts[:, :-2]
        plane = tuple(int(round(v)) for v in lead[0]) if lead.shape[1] else (Ellipsis,)
        if lead.shape[1] and not all(
            0 <= p < s for p, s in zip(plane, image_shape[:-2], strict=True)
        ):
            continue
        (rows, cols), value = _rasterise_one(kind, verts[:, -2:], plane_shape)
        if value is True:
            mask[plane + (rows, cols)] = True
        else:
            mask[plane + (rows, cols)] |= value
    return mask


def _fitting_vertices(verts, kind: str, image_shape: tuple[int, ...]):
    """An area shape's vertices as floats, None without any; InputError if they do not fit.

    Shapes fit an image when they have from 2 up to as many coordinates as it has axes.
    """
    verts = np.asarray(verts, dtype=float)
    if verts.size == 0:
        return None
    if verts.ndim != 2 or verts.shape[1] < 2 or verts.shape[1] > len(image_shape):
        raise InputError(
            f"a {kind} with vertices of shape {verts.shape} does not fit an image of "
            f"shape {image_shape}"
        )
    if not np.isfinite(verts).all():  # an ellipse marked nothing, a rectangle went astray
        raise InputError(f"a {kind}'s vertices must be finite numbers; got NaN or infinity")
    return verts


def check_region_fits(
    shapes_data: Sequence[np.ndarray], shape_types: Sequence[str], image_shape: Sequence[int]
) -> None:
    """Raise InputError where :func:`region_mask` would for these shapes, without rasterising.

    The shapes' types must be known and each area shape's vertices must fit the image's
    axes (a shape outside the image, or on a plane it lacks, fits and marks nothing).
    """
    image_shape = tuple(int(s) for s in image_shape)
    if isinstance(shape_types, str):  # before: "1 shapes but 9 shape types" for "rectangle"
        raise InputError(
            f"shape_types must be a list of types, one per shape (e.g. [{shape_types!r}] for "
            f"one shape); got the string {shape_types!r}"
        )
    if len(shapes_data) != len(shape_types):
        raise InputError(
            f"got {len(shapes_data)} shapes but {len(shape_types)} shape types; "
            "expected one type per shape"
        )
    for verts, kind in zip(shapes_data, shape_types, strict=True):
        kind = _checked_kind(kind)
        if kind not in LINE_SHAPES:
            _fitting_vertices(verts, kind, image_shape)


def _checked_kind(kind) -> str:
    """The shape type ``kind`` in lower case; an unknown one is an InputError.

    Before, an unknown type ("rect", "polgon") was skipped silently, leaving its region
    unmarked. Case is ignored ("Rectangle" is a rectangle).
    """
    name = kind.lower() if isinstance(kind, str) else kind
    if name not in AREA_SHAPES + LINE_SHAPES:
        raise InputError(
            f"unknown shape type {kind!r}; expected one of napari's: "
            f"{', '.join(AREA_SHAPES)} (areas) or {', '.join(LINE_SHAPES)} (ignored)"
        )
    return name


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


def planes_with_region(
    shapes_data: Sequence[np.ndarray], shape_types: Sequence[str], n_planes: int
) -> set[int]:
    """The planes of a stack of ``n_planes`` that an area shape (not a line) lies on.

    Read from each shape's leading coordinate, as :func:`region_mask` places it, without
    rasterising; a 2D shape (every plane) gives all of them.
    """
    planes: set[int] = set()
    for verts, kind in zip(shapes_data, shape_types, strict=True):
        verts = np.asarray(verts, dtype=float)
        if _checked_kind(kind) in LINE_SHAPES or verts.size == 0 or verts.ndim != 2:
            continue
        if verts.shape[1] <= 2:
            return set(range(n_planes))
        planes.add(int(round(verts[0, 0])))
    return {p for p in planes if 0 <= p < n_planes}
