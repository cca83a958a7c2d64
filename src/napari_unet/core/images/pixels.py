"""The physical pixel size a TIFF file records (OME, ImageJ or the resolution tags).

Microscopes and image tools record the pixel size in three ways; :func:`read_pixel_size`
reads them in this order and returns the first that is complete:

1. **OME-TIFF** (Bio-Formats, OMERO, most acquisition software): the ``PhysicalSizeX`` and
   ``PhysicalSizeY`` attributes of the ``Pixels`` element of the image that is read, each
   with its unit (``PhysicalSizeXUnit``, micrometres when absent, as the OME schema says).
2. **ImageJ / Fiji** TIFFs: the ``unit`` of the ImageJ description (``micron``, ``um``,
   ``µm``, ``nm``, ``mm``, ``cm``...) and the ``XResolution`` / ``YResolution`` tags, which
   hold *pixels per unit*. With a unit of ``inch`` or ``cm``, dpi defaults are ignored as
   in 3.
3. **Plain TIFF** resolution tags with ``ResolutionUnit`` centimetre or inch (or
   tifffile's millimetre and micrometre). With centimetre or inch, whole-number resolutions
   up to 1200 pixels per inch (72, 96, 300 dpi...) are the display or print defaults that
   drawing programs and libraries write, not a calibration, and are ignored.

The tags are those of the series that :func:`.io.read_image` reads (the largest, not a
thumbnail written before it: before, the thumbnail's calibration was read), and the OME
``Image`` of the same index.

Anything else (no metadata, a unit of "pixel", PNG or JPEG files) gives ``None``: the size is
unknown, and measurements stay in pixels.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["read_pixel_size", "unit_in_um"]

#: Micrometres per unit, by the names files use for the unit (lower case).
_UNITS_UM = {
    "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "micrometers": 1.0, "micrometres": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "å": 1e-4, "angstrom": 1e-4,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
    "cm": 1e4, "centimeter": 1e4, "centimetre": 1e4,
    "m": 1e6, "meter": 1e6, "metre": 1e6,
    "inch": 25400.0, "in": 25400.0,
}  # fmt: skip

#: TIFF ResolutionUnit values: 2 inch, 3 centimetre (1 is "no unit"); 4 millimetre and 5
#: micrometre are tifffile's (before, they were ignored and the pixel size lost).
_TIFF_UNITS_UM = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}

#: The units whose whole dpi values are display or print defaults (inch, centimetre).
_DPI_UNITS_UM = (25400.0, 1e4)


def unit_in_um(unit: str | None) -> float | None:
    """Micrometres in one ``unit`` (``"µm"``, ``"micron"``, ``"nm"``...), None if unknown."""
    if not unit:
        return None
    text = str(unit).strip().lower()
    for micro in ("\\u00b5", "\u03bc", "\u00b5"):  # ImageJ's escape, Greek mu, micro sign
        text = text.replace(micro, "µ")
    return _UNITS_UM.get(text)


def read_pixel_size(path: str | os.PathLike) -> tuple[float, float] | None:
    """The pixel size of an image file in micrometres, ``(y, x)``, or None when unknown.

    Parameters
    ----------
    path : path-like
        An image file. Only TIFF files record a pixel size; other formats give None.

    Returns
    -------
    tuple of float or None
        ``(y, x)`` pixel height and width in micrometres (see the module text for where it
        is read from), or None when the file does not record it.

    Raises
    ------
    InputError
        If the file does not exist. A TIFF whose metadata cannot be parsed gives None.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir() or p.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            index = _series_read(p, tf)
            page = tf.series[index].keyframe if tf.series else tf.pages[0]
            found = _from_ome(tf.ome_metadata, index) if tf.is_ome else None
            if found is None and tf.is_imagej:
                scale = unit_in_um((tf.imagej_metadata or {}).get("unit"))
                if scale not in _DPI_UNITS_UM or not _dpi_default(page, scale):
                    found = _from_tags(page, scale)
            if found is None:
                found = _from_tiff_unit(page)
    except Exception:  # noqa: BLE001 - metadata is optional: a damaged one is "unknown"
        return None
    return found


def _series_read(p: Path, tf) -> int:
    """The index of the series that read_image reads; the first where it refuses the file."""
    from napari_unet.core.images.tiffmeta import image_series

    try:
        return image_series(p, tf.series) if tf.series else 0
    except InputError:  # several images: read_image refuses it, the first says its size
        return 0


def _checked(y: float | None, x: float | None) -> tuple[float, float] | None:
    if y is None or x is None:
        return None
    if not (math.isfinite(y) and math.isfinite(x) and y > 0 and x > 0):
        return None
    return float(y), float(x)


def _from_ome(xml: str | None, index: int = 0) -> tuple[float, float] | None:
    """PhysicalSizeY/X of the ``index``-th Image's Pixels element, in micrometres."""
    if not xml:
        return None
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    images = [e for e in root if e.tag.rsplit("}", 1)[-1] == "Image"]
    image = images[index] if index < len(images) else root
    pixels = next((e for e in image.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None
    sizes = []
    for axis in ("Y", "X"):
        value = pixels.get(f"PhysicalSize{axis}")
        scale = unit_in_um(pixels.get(f"PhysicalSize{axis}Unit") or "µm")
        size = None
        if value is not None and scale is not None:
            with contextlib.suppress(ValueError):
                size = float(value) * scale
        sizes.append(size)
    return _checked(*sizes)


def _per_unit(page, tag: str) -> float | None:
    """Pixels per unit of a resolution tag (a rational), None when absent or zero."""
    found = page.tags.get(tag)
    if found is None:
        return None
    value = found.value
    num, den = value if isinstance(value, tuple) else (value, 1)
    return float(num) / float(den) if num and den else None


def _from_tags(page, um_per_unit: float | None) -> tuple[float, float] | None:
    """Pixel size from the resolution tags (pixels per unit) and the unit in micrometres."""
    if um_per_unit is None:
        return None
    y, x = _per_unit(page, "YResolution"), _per_unit(page, "XResolution")
    if y is None or x is None:
        return None
    return _checked(um_per_unit / y, um_per_unit / x)


def _from_tiff_unit(page) -> tuple[float, float] | None:
    """The plain resolution tags with a ResolutionUnit; inch and cm dpi defaults ignored."""
    unit = page.tags.get("ResolutionUnit")
    scale = _TIFF_UNITS_UM.get(int(unit.value)) if unit is not None else None
    if scale is None or (scale in _DPI_UNITS_UM and _dpi_default(page, scale)):
        return None
    return _from_tags(page, scale)


def _dpi_default(page, um_per_unit: float) -> bool:
    """Whether a resolution tag, in inches or centimetres, is a whole dpi up to 1200.

    72, 96, 300 dpi...: a display or print default, not a calibration. The plain tags and
    an ImageJ unit of ``inch`` or ``cm`` (Fiji keeps a 72-dpi image's) are read alike
    (before, the ImageJ ones gave 352.8 µm pixels).
    """
    for tag in ("XResolution", "YResolution"):
        per_unit = _per_unit(page, tag)
        dpi = None if per_unit is None else per_unit * 25400.0 / um_per_unit
        if dpi is not None and dpi <= 1200 and abs(dpi - round(dpi)) < 1e-3:
            return True
    return False
