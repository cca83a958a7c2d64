"""Per-object measurements of label images: a table per image, a summary row, CSV files.

A *table* is a dict of equal-length numpy columns, one row per object, computed with
:func:`skimage.measure.regionprops_table` (so every number is scikit-image's):

- ``plane`` (stacks only): the plane index of the object;
- ``label``: the object's id in the label image;
- ``area``: pixels; ``centroid_y``, ``centroid_x``: pixel coordinates (row, column) of the
  centre of mass; ``bbox_min_y``, ``bbox_min_x``, ``bbox_max_y``, ``bbox_max_x``: the
  bounding box, min inclusive and max exclusive (numpy slicing);
- ``equivalent_diameter``: the diameter of the disc with the same area, in pixels;
  ``perimeter``: scikit-image's perimeter (4-connected boundary, diagonal steps weighted
  sqrt 2), in pixels; ``eccentricity`` (0 for a disc, towards 1 for a line) and ``solidity``
  (area / convex-hull area), without unit, on the pixel grid;
- with a pixel size: ``area_um2``, ``centroid_y_um``, ``centroid_x_um``,
  ``equivalent_diameter_um``, ``perimeter_um`` (see :func:`measure_objects`);
- with an image: ``mean_intensity``, ``min_intensity``, ``max_intensity`` of a one-channel
  image, or ``mean_intensity_c0``, ``mean_intensity_c1``... per channel of a colour or
  multichannel image, in the image's own units.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import check_labels
from napari_unet.core.images.layout import extra_axis, is_alpha
from napari_unet.core.review.measure_columns import PHYSICAL_COLUMNS, SHAPE_COLUMNS
from napari_unet.core.review.measure_csv import LEADING_COLUMNS, table_rows, write_csv

__all__ = [
    "LEADING_COLUMNS", "PHYSICAL_COLUMNS", "SHAPE_COLUMNS", "integer_labels", "measure_objects",
    "summarize", "table_rows", "write_csv",
]  # fmt: skip

#: regionprops_table properties of the shape columns, in order.
SHAPE_PROPERTIES = (
    "label", "area", "centroid", "bbox", "equivalent_diameter_area", "perimeter",
    "eccentricity", "solidity",
)  # fmt: skip
INTENSITY_PROPERTIES = ("intensity_mean", "intensity_min", "intensity_max")
_INTEGER_COLUMNS = (
    "plane", "label", "area", "bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x",
)  # fmt: skip


def measure_objects(
    labels: Any,
    image: Any = None,
    *,
    pixel_size: float | Sequence[float] | None = None,
    channel_axis: int | None = None,
) -> dict[str, np.ndarray]:
    """Measure every object of a label image (or of each plane of a stack).

    Parameters
    ----------
    labels : array-like
        Instance labels, 0 for background: a plane ``(Y, X)`` or a stack ``(Z, Y, X)``,
        measured plane by plane (the table then starts with a ``plane`` column; ids are per
        plane). Integer arrays, or floats holding whole numbers.
    image : array-like, optional
        Intensities measured under each object: the same shape as ``labels``, or with one
        more axis of channels: last (``(Y, X, C)``, as RGB files and napari layers hold
        colour) unless ``channel_axis`` says where; else the axis the labels lack
        (:func:`~napari_unet.core.images.layout.extra_axis`: ``(C, Y, X)``, and a stack's
        ``(Z, C, Y, X)`` even when it has as many channels as planes, as prediction reads it).
        An RGBA image's alpha is left out, as prediction leaves it (:func:`.layout.is_alpha`).
    pixel_size : float or (float, float), optional
        Pixel size in micrometres: one number for square pixels or ``(y, x)``. Adds
        ``area_um2`` (area x y x x), ``centroid_y_um`` and ``centroid_x_um`` (each pixel
        coordinate times its own size), ``equivalent_diameter_um`` (the disc of the same
        physical area) and ``perimeter_um``: the pixel perimeter times the pixel size for
        square pixels; for non-square pixels, the pixel perimeter times the ratio by which
        the object's outline (marching squares, :func:`skimage.measure.find_contours`)
        lengthens when stretched to micrometres, so each part of the boundary is scaled by
        the size along its own direction. Eccentricity and solidity stay on the pixel grid.
    channel_axis : int, optional
        The axis of ``image`` that holds channels.

    Returns
    -------
    dict of str to numpy.ndarray
        The columns (see the module text), one row per object, in plane then label order;
        all columns with zero rows when there are no objects.

    Raises
    ------
    InputError
        Empty labels, float labels with fractions, negative ids, labels not 2D or 3D, an
        image whose shape does not fit the labels, an image with NaN or infinite values
        under an object (as prediction refuses them), or a bad pixel size.
    """
    labels = _checked_labels(labels)
    size = _pixel_size(pixel_size)
    planes = _planes_of(labels, image, channel_axis)
    tables = [_measure_plane(lab, img, size) for lab, img in planes]
    if labels.ndim == 2:
        return tables[0]
    counts = [len(t["label"]) for t in tables]
    stacked = {"plane": np.repeat(np.arange(len(tables), dtype=np.int64), counts)}
    for key in tables[0]:  # uint64 with int64 gave float64: ids, a uint64 image's min/max
        columns = [t[key] for t in tables]
        if any(c.dtype == np.uint64 for c in columns):
            columns = [c.astype(np.uint64) for c in columns]
        stacked[key] = np.concatenate(columns)
    return stacked


def _checked_labels(labels: Any) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.size == 0:
        raise InputError(f"labels: an empty array (shape {arr.shape}); expected a label image")
    return check_labels(integer_labels(arr), "labels", ndim=(2, 3))


def integer_labels(labels: Any, what: str = "labels") -> np.ndarray:
    """Float labels of whole numbers (a Fiji 32-bit label image) as int64 ids; others as given.

    Raises InputError, naming ``what``, on fractional or non-finite values, negative ids, or
    ids beyond the whole numbers the float type holds exactly (2**24 for float32, 2**53 for
    float64; before, an id of 1e19 became a negative int64, reported as a negative label).
    """
    arr = np.asarray(labels)
    if not np.issubdtype(arr.dtype, np.floating) or arr.size == 0:
        return arr
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InputError(
            f"{what}: dtype {arr.dtype}; expected an integer label image (0 = background, "
            "1..N = objects), not fractional or non-finite values (probabilities)"
        )
    low, high = float(arr.min()), float(arr.max())
    if low < 0:
        raise InputError(
            f"{what}: negative labels (min {low:g}); expected ids >= 0 "
            "(0 = background, positive ids for objects)"
        )
    bits = np.finfo(arr.dtype).nmant + 1  # above 2**bits, not every whole number exists
    if high > 2**bits:
        raise InputError(
            f"{what}: dtype {arr.dtype} with ids up to {high:g}; a {arr.dtype} holds whole "
            f"numbers exactly only up to 2**{bits} ({2**bits}), so ids above it are not exact "
            "integers (neighbouring ids may have merged); save the labels as integers (uint64)"
        )
    return arr.astype(np.int64)


def _pixel_size(value) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = [value] if isinstance(value, numbers.Real) else list(np.ravel(value))
    ok = 1 <= len(parts) <= 2 and all(
        isinstance(p, numbers.Real) and not isinstance(p, bool) and math.isfinite(p) and p > 0
        for p in parts
    )
    if not ok:
        raise InputError(
            f"pixel_size: expected a positive number of micrometres or a (y, x) pair of them; "
            f"got {value!r}"
        )
    y, x = (float(parts[0]), float(parts[-1]))
    return y, x


def _planes_of(labels: np.ndarray, image, channel_axis):
    """``(labels plane, image plane with channels last or None)`` for each plane."""
    img = None if image is None else _channels_last(labels.shape, image, channel_axis)
    if img is not None:
        _check_finite(labels, img)
    if labels.ndim == 2:
        return [(labels, img)]
    return [(labels[z], None if img is None else img[z]) for z in range(labels.shape[0])]


def _check_finite(labels: np.ndarray, img: np.ndarray) -> None:
    """Refuse NaN or inf under an object, as prediction refuses them anywhere.

    Its mean, min and max intensity (and the summary's mean) would be NaN or inf, silently.
    Outside the objects they change no number: left alone.
    """
    if img.dtype.kind != "f":
        return
    inside = labels > 0
    finite = np.isfinite(img[inside])  # (objects' pixels,) or (pixels, channels)
    if finite.all():
        return
    bad = ~finite if finite.ndim == 1 else ~finite.all(axis=-1)
    if labels.ndim == 2:
        where = f"under object(s) {_listed(np.unique(labels[inside][bad]))}"
    else:
        where = f"under objects of plane(s) {_listed(np.unique(np.nonzero(inside)[0][bad]))}"
    raise InputError(
        f"the image contains NaN or infinite values {where}; replace them (for example with "
        "0) first"
    )


def _listed(ids: np.ndarray, most: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _channels_last(shape: tuple[int, ...], image, channel_axis) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype == bool:
        img = img.view(np.uint8)
    if not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise InputError(f"image: dtype {img.dtype}; expected integer or float intensities")
    axis = img.ndim - 1  # channels last (RGB files, napari layers) unless given or found
    if channel_axis is not None:
        if img.ndim != len(shape) + 1 or not -img.ndim <= channel_axis < img.ndim:
            raise InputError(
                f"image: channel_axis {channel_axis} does not fit an image of shape {img.shape} "
                f"with labels of shape {shape}; expected one more axis than the labels"
            )
        axis = channel_axis % img.ndim
    elif img.ndim == len(shape) + 1 and img.shape[:-1] != shape:
        found = extra_axis(img.shape, shape)  # (Z, C, Y, X) when Z and C both fit, as predict
        axis = axis if found is None else found
    rgba = img.ndim == len(shape) + 1 and axis == img.ndim - 1 and img.shape[-1] == 4
    img = np.moveaxis(img, axis, -1)
    if img.shape != shape and img.shape[:-1] != shape:
        raise InputError(
            f"image of shape {img.shape} does not fit labels of shape {shape}; expected the "
            "same shape, or the same shape with one more axis of channels"
        )
    if rgba and is_alpha(img[..., 3]):  # as prediction drops it; before, measured as c3
        img = img[..., :3]
    return img[..., 0] if img.ndim == len(shape) + 1 and img.shape[-1] == 1 else img


def _measure_plane(labels, image, size) -> dict[str, np.ndarray]:
    from skimage.measure import regionprops_table
    from skimage.segmentation import relabel_sequential

    props = SHAPE_PROPERTIES + (INTENSITY_PROPERTIES if image is not None else ())
    anisotropic = size is not None and size[0] != size[1]
    extra = (_outline_scale(size),) if anisotropic else ()
    # regionprops allocates per id up to the largest: ids counted 1..n, then mapped back
    # (one id of 4e9 in a small file ran out of memory)
    if labels.size and int(labels.max()) > labels.size:
        dense, _, back = relabel_sequential(labels if labels.flags.writeable else labels.copy())
    else:  # ordinary ids: as they are
        dense, back = labels, None
    raw = regionprops_table(dense, image, properties=props, extra_properties=extra)
    rows = np.asarray(raw["label"])  # the dense ids, in the table's order
    if back is not None:
        raw["label"] = np.asarray(back[raw["label"]])
    table = {ours: raw[theirs] for theirs, ours in SHAPE_COLUMNS.items()}
    for key in _INTEGER_COLUMNS:
        if key in table:  # ids of uint64 labels beyond 2**63 stay unsigned (int64: negative)
            big = key == "label" and table[key].size and table[key].max() > np.iinfo(np.int64).max
            table[key] = table[key].astype(np.uint64 if big else np.int64)
    if size is not None:
        scale = raw["outline_scale"] if anisotropic else size[0]
        table.update(_physical(table, size, scale))
    if image is not None:
        table.update(_intensities(raw, image, dense, rows))
    return table


def _outline_scale(size: tuple[float, float]):
    """An extra property: how much longer the object's outline is in micrometres than in pixels."""
    from skimage.measure import find_contours

    def outline_scale(mask: np.ndarray) -> float:
        steps = [np.diff(c, axis=0) for c in find_contours(np.pad(mask, 1).astype(float), 0.5)]
        steps = np.concatenate(steps) if steps else np.zeros((0, 2))
        pixels = np.hypot(steps[:, 0], steps[:, 1]).sum()
        if pixels == 0:
            return math.sqrt(size[0] * size[1])
        return float(np.hypot(steps[:, 0] * size[0], steps[:, 1] * size[1]).sum() / pixels)

    return outline_scale


def _physical(table, size, perimeter_scale) -> dict[str, np.ndarray]:
    area = table["area"] * (size[0] * size[1])
    return {
        "area_um2": area,
        "centroid_y_um": table["centroid_y"] * size[0],
        "centroid_x_um": table["centroid_x"] * size[1],
        "equivalent_diameter_um": np.sqrt(4.0 * area / np.pi),
        "perimeter_um": table["perimeter"] * perimeter_scale,
    }


def _intensities(raw, image: np.ndarray, dense, rows) -> dict[str, np.ndarray]:
    """The intensity columns: means as scikit-image's floats; integer images' min and max exact.

    scikit-image gives min and max as float64, exact up to 2**53: a 64-bit integer image's
    are taken from its pixels instead, kept unsigned beyond the int64 range (before, a
    uint64 image's values above 2**63 came out as -9223372036854775808, and ones beyond
    2**53 rounded).
    """
    whole = np.issubdtype(image.dtype, np.integer)
    exact = whole and image.dtype.itemsize == 8
    out = {}
    for prop in INTENSITY_PROPERTIES:
        stat = prop.split("_")[1]
        keys = [prop] if image.ndim == 2 else [f"{prop}-{c}" for c in range(image.shape[-1])]
        for c, key in enumerate(keys):
            name = f"{stat}_intensity" + ("" if image.ndim == 2 else f"_c{c}")
            if stat == "mean" or not whole:
                out[name] = raw[key]
            elif exact:
                plane = image if image.ndim == 2 else image[..., c]
                out[name] = _integer_column(_extreme(stat, dense, rows, plane))
            else:
                out[name] = raw[key].astype(np.int64)
    return out


def _extreme(stat: str, dense, rows, plane: np.ndarray) -> np.ndarray:
    """The exact ``stat`` (``min`` or ``max``) of ``plane`` over each object of ``rows``."""
    inside = dense > 0
    index = np.searchsorted(rows, dense[inside])
    info = np.iinfo(plane.dtype)
    ufunc, start = (np.minimum, info.max) if stat == "min" else (np.maximum, info.min)
    found = np.full(rows.size, start, plane.dtype)
    ufunc.at(found, index, plane[inside])
    return found


def _integer_column(values: np.ndarray) -> np.ndarray:
    """``values`` as int64, or as uint64 where they pass the int64 range (as the label column)."""
    big = values.size and values.dtype.kind == "u" and values.max() > np.iinfo(np.int64).max
    return values.astype(np.uint64 if big else np.int64)


def summarize(table: Mapping[str, Any], name: str, *, planes: int | None = None) -> dict:
    """The summary row of one image's table.

    Parameters
    ----------
    table : mapping of str to array
        A table of :func:`measure_objects`.
    name : str
        The image's name (the ``image`` entry).
    planes : int, optional
        The number of planes of a stack (a plane without objects has no row in the table;
        default: the planes that have objects).

    Returns
    -------
    dict
        ``image``, ``planes`` (stacks only), ``objects``, ``total_area``, ``mean_area``,
        ``median_area``, ``mean_equivalent_diameter`` (pixels); ``total_area_um2``,
        ``mean_area_um2`` and ``mean_equivalent_diameter_um`` with physical columns; the mean
        over objects of each per-object mean intensity (``mean_intensity``, or
        ``mean_intensity_c0``...). Means and the median are NaN without objects.

    Raises
    ------
    InputError
        If ``table`` has no ``label`` and ``area`` columns.
    """
    if "label" not in table or "area" not in table:
        raise InputError(f"{name}: not a measurement table (no label and area columns)")
    row: dict[str, Any] = {"image": name}
    if "plane" in table or planes is not None:
        found = len(np.unique(table["plane"])) if "plane" in table else 1
        row["planes"] = int(planes) if planes is not None else found
    area = np.asarray(table["area"], dtype=float)
    row.update(objects=len(area), total_area=int(area.sum()), mean_area=_mean(area))
    row["median_area"] = float(np.median(area)) if len(area) else math.nan
    row["mean_equivalent_diameter"] = _mean(table["equivalent_diameter"])
    if "area_um2" in table:
        row["total_area_um2"] = float(np.sum(table["area_um2"]))
        row["mean_area_um2"] = _mean(table["area_um2"])
        row["mean_equivalent_diameter_um"] = _mean(table["equivalent_diameter_um"])
    for key in table:
        if key.startswith("mean_intensity"):
            row[key] = _mean(table[key])
    return row


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if len(values) else math.nan
