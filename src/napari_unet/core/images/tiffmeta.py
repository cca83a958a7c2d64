"""TIFF metadata: which series is the image, resolution tags, whether the data is in the file.

:func:`image_series` is the one choice of series that reading the pixels
(:func:`.io.read_image`) and reading the pixel size (:func:`.pixels.read_pixel_size`) share,
so a thumbnail written first never lends the image its calibration.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["DATA_SLACK", "check_data_in_file", "image_series", "plane", "resolution_tags"]


def resolution_tags(pixel_size) -> dict:
    """``tifffile.imwrite`` keywords recording ``pixel_size`` (micrometres; ``(y, x)`` or one).

    The tags hold pixels per centimetre, the baseline unit every reader knows. A size whose
    resolution would be a whole dpi up to 1200 (25.4 µm: 1000 dpi) is written per micrometre
    instead, since such dpi values are read as a drawing program's default, not a
    calibration. None, or a size that is not a positive number: no keywords (no tags).
    """
    if pixel_size is None:
        return {}
    try:
        y, x = [float(pixel_size)] * 2 if np.ndim(pixel_size) == 0 else map(float, pixel_size)
    except (TypeError, ValueError):  # not one number or two
        return {}
    if not (math.isfinite(y) and math.isfinite(x) and y > 0 and x > 0):
        return {}
    dpi = [25400.0 / v for v in (y, x)]
    if any(d <= 1200 and abs(d - round(d)) < 1e-3 for d in dpi):
        return {"resolution": (1.0 / x, 1.0 / y), "resolutionunit": "MICROMETER"}
    return {"resolution": (1e4 / x, 1e4 / y), "resolutionunit": "CENTIMETER"}


def plane(series) -> tuple[int, int]:
    """A series' plane size (Y, X); tifffile drops axes of length 1 (a one-pixel line)."""
    axes, shape = series.axes.upper(), tuple(series.shape)
    return tuple(shape[axes.index(a)] if a in axes else 1 for a in "YX")


def image_series(p: Path, series) -> int:
    """The index of the series that is the image: the largest, the others its previews.

    A file may hold, beside the image, smaller series that are not images of their own (a
    thumbnail, a preview, a slide scanner's label and macro pictures), before or after it:
    the largest series is read, wherever it lies (before, the first, so a preview written
    first was read in place of the image). Refused: several series of the image's shape (a
    multi-position OME-TIFF, or planes that ``tifffile.imwrite(..., append=True)`` adds as
    series of their own), and, when a later series is the largest, another series as large
    as it in one plane dimension (a second image: which one to read is not for napari-unet
    to guess). A first series at least as large as every other is read as before (a z-stack
    followed by its projection, say).
    """
    planes = [plane(s) for s in series]
    index = max(range(len(series)), key=lambda k: planes[k][0] * planes[k][1])  # the first
    shape = tuple(series[index].shape)
    alike = sum(tuple(s.shape) == shape for s in series)
    if alike > 1:
        raise InputError(
            f"{p}: the file holds {len(series)} image series, {alike} of them "
            f"{'x'.join(map(str, shape))} (the positions of a multi-position acquisition, or "
            "planes appended one by one), and only one would be read: save each "
            "position to its own file, or the planes as one stack (Fiji's Bio-Formats "
            "Importer opens each series as an image of its own)"
        )
    (y, x) = planes[index]
    others = [k for k, (h, w) in enumerate(planes) if k != index and not (h < y and w < x)]
    if others and index > 0:  # the first series the largest: read as always (a projection)
        sizes = ", ".join(f"{k}: {'x'.join(map(str, series[k].shape))}" for k in others)
        raise InputError(
            f"{p}: the file holds {len(series)} image series, and besides the largest "
            f"(series {index}, {'x'.join(map(str, shape))}) others that are not plainly "
            f"its thumbnails or previews (series {sizes}); napari-unet reads one image per "
            "file: save each image to its own file (Fiji's Bio-Formats Importer opens each "
            "series as an image of its own)"
        )
    return index


DATA_SLACK = 65536  #: Bytes past the end a compressed TIFF's data may claim (padded count).


def check_data_in_file(p: Path, pages, raw_too: bool = False) -> None:
    """Refuse a compressed TIFF whose data (first, last page) ends far past its own file's end.

    Cut short, or declaring a huge image: tifffile made the whole array first (1.5 GB for a
    127-byte file) and zero-filled it or failed in the codec's words. A last byte count
    padded a little (:data:`DATA_SLACK`) is the decoder's; uncompressed files: their size,
    but a series over several files (``raw_too``, OME) is checked here, each page in its own.
    """
    for page in (pages[0], pages[-1]):
        if getattr(page, "compression", 1) == 1 and not raw_too:
            continue
        handle = getattr(getattr(page, "parent", None), "filehandle", None)
        size, p = getattr(handle, "size", None), getattr(handle, "path", None) or p
        spans = [(int(o), int(o) + int(n)) for o, n in zip(getattr(page, "dataoffsets", ()),
                 getattr(page, "databytecounts", ()), strict=False)] or [(0, 0)]  # fmt: skip
        start, end = max(a for a, _ in spans), max(b for _, b in spans)
        slack = 0 if getattr(page, "compression", 1) == 1 else DATA_SLACK  # (raw: exact)
        if size is not None and (end > size + slack or start > size):
            raise InputError(
                f"{p}: the file is truncated or damaged (its image data ends at byte {end}, "
                f"past the end of the file, {size} bytes)"
            )
