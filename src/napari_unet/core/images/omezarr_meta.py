"""OME-Zarr (NGFF) metadata: axes, units and placement of an image, and those of its labels.

Split from :mod:`napari_unet.core.images.omezarr`, which opens and writes the stores:

- :func:`axis_letters`: the letter of each axis (T, C, Z, Y, X; Q for another);
- :func:`level_transform`: the full-resolution level's scale or translation, the
  ``multiscales``-level transformations (NGFF 0.4 allows them, applied after the level's
  own) composed with the level's: before, they were ignored, and an image whose pixel size
  sits there was read with a scale of 1 (its labels were misplaced, its measurements in
  pixels);
- :func:`axis_units` and :func:`space_units`: the ``y`` and ``x`` axes' units, as written
  and in micrometres;
- :func:`multiscales_entry`: a label pyramid's ``multiscales`` entry, its axes with the
  image's units (before, standalone labels had bare axes and lost the pixel size);
- :func:`checked_ome`: the OME metadata if its ``multiscales`` has NGFF's shape;
- :func:`damaged_metadata`: the error naming a Zarr metadata file of a folder that is not
  JSON (an interrupted copy): before, the reader and ``napari-unet predict`` showed a bare
  ``JSONDecodeError``, or took a damaged image for no image at all;
- :func:`check_label_name` and :func:`plain_name`: a label image's name is one plain folder
  name (``image.zarr/labels/<name>``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.metalock import LOCK_NAME

__all__ = [
    "axis_letters",
    "axis_units",
    "check_label_name",
    "checked_ome",
    "damaged_metadata",
    "level_transform",
    "multiscales_entry",
    "plain_name",
    "space_units",
]


#: The metadata files of a Zarr v2 (``.zgroup``, ``.zarray``, ``.zattrs``) or v3 store.
METADATA_FILES = (".zgroup", ".zarray", ".zattrs", "zarr.json")


def damaged_metadata(folder) -> InputError | None:
    """An InputError naming the first metadata file of ``folder`` that is no JSON object.

    None when every metadata file there reads (or there is none, or no such folder).
    """
    for name in METADATA_FILES:
        file = Path(folder) / name
        try:
            if not file.is_file():
                continue
            found = json.loads(file.read_bytes())
        except OSError:
            continue
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            return InputError(f"{file}: damaged metadata ({type(exc).__name__}: {exc})")
        if not isinstance(found, dict):
            return InputError(f"{file}: damaged metadata (not a JSON object)")
    return None


def checked_ome(path, ome: dict) -> dict:
    """``ome`` if its ``multiscales`` has NGFF's shape, else InputError (not a KeyError)."""
    if not isinstance(ome, dict):
        raise InputError(f"{path}: its OME-Zarr metadata ('ome') is not a mapping")
    images = ome.get("multiscales")
    first = images[0] if isinstance(images, list) and images else {}
    levels = (first.get("datasets") or []) if isinstance(first, dict) else None
    if images and not (
        isinstance(images, list) and isinstance(levels, list)
        and isinstance(first.get("axes") or [], list)
        and all(isinstance(d, dict) for d in levels)
        and all(isinstance(t, dict) for d in levels
                for t in d.get("coordinateTransformations") or [])
    ):  # fmt: skip
        got = repr(images) if len(repr(images)) <= 60 else f"a {type(images).__name__} unlike it"
        raise InputError(
            f"{path}: its OME-Zarr 'multiscales' metadata is damaged: NGFF gives a list of "
            "images, each with 'datasets' (a list of levels such as {'path': '0', "
            f"'coordinateTransformations': [...]}}); got {got}"
        )
    return dict(ome)


def _values(path, transforms, kind: str, where: str) -> tuple[float, float] | None:
    """The ``(y, x)`` entries of the ``kind`` transformation in ``transforms``, or None."""
    for transform in transforms if isinstance(transforms, list) else []:
        if not isinstance(transform, dict) or transform.get("type") != kind:
            continue
        values = transform.get(kind)
        if isinstance(values, list | tuple) and len(values) >= 2:
            try:
                found = tuple(float(v) for v in values[-2:])
            except (TypeError, ValueError):
                found = (float("nan"),)
            if len(found) != 2 or not all(map(math.isfinite, found)):
                raise InputError(f"{path}: the {kind} {values!r} of {where} is not numbers")
            if kind == "scale" and 0 in found:
                raise InputError(f"{path}: the scale {values!r} of {where} has a 0 (no size)")
            return found
    return None


def level_transform(path, ome: dict, kind: str) -> tuple[float, float] | None:
    """The ``(y, x)`` entries of the full-resolution level's ``kind`` transformation.

    ``kind`` is "scale" or "translation"; None when neither the level nor the
    ``multiscales`` entry has one (NGFF 0.3 and older have no transformations). The spec
    puts the spatial axes last: the last two entries. Transformations of the
    ``multiscales`` entry apply after the level's: pixel ``i`` lies at
    ``s_m (s_d i + t_d) + t_m``, the scale ``s_m s_d`` and the translation
    ``s_m t_d + t_m``.
    """
    image = ome["multiscales"][0]
    dataset = (image.get("datasets") or [{}])[0]
    level = dataset.get("coordinateTransformations") or []
    outer = image.get("coordinateTransformations") or []
    scale = _values(path, level, "scale", "level 0")
    outer_scale = _values(path, outer, "scale", "the multiscales entry")
    if kind == "scale":
        if scale is None or outer_scale is None:
            return scale or outer_scale
        return (scale[0] * outer_scale[0], scale[1] * outer_scale[1])
    shift = _values(path, level, "translation", "level 0")
    outer_shift = _values(path, outer, "translation", "the multiscales entry")
    if shift is None and outer_shift is None:
        return None
    shift, outer_shift = shift or (0.0, 0.0), outer_shift or (0.0, 0.0)
    outer_scale = outer_scale or (1.0, 1.0)
    return tuple(s * t + u for s, t, u in zip(outer_scale, shift, outer_shift, strict=True))


def axis_letters(ome: dict) -> str:
    """The letter of each axis of the image's ``axes`` metadata: T, C, Z, Y, X (Q: other).

    NGFF 0.4 and later describe each axis (``{"name": "c", "type": "channel"}``); 0.3 names
    them (``["c", "y", "x"]``); 0.1 and 0.2 name none, their images being always ``t, c, z,
    y, x`` (``"TCZYX"``: before, ``""``, and their singleton axes were kept, so the image was
    refused as 5D); other images without ``axes`` say nothing (``""``: nothing is moved).
    """
    image = ome["multiscales"][0]
    if not image.get("axes") and str(image.get("version")) in ("0.1", "0.2"):
        return "TCZYX"  # callers use letters only where they fit the array's dimensions
    letters = ""
    for axis in image.get("axes") or []:
        described = isinstance(axis, dict)
        name, kind = (axis.get("name"), axis.get("type")) if described else (axis, None)
        name = str(name).lower()
        known = name.upper() if name in ("t", "c", "z", "y", "x") else "Q"
        letters += "C" if kind == "channel" else known
    return letters


def axis_units(ome: dict) -> tuple[str | None, str | None] | None:
    """The ``unit`` of the last two (y, x) axes as written (None each when not given)."""
    axes = ome["multiscales"][0].get("axes") or []
    if len(axes) < 2 or not all(isinstance(a, dict) for a in axes[-2:]):
        return None
    units = tuple(a.get("unit") if isinstance(a.get("unit"), str) else None for a in axes[-2:])
    return None if units == (None, None) else units


def space_units(ome: dict) -> tuple[float, float] | None:
    """Micrometres per unit of the last two (y, x) axes, when both name a length unit."""
    from napari_unet.core.images.pixels import unit_in_um

    axes = ome["multiscales"][0].get("axes") or []
    if len(axes) < 2 or not all(isinstance(a, dict) for a in axes[-2:]):
        return None
    units = [unit_in_um(a.get("unit")) if a.get("type", "space") == "space" else None
             for a in axes[-2:]]  # fmt: skip
    return None if None in units else (units[0], units[1])


def multiscales_entry(
    name: str, levels: int, scale, version: str, translation=None, units=None
) -> dict:
    """The ``multiscales`` entry of a label pyramid of ``levels`` levels (see create_labels).

    ``units``: the image's ``(y, x)`` units (None: none written).
    """
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    for axis, unit in zip(axes, units or (None, None), strict=True):
        if unit is not None:
            axis["unit"] = str(unit)
    datasets = []
    for k in range(levels):  # every 2**k-th pixel: the same translation at every level
        place = [{"type": "scale", "scale": [float(s) * 2**k for s in scale]}]
        if translation is not None:
            place.append({"type": "translation", "translation": [float(t) for t in translation]})
        datasets.append({"path": str(k), "coordinateTransformations": place})
    entry = {"name": name, "axes": axes, "datasets": datasets}
    if version == "0.4":
        entry["version"] = version
    return entry


#: Names of the files a Zarr group keeps its metadata in, and of our metadata lock: a label
#: image of such a name would take the labels group's own file's place (before, ``--name
#: .zattrs`` broke the group, and every later run on the image failed after all its work).
RESERVED_NAMES = (".zattrs", ".zgroup", ".zarray", ".zmetadata", "zarr.json", LOCK_NAME)


def check_label_name(name) -> str:
    """``name`` when it is one plain folder name (``labels/<name>``), else a clear refusal."""
    text = str(name)
    if not plain_name(text):
        raise InputError(
            f"labels name {text!r}: give one plain folder name (no '/' or '\\', not '.' or "
            f"'..', not empty, not one of {', '.join(RESERVED_NAMES)}), such as 'cells'; it "
            "names image.zarr/labels/<name>"
        )
    return text


def plain_name(text: str) -> bool:
    """Whether ``text`` is one plain folder name (no separator, not ``.``, ``..`` or reserved).

    Reserved: :data:`RESERVED_NAMES` (a Zarr group's metadata files), in any case.
    """
    seps = {"/", "\\", os.sep, *([os.altsep] if os.altsep else [])}
    reserved = (".", "..", *(n.lower() for n in RESERVED_NAMES))
    return (
        bool(text.strip())
        and text.lower() not in reserved
        and not any(c in text for c in (*seps, "\0"))
    )
