"""OME-Zarr (NGFF) images and label images: open lazily, write labels pyramids.

Only what whole-slide labelling needs (:mod:`napari_unet.core.inference.slide`) and what the
napari reader shows (:mod:`napari_unet.reader`):

- :func:`open_image`: a plain Zarr array or an OME-Zarr image group (NGFF 0.4 with its
  metadata in ``.zattrs``, or 0.5 in ``zarr.json`` under ``"ome"``) as a lazy dask array of
  its full-resolution level, with the group's metadata (version, pixel size, translation).
- :func:`create_labels`: an empty multiscale label image (int32, level ``k`` downsampled by
  ``2**k`` by taking every ``2**k``-th pixel, as label pyramids are) with the ``multiscales``
  and ``image-label`` metadata; written into ``image.zarr/labels/<name>/`` (and listed in
  ``image.zarr/labels``) or as a standalone store whose root is the label image.
  :func:`labels_version` says which NGFF version labels of an image are written in, and
  :func:`check_label_name` that a label name is one plain folder name.

Placement: pixel ``i`` of level ``k`` is pixel ``i * 2**k`` of level 0 (no averaging, so no
half-pixel shift), at ``i * (2**k * scale) + translation`` in the image's coordinates: each
level gets the scale times ``2**k`` and the very same translation as the image's level 0.
- :func:`read_multiscale`: the levels of an OME-Zarr image or label group as dask arrays.
- :func:`ome_kind`, :func:`label_names` and :func:`pixel_size_um`: whether a store is an
  OME-Zarr image or label image, the label images of an image, and the physical pixel size
  of the full-resolution level (what ``napari-unet measure`` needs).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.lazy import lazy_array, read_zarr_array
from napari_unet.core.images.omezarr_meta import (
    axis_letters,
    axis_units,
    check_label_name,
    checked_ome,
    damaged_metadata,
    level_transform,
    multiscales_entry,
    plain_name,
    space_units,
)

__all__ = [
    "OmeImage",
    "axis_letters",
    "check_label_name",
    "create_labels",
    "group_attrs",
    "label_names",
    "labels_version",
    "ome_kind",
    "open_image",
    "pixel_size_um",
    "recorded_pixel_size",
    "read_multiscale",
]


@dataclass(frozen=True)
class OmeImage:
    """A lazily opened image: its full-resolution pixels and, for OME-Zarr, its metadata."""

    data: object  # dask array
    path: Path
    #: NGFF version of an OME-Zarr image group ("0.4", "0.5"); None for a plain array.
    version: str | None = None
    #: The ``(y, x)`` pixel size of the full-resolution level (1, 1 when unknown).
    scale: tuple[float, float] = (1.0, 1.0)
    #: The ``(y, x)`` translation of the full-resolution level (None: none given).
    translation: tuple[float, float] | None = None
    #: The ``(y, x)`` axes' units as the metadata writes them (None: none given).
    units: tuple[str | None, str | None] | None = None
    #: The letters of ``data``'s axes (``"ZYX"``, channels last: ``"YXC"``); "" where unnamed.
    axes: str = ""

    @property
    def is_ome(self) -> bool:
        """Whether the image is an OME-Zarr image group (not a plain array)."""
        return self.version is not None


def group_attrs(path: str | os.PathLike) -> tuple[dict, str] | None:
    """``(ome attributes, version)`` of an OME-Zarr group at ``path``, else None.

    A metadata file of ``path`` that is not JSON (an interrupted copy) raises InputError
    naming the file (before, it was taken for no OME-Zarr group).
    """
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
        attrs = dict(node.attrs) if isinstance(node, zarr.Group) else None
    except Exception:  # noqa: BLE001 - not a Zarr store, or damaged metadata (named)
        damaged = damaged_metadata(path)
        if damaged is not None:
            raise damaged from None
        return None
    if attrs is None:
        return None
    if "ome" in attrs:  # NGFF 0.5
        ome = checked_ome(path, attrs["ome"])
        return ome, str(ome.get("version", "0.5"))
    if "multiscales" in attrs or "labels" in attrs:  # NGFF 0.4 and older
        version = (checked_ome(path, attrs).get("multiscales") or [{}])[0].get("version", "0.4")
        return attrs, str(version)
    return None


def read_multiscale(path: str | os.PathLike) -> list:
    """The levels (largest first) of the OME-Zarr multiscale group at ``path``, lazily."""
    import zarr

    found = group_attrs(path)
    if found is None or not found[0].get("multiscales"):
        raise InputError(f"{path}: not an OME-Zarr multiscale image (no 'multiscales' metadata)")
    datasets = found[0]["multiscales"][0].get("datasets") or []
    if not datasets:
        raise InputError(f"{path}: the OME-Zarr metadata lists no datasets")
    group = zarr.open_group(str(Path(path).resolve()), mode="r")  # workers: any folder
    levels = []
    for d in datasets:  # checked: a missing level or a damaged chunk names the store
        level = _level(path, group, d.get("path"))
        if not isinstance(level, zarr.Array):
            raise InputError(f"{path}: its level {d['path']!r} is a group, not an array")
        levels.append(lazy_array(Path(path) / str(d["path"]), level))
    return levels


def _level(path, group, key):
    """The level ``key`` of ``group``; a wrong path, a missing or damaged level: InputError.

    An integer path (``0`` for ``"0"``) is taken as its folder name.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key.strip():
        raise InputError(
            f"{path}: its OME-Zarr metadata is wrong: a level's 'path' is {key!r}, where NGFF "
            "gives the level's folder name, such as '0'"
        )
    try:
        return group[key]
    except KeyError:
        raise InputError(
            f"{path}: its metadata lists the level {key!r}, which the store does not hold "
            "(an incomplete copy?)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - damaged level metadata raises many types
        what = f"{path}: its level {key!r} is unreadable ({type(exc).__name__}: {exc})"
        raise damaged_metadata(Path(path) / key) or InputError(what) from None


def open_image(path: str | os.PathLike) -> OmeImage:
    """A Zarr array or the full-resolution level of an OME-Zarr image group, lazily.

    Axes of size 1 that are neither channels nor y and x (a ``t`` or ``z`` of one) are
    dropped, the channel axis moved last; ``t, z, y, x`` refused, as a TIFF's ``TZYX``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such Zarr store")
    found = group_attrs(p)
    if found is None:
        _refuse_plain_group(p)
        return OmeImage(read_zarr_array(p), p)
    ome, version = found
    if not ome.get("multiscales"):
        raise InputError(f"{p}: an OME-Zarr group without an image ('multiscales')")
    from napari_unet.core.images.layout import channels_last
    from napari_unet.core.images.planeaxes import refuse_two_plane_axes

    data, letters = read_multiscale(p)[0], axis_letters(ome)
    if len(letters) == data.ndim > 2:  # bioformats2raw's t, c, z, y, x: one plane kept
        keep = [k for k, a in enumerate(letters) if not (a in "TZQ" and data.shape[k] == 1)]
        keep = keep if len(keep) >= 2 else list(range(data.ndim))[-2:]
        data = data[tuple(slice(None) if k in keep else 0 for k in range(data.ndim))]
        letters = "".join(letters[k] for k in keep)
    refuse_two_plane_axes(p, letters, "the image names axes", data.ndim)  # as TIFF's TZYX
    scale = level_transform(p, ome, "scale") or (1.0, 1.0)
    translation = level_transform(p, ome, "translation")
    named = letters.replace("C", "") + "C" if "C" in letters else letters
    named = named if len(letters) == data.ndim else ""  # axes named, channel moved last
    return OmeImage(
        channels_last(data, letters), p, version, scale, translation, axis_units(ome), named
    )


def _refuse_plain_group(p: Path) -> None:
    """Refuse a Zarr group that is no OME-Zarr image, naming the images it holds.

    A bioformats2raw layout (``slide.zarr`` with the image at ``slide.zarr/0``) is the
    usual case: before, it got the Zarr library's own ``ArrayNotFoundError``.
    """
    import zarr

    try:
        group = zarr.open_group(str(p), mode="r")
    except Exception:  # noqa: BLE001 - no group: read_zarr_array says what it is
        return
    images = []
    with contextlib.suppress(Exception):
        for key in sorted(group.group_keys(), key=lambda k: (len(k), k)):
            found = group_attrs(p / key)
            if found is not None and found[0].get("multiscales"):
                images.append((p / key).as_posix())
            if len(images) == 3:
                break
    layout = "bioformats2raw.layout" in dict(group.attrs)
    what = "a bioformats2raw layout" if layout else "a Zarr group, not an array or an image"
    hint = "it holds no OME-Zarr image; give a Zarr array or an OME-Zarr image"
    if images:
        hint = f"give the image inside it: {images[0]}" + (
            f" (images in it: {', '.join(images)})" if len(images) > 1 else ""
        )
    raise InputError(f"{p} is {what}: {hint}")


def create_labels(
    path: str | os.PathLike,
    shape: tuple[int, int],
    chunks: tuple[int, int],
    levels: int,
    *,
    name: str = "labels",
    version: str = "0.4",
    scale=(1.0, 1.0),
    translation=None,
    source: str | None = None,
    units=None,
) -> list:
    """Create an empty label pyramid group at ``path``; return its level arrays (writable).

    Level ``k`` has shape ``ceil(shape / 2**k)`` and chunks ``chunks // 2**k``, so a block
    of level 0 whose origin is a multiple of ``chunks`` fills whole chunks of every level.
    ``source`` is the relative path to the image the labels belong to (``"../../"`` inside
    an image's ``labels`` group). ``version`` "0.5" writes Zarr v3 with the metadata under
    ``"ome"``; "0.4" writes Zarr v2 (``.zattrs``). ``scale`` and ``translation`` (None:
    none written) are the image's full-resolution ones (see the module's notes), ``units``
    its ``(y, x)`` axes' units (None: none written).
    """
    import zarr

    if version not in ("0.4", "0.5"):
        raise InputError(f"OME-Zarr version {version!r}: only 0.4 and 0.5 are written")
    if any(c % 2 ** (levels - 1) for c in chunks):
        raise InputError(f"chunks {chunks} are not divisible by 2**{levels - 1}")
    fmt = 3 if version == "0.5" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    arrays = []
    for k in range(levels):
        size = tuple(-(-int(n) // 2**k) for n in shape)
        chunk = tuple(int(c) >> k for c in chunks)
        arrays.append(
            group.create_array(str(k), shape=size, chunks=chunk, dtype="int32", fill_value=0)
        )
    label = {"version": version} if version == "0.4" else {}
    if source is not None:
        label["source"] = {"image": source}
    multiscales = multiscales_entry(name, levels, scale, version, translation, units)
    meta = {"multiscales": [multiscales], "image-label": label}
    group.attrs.update({"ome": {"version": version, **meta}} if fmt == 3 else meta)
    return arrays


def add_label_name(image: str | os.PathLike, name: str, version: str) -> None:
    """List ``name`` in the ``labels`` group of the OME-Zarr image at ``image`` (created).

    Read, changed and written under the folder's lock (:mod:`.metalock`): before, two runs
    adding names at once could each write back the list it read, and one name was lost.
    """
    import zarr

    from napari_unet.core.images.metalock import locked

    fmt, folder = (3 if version == "0.5" else 2), Path(image) / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder):  # the list read inside it: another run's name is never lost
        group = zarr.open_group(str(folder), mode="a", zarr_format=fmt)
        attrs = dict(group.attrs)
        inner = dict(attrs.get("ome", {})) if fmt == 3 else attrs
        inner["labels"] = [n for n in inner.get("labels", []) if n != name] + [name]
        if fmt == 3:
            inner["version"] = version
        group.attrs.update({"ome": inner} if fmt == 3 else inner)


#: NGFF versions whose label images are written; older images get standalone 0.4 labels.
WRITTEN = ("0.4", "0.5")
OLDER = ("0.1", "0.2", "0.3")


def labels_version(image: OmeImage, inside: bool) -> str:
    """The NGFF version of ``image``'s labels, or a clear refusal (before any work).

    Labels inside an image take its version (0.4 or 0.5); a plain array's standalone labels
    are 0.4. An image of 0.1 to 0.3 may get standalone 0.4 labels (``inside`` False: the
    image is not touched), not labels written into it: its readers do not know 0.4's
    metadata, and one store would mix two versions. Another version is refused.
    """
    version = image.version
    if version is None or version in WRITTEN:
        return version or "0.4"
    if version in OLDER and inside:
        raise InputError(
            f"{image.path} is an NGFF {version} OME-Zarr image; labels are written into NGFF "
            "0.4 and 0.5 images only: give an output store (OUTPUT.zarr) for standalone NGFF "
            "0.4 labels, or convert the image to NGFF 0.4 or later"
        )
    if version in OLDER:
        return "0.4"
    raise InputError(
        f"{image.path}: OME-Zarr (NGFF) version {version!r} is not supported; napari-unet "
        "labels NGFF 0.4 and 0.5 images (0.1 to 0.3 into a standalone output store)"
    )


def ome_kind(path: str | os.PathLike) -> str | None:
    """What the OME-Zarr group at ``path`` is: "labels", "image", "group" or None.

    "labels": a label image (``multiscales`` and ``image-label``, or ``multiscales`` alone
    at ``IMAGE/labels/NAME`` where the image's ``labels`` group lists NAME: the spec's
    ``image-label`` is optional, and such a label image was refused as an image);
    "image": ``multiscales`` alone; "group": another OME group, such as an image's
    ``labels`` group; None: no OME-Zarr group (a plain array, or no store).
    """
    found = group_attrs(path)
    if found is None:
        return None
    if not found[0].get("multiscales"):
        return "group"
    return "labels" if "image-label" in found[0] or _listed_label(Path(path)) else "image"


def _listed_label(path: Path) -> bool:
    """Whether ``path`` is ``IMAGE/labels/NAME`` and ``IMAGE/labels`` lists NAME."""
    return path.parent.name == "labels" and path.name in label_names(path.parent.parent, False)


def label_names(image: str | os.PathLike, warn: bool = True) -> list[str]:
    """The label images that the OME-Zarr image at ``image`` lists (``image/labels/<name>``).

    A name that is not one plain folder name (``../other.zarr``) is skipped with a warning:
    before, the napari reader opened a store outside the image as its label image.
    """
    found = group_attrs(Path(image) / "labels")
    names = (found[0].get("labels") if found else None) or []
    names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
    for name in [n for n in names if not plain_name(n)] if warn else []:
        warnings.warn(f"{Path(image).name}: its labels list names {name!r}, not one plain "
                      "folder name in its labels folder; it was skipped", UserWarning,
                      stacklevel=2)  # fmt: skip
    return [n for n in names if plain_name(n)]


def pixel_size_um(path: str | os.PathLike) -> tuple[float, float] | None:
    """The ``(y, x)`` pixel size in micrometres of an OME-Zarr (label) image's level 0, or None.

    The level's ``scale`` is in the unit of the ``y`` and ``x`` axes (the last two); a label
    image whose axes name no unit takes those of the image it labels (``image-label``'s
    ``source``, by default ``../../``). No unit, or one that is not a length
    (:func:`~napari_unet.core.images.pixels.unit_in_um`), gives None: a scale alone may be in
    any unit, or none.
    """
    found = group_attrs(path)
    if found is None or not found[0].get("multiscales"):
        return None
    ome = found[0]
    scale = level_transform(Path(path), ome, "scale")
    units = space_units(ome)
    if units is None and "image-label" in ome:
        source = (ome.get("image-label") or {}).get("source") or {}
        image = source.get("image", "../../") if isinstance(source, dict) else "../../"
        parent = group_attrs((Path(path) / str(image)).resolve())
        if parent is not None and parent[0].get("multiscales"):
            units = space_units(parent[0])
    if scale is None or units is None:
        return None
    size = (scale[0] * units[0], scale[1] * units[1])
    return size if all(math.isfinite(v) and v > 0 for v in size) else None


def recorded_pixel_size(path: str | os.PathLike) -> tuple[float, float] | None:
    """The ``(y, x)`` pixel size in micrometres an image file or store records, or None.

    A folder (an OME-Zarr store) gives its scale and unit (:func:`pixel_size_um`); a file its
    TIFF metadata (:func:`~napari_unet.core.images.pixels.read_pixel_size`). The Review
    dock's table and export used the TIFF reader alone: an OME-Zarr image's objects were
    measured in pixels only, where ``napari-unet measure`` gave micrometres.
    """
    if Path(path).is_dir():
        return pixel_size_um(path)
    from napari_unet.core.images.pixels import read_pixel_size

    return read_pixel_size(path)
