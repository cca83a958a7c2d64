"""TIFF metadata: which series is the image, resolution tags, whether the data is in the file.

:func:`check_whole` refuses a series that lacks planes its file declares (tifffile reads a
cut-short stack as the planes that are left, and a multi-file OME-TIFF's missing companion
file as zeros): only metadata is read, never the pixels.

:func:`image_series` is the one choice of series that reading the pixels
(:func:`.io.read_image`) and reading the pixel size (:func:`.pixels.read_pixel_size`) share,
so a thumbnail written first never lends the image its calibration.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError

__all__ = [
    "DATA_SLACK",
    "check_data_in_file",
    "check_whole",
    "image_series",
    "plane",
    "resolution_tags",
]


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


def check_whole(p: Path, tf, series) -> None:
    """Refuse a series that lacks planes or bytes its file declares (read: metadata only).

    A companion file of a multi-file OME-TIFF that is missing (named; tifffile read its
    planes as zeros); a stack cut short: fewer planes than its ImageJ or tifffile metadata
    declares, or a page list that breaks off past the end of the file (tifffile read the
    planes that are left, often one, as the image); an uncompressed series larger than its
    file; compressed data past the end (:func:`check_data_in_file`).
    """
    pages = list(series.pages)
    if any(page is None for page in pages):
        raise InputError(_missing_planes(p, tf, pages))
    declared, read = _declared_planes(tf, series), _planes(series, series.shape)
    if declared is not None and read < declared:
        raise InputError(
            f"{p}: the file is truncated or damaged (it declares {declared} planes, "
            f"{read} can be read); copy it again from its source"
        )
    cut = _pages_cut_off(tf, series)
    if cut is not None:
        raise InputError(
            f"{p}: the file is truncated or damaged (its list of planes breaks off after "
            f"plane {cut}, past the end of the file); copy it again from its source"
        )
    raw = all(page.compression == 1 for page in pages)
    bits = getattr(pages[0], "bitspersample", 8 * series.dtype.itemsize)
    nbytes = int(np.prod(series.shape, dtype=np.float64) * bits / 8)  # 1-bit masks
    multifile = bool(getattr(series, "is_multifile", False))  # OME: pages per file
    if raw and not multifile and nbytes > p.stat().st_size:
        raise InputError(
            f"{p}: the file is truncated or damaged (it declares "
            f"{'x'.join(map(str, series.shape))} pixels, {nbytes} bytes, in a file of "
            f"{p.stat().st_size} bytes)"
        )
    check_data_in_file(p, pages, raw_too=multifile)


def _planes(series, shape) -> int:
    """The planes (pages' worth of pixels) in ``shape``, pages of ``series``' first's shape."""
    page = int(np.prod(series.keyframe.shape, dtype=np.float64)) or 1
    return int(np.prod(shape, dtype=np.float64)) // page


def _declared_planes(tf, series) -> int | None:
    """The planes the file's ImageJ or tifffile (shaped) metadata declares, or None.

    ImageJ's count only where tifffile fell back to a generic series, having failed to read
    the file as ImageJ's (a Micro-Manager or OME file with ImageJ metadata too is read as
    its own kind: its ImageJ count, which tifffile calls unreliable, is not used).
    """
    import json

    try:
        if series.kind == "shaped":
            text = series.keyframe.shaped_description or ""  # JSON, or old "shape=(...)"
            shape = text[7:-1].split(",") if text[:6] == "shape=" else json.loads(text)["shape"]
            return _planes(series, [int(n) for n in shape]) if text else None
        if tf.is_imagej and series.kind in ("generic", "uniform"):  # its ImageJ series failed
            return int((tf.imagej_metadata or {}).get("images", 1))  # (not another kind's)
    except Exception:  # noqa: BLE001 - metadata of an untrusted file: nothing declared
        return None
    return None


def _pages_cut_off(tf, series) -> int | None:
    """The number of pages, when the last one points to a next page past the end of the file.

    Only series whose every page tifffile has listed already (generic, uniform): a cut-short
    ImageJ or shaped stack is caught by the planes it declares, at no extra reading.
    """
    import struct

    if series.kind not in ("generic", "uniform"):
        return None
    try:
        last, fh, tiff = tf.pages[-1], tf.filehandle, tf.tiff
        fh.seek(last.offset)
        (count,) = struct.unpack(tiff.tagnoformat, fh.read(tiff.tagnosize))
        fh.seek(last.offset + tiff.tagnosize + count * tiff.tagsize)
        (following,) = struct.unpack(tiff.offsetformat, fh.read(tiff.offsetsize))
    except Exception:  # noqa: BLE001 - unreadable: the IFD was read once already
        return None
    return len(tf.pages) if following >= fh.size else None


def _missing_planes(p: Path, tf, pages) -> str:
    """Why planes of an OME series are missing: its companion files named where absent."""
    import xml.etree.ElementTree as ElementTree

    gone = sum(page is None for page in pages)
    names: set[str] = set()
    try:
        for node in ElementTree.fromstring(tf.ome_metadata or "").iter():
            if str(node.tag).endswith("UUID") and node.get("FileName"):
                names.add(node.get("FileName"))
    except Exception:  # noqa: BLE001 - damaged OME-XML: no names
        names = set()
    missing = sorted(n for n in names if not (p.parent / n).is_file())
    if missing:
        return (
            f"{p}: {gone} of its {len(pages)} planes lie in companion files that are missing "
            f"({', '.join(missing)}); a multi-file OME-TIFF is read whole: copy the missing "
            f"files into the folder that holds {p.name}"
        )
    return (
        f"{p}: {gone} of its {len(pages)} planes cannot be read (a companion file of a "
        "multi-file OME-TIFF damaged, or the file truncated); copy the files again from "
        "their source"
    )
