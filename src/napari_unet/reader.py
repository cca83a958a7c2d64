"""napari reader: OME-Zarr images and label images (``napari-unet slide`` output), lazily.

An OME-Zarr label image (``image-label`` metadata: a standalone store, or
``image.zarr/labels/<name>``) opens as a multiscale Labels layer; an OME-Zarr image opens as
a multiscale Image layer (one per channel when its ``axes`` name a channel axis, named
``"<image> <channel>"`` after the channel labels of its ``omero`` metadata) with a
Labels layer for each label image listed in its ``labels`` group, named after the image
(``"<image> <label name>"``). Axes of size 1 other than channels, y and x (the t and z of
bioformats2raw's t, c, z, y, x) are dropped, as ``omezarr.open_image`` drops them; the
axes kept are named after the file's (napari's ``axis_labels``: ``z``, ``y``, ``x``); a label
image's channel axis of size 1 is dropped too (ome-zarr-py and IDR write labels with the
image's t, c, z, y, x and c = 1), so it lines up with the image's channel layers. Every
level is a dask array over the store: napari reads the chunks of the level and region in
view, so a 32768 x 32768 result opens at once and scrolls without loading it. A big image
stored without a pyramid (a plane over 4096 pixels a side) opens as a multiscale layer all
the same, its overview levels taken lazily from the stored one
(:mod:`~napari_unet._reader_levels`; before, napari read it whole); a label image of one
level stays one level, which napari lets you paint and the Live dock trains on. The root of a
bioformats2raw layout (``slide.zarr``, the image in ``slide.zarr/0``) opens its image, named
after the root; when it holds several series (``slide.zarr/0``, ``slide.zarr/1``, ...), each
opens, named ``"slide [series 1]"`` (before, series 0 alone opened, without a word), but for
a series whose units are not the first series' (a scanner's label image in pixels beside
micrometres: napari would drop the units of every layer), left out with a warning; a
series or its label image opened by its own path (``slide.zarr/0/labels/cells``) is named
the same (``"slide cells"``; :mod:`~napari_unet._reader_names`). A label image's axes
without a unit take its image's (:mod:`~napari_unet._reader_units`). Plain
Zarr arrays and other folders are left to other readers (None). An OME-Zarr store whose
metadata files are damaged (not JSON: an interrupted copy) is read, and the reading raises
an InputError naming the damaged file, which napari shows (before, a bare JSONDecodeError,
or napari's "refused the file").
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from pathlib import Path

from napari_unet._reader_levels import plane_axes, with_overviews
from napari_unet._reader_names import SOURCE_IMAGE, image_name, label_name, store_name
from napari_unet._reader_names import bioformats2raw_series as _bioformats2raw_series
from napari_unet._reader_units import clashes, layer_units
from napari_unet.core.errors import InputError
from napari_unet.core.images.omezarr import (
    axis_letters,
    group_attrs,
    label_names,
    ome_kind,
    read_multiscale,
)
from napari_unet.core.images.omezarr_meta import METADATA_FILES, damaged_metadata

__all__ = ["get_reader", "read_ome_zarr"]


def get_reader(path):
    """The reader of ``path`` when it is an OME-Zarr image or label image, else None.

    Never raises (napari asks every plugin about every path). A store whose metadata files
    are not JSON is ours when they name OME-Zarr metadata (or it is a ``.ome.zarr``):
    reading it raises an InputError naming the damaged file, which napari shows. A store
    whose OME metadata is JSON of the wrong shape is declined; ``napari-unet predict`` on it
    says what is wrong.
    """
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        found = group_attrs(path) if Path(path).is_dir() else None
    except Exception:  # noqa: BLE001 - damaged metadata, an unreadable folder
        return read_ome_zarr if _damaged_ome(path) else None
    if found is None or not found[0].get("multiscales"):
        return read_ome_zarr if _bioformats2raw_series(path) else None
    return read_ome_zarr


#: What only OME-Zarr metadata holds: a damaged metadata file naming one is an OME-Zarr's.
_OME_WORDS = (b'"multiscales"', b'"image-label"', b'"ome"', b'"omero"', b"bioformats2raw.layout")


def _damaged_ome(path) -> bool:
    """Whether ``path`` is an OME-Zarr store whose own metadata files are not JSON."""
    p = Path(path)
    if damaged_metadata(p) is None:
        return False
    if p.name.lower().endswith(".ome.zarr"):
        return True
    for name in METADATA_FILES:
        with contextlib.suppress(OSError):
            if any(word in (p / name).read_bytes() for word in _OME_WORDS):
                return True
    return False


def _scale(path: Path, ome: dict, ndim: int) -> dict:
    """The layer's ``scale`` and ``translate`` (the full-resolution level's), per axis.

    Before, the translation was dropped: a tile of a multi-position acquisition opened
    at the origin, misaligned with the others. Entries that are not numbers (or a scale
    of 0) are refused as ``napari-unet predict`` refuses them (before, a bare ValueError
    from napari). The
    ``multiscales`` entry's own transformations apply after the level's (NGFF 0.4; before,
    they were ignored and such an image opened at scale 1).
    """
    image = ome["multiscales"][0]
    level = _transforms(path, image["datasets"][0], ndim, "level 0")
    outer = _transforms(path, image, ndim, "the multiscales entry")
    if not outer:
        return level
    s_d, t_d = level.get("scale", [1.0] * ndim), level.get("translate", [0.0] * ndim)
    s_m, t_m = outer.get("scale", [1.0] * ndim), outer.get("translate", [0.0] * ndim)
    found = {"scale": [a * b for a, b in zip(s_m, s_d, strict=True)]}
    if "translate" in level or "translate" in outer:
        found["translate"] = [s * t + u for s, t, u in zip(s_m, t_d, t_m, strict=True)]
    return found


def _transforms(path: Path, entry: dict, ndim: int, where: str) -> dict:
    """The ``scale`` and ``translate`` of one entry's ``coordinateTransformations``."""
    found = {}
    for transform in entry.get("coordinateTransformations") or []:
        kind = transform.get("type") if isinstance(transform, dict) else None
        key = {"scale": "scale", "translation": "translate"}.get(kind)
        values = transform.get(kind) if key else None
        if key and isinstance(values, list) and len(values) == ndim:
            try:
                found[key] = [float(v) for v in values]
            except (TypeError, ValueError):
                found[key] = [math.nan]
            if not all(map(math.isfinite, found[key])):
                raise InputError(f"{path}: the {kind} {values!r} of {where} is not numbers")
            if key == "scale" and 0 in found[key]:
                raise InputError(f"{path}: the scale {values!r} of {where} has a 0 (no size)")
    return found


def _layer(path: Path, kind: str, name: str) -> tuple:
    """One layer data tuple; a label image's size-1 channel axis is dropped with t and z.

    Floating-point labels, and labels of several channels, are refused (napari's Labels
    take one integer per pixel): a label image of an image is then left out with a warning,
    as a damaged one is. Big-endian labels (bioformats2raw's, N5 tools') are read in the
    machine's byte order, lazily (before, napari's label colours failed on them). An
    image's layers record its ``name`` in their metadata (:data:`SOURCE_IMAGE`).
    """
    ome = group_attrs(path)[0]
    levels = _shown_levels(path, read_multiscale(path), kind)
    if kind == "labels":
        levels = _integer_labels(path, levels)
    meta = {"name": name, **_scale(path, ome, levels[0].ndim)}
    meta["units"] = layer_units(path, ome, levels[0].ndim, labels=kind == "labels")
    letters = axis_letters(ome)
    dropped = "TZQC" if kind == "labels" else "TZQ"
    if len(letters) == levels[0].ndim > 2:  # bioformats2raw's t, c, z, y, x: one plane kept
        keep = [k for k, a in enumerate(letters) if not (a in dropped and levels[0].shape[k] == 1)]
        keep = keep if len(keep) >= 2 else list(range(levels[0].ndim))[-2:]
        cut = tuple(slice(None) if k in keep else 0 for k in range(levels[0].ndim))
        levels = [level[cut] for level in levels]
        letters = "".join(letters[k] for k in keep)
        for key in ("scale", "translate", "units"):
            if key in meta:
                meta[key] = [meta[key][k] for k in keep]
    if kind == "image":  # a label image of one level stays one: napari paints only those
        levels = with_overviews(levels, plane_axes(letters, levels[0].shape))  # in view
    data = levels if len(levels) > 1 else levels[0]
    meta["multiscale"] = len(levels) > 1
    channel = letters.find("C") if len(letters) == levels[0].ndim else -1
    if kind == "labels" and channel >= 0:  # one of size 1 was dropped above
        raise InputError(
            f"{path}: it holds {levels[0].shape[channel]} channels of labels (its axes "
            f"{letters.lower()}); napari shows a label image of one channel only"
        )
    if kind == "image":  # the docks pair its "<name> DAPI" with its labels' "<name> nuc"
        meta["metadata"] = {SOURCE_IMAGE: name}
    if kind == "image" and channel >= 0:  # one layer per channel, as napari shows channels
        meta["channel_axis"] = channel
        meta["metadata"] = [{SOURCE_IMAGE: name} for _ in range(levels[0].shape[channel])]
        labels = _channel_labels(ome, levels[0].shape[channel])
        if labels:  # "cells DAPI", "cells GFP" (before: "cells", "cells [1]")
            meta["name"] = [f"{name} {label}" for label in labels]
        for key in ("scale", "translate", "units"):
            if key in meta:
                del meta[key][channel]
    named = letters.replace("C", "") if channel >= 0 else letters
    if len(named) == len(set(named)) == levels[0].ndim - (channel >= 0) and "Q" not in named:
        meta["axis_labels"] = tuple(named.lower())  # "z": Annotate's auto reads planes
    return data, meta, kind


def _shown_levels(path: Path, levels: list, kind: str) -> list:
    """The levels napari can show: none empty, an image's pixels numbers; else InputError.

    Before, a level with an axis of length 0, or of complex or text pixels, reached napari,
    which failed with a bare error (and an empty label image stopped the image's other
    label images from opening). Empty levels below a full-resolution one are dropped.
    """
    if 0 in levels[0].shape:
        raise InputError(
            f"{path}: it holds no pixels (its shape {tuple(levels[0].shape)} has an axis of "
            "length 0); write it again, or open another store"
        )
    dtype = levels[0].dtype
    if kind == "image" and dtype.kind not in "biuf":
        raise InputError(
            f"{path}: its pixels are {dtype} values, which napari cannot show (it shows "
            "integer, floating-point and true/false pixels); convert the image to numbers"
        )
    return [level for level in levels if 0 not in level.shape]


def _integer_labels(path: Path, levels: list) -> list:
    """The levels of a label image in native byte order; floats: InputError."""
    dtype = levels[0].dtype
    if dtype.kind not in "iub":
        raise InputError(
            f"{path}: its pixels are {dtype} numbers, not integer labels (napari shows "
            "integer label images only)"
        )
    if dtype.isnative:
        return levels
    return [level.astype(level.dtype.newbyteorder("=")) for level in levels]  # lazily


def _channel_labels(ome: dict, count: int) -> list[str] | None:
    """The channels' names an OME-Zarr image's ``omero`` metadata gives, if usable.

    One short, distinct text per channel (``omero.channels[].label``); else None (the
    channels keep napari's names).
    """
    omero = ome.get("omero")
    channels = omero.get("channels") if isinstance(omero, dict) else None
    if not isinstance(channels, list) or len(channels) != count:
        return None
    labels = [c.get("label") if isinstance(c, dict) else None for c in channels]
    if not all(isinstance(x, str) and x.strip() and len(x) <= 64 for x in labels):
        return None
    labels = [" ".join(x.split()) for x in labels]
    return labels if len(set(labels)) == len(labels) else None


def read_ome_zarr(path) -> list[tuple]:
    """Layer data tuples of the OME-Zarr image or label image at ``path`` (lazy levels).

    The image's label images are named after it (``"<image> <label name>"``), whether
    opened with it or by their own path (``image.zarr/labels/cells``), so the Annotate dock
    offers an image its own labels. A damaged label image is left out with a warning naming
    it: the image and its other labels open. A listed name that is not one plain folder
    name (``../other.zarr``) is skipped with a warning: only the image's ``labels`` folder
    holds its label images.
    """
    if isinstance(path, list | tuple):
        path = path[0]
    p = Path(os.path.abspath(path))  # "." (opened from inside the store): named all the same
    title = store_name(p)
    series = _bioformats2raw_series(p) if p.is_dir() else []
    if len(series) == 1:  # a bioformats2raw root: its image, named after the root
        return _image_layers(series[0], title)
    if series:  # each series, named after the root and the series
        return _all_series(series, title)
    if ome_kind(p) == "labels":  # image-label metadata, or listed by its image's labels
        return [_layer(p, "labels", label_name(p))]
    return _image_layers(p, image_name(p))  # a bioformats2raw series: after its root


def _all_series(series: list[Path], title: str) -> list[tuple]:
    """The layers of each series of a bioformats2raw root; a damaged one is left out.

    A damaged series is named in a warning and the others open; all damaged: the first's
    error. A series whose units are not like the first (main) series' (in pixels, its axes
    naming no unit, beside one in micrometres: a slide scanner's label or overview image) is
    left out with a warning saying how to open it: napari drops the units of every layer
    when they mix. The first series comes last: napari adds layers in order, so the main
    image (series 0) and its labels lie on top, above a slide scanner's label or overview
    image (often series 1 and 2), and one of them is selected.
    """
    layers, errors, main = [], [], None
    for p in series:
        try:
            found = _image_layers(p, f"{title} [series {p.name}]")
        except InputError as exc:
            errors.append(exc)
            warnings.warn(
                f"{title}: its series {p.name} ({p}) was not opened ({exc}); the other series open",
                UserWarning,
                stacklevel=3,
            )
            continue
        if main is not None and any(clashes(m["units"], main[1]) for _, m, _ in found):
            warnings.warn(
                f"{title}: its series {p.name} was not opened: its axes' unit is "
                f"{found[0][1]['units'][-1]} where series {main[0]}'s is {main[1][-1]}, and "
                f"napari shows no units when layers mix them; open {p} on its own to see it",
                UserWarning,
                stacklevel=3,
            )
            continue
        main = main or (p.name, found[0][1]["units"])
        layers = found + layers
    if not layers and errors:
        raise errors[0]
    return layers


def _image_layers(p: Path, title: str) -> list[tuple]:
    """The image at ``p`` (named ``title``) and its label images (``"<title> <name>"``)."""
    if not p.exists():  # a bioformats2raw series its root lists: before, a TypeError
        raise InputError(f"{p}: missing, though its root lists it as a series (an incomplete "
                         "copy?); copy the store again from its source")  # fmt: skip
    layers = [_layer(p, "image", title)]
    try:
        names = label_names(p)  # warns of the names it skips
    except InputError as exc:
        warnings.warn(f"{p.name}: its labels were not opened ({exc})", UserWarning, stacklevel=2)
        names = []
    for name in names:
        try:
            if group_attrs(p / "labels" / str(name)) is None:
                raise InputError("no OME-Zarr label image there")
            layers.append(_layer(p / "labels" / str(name), "labels", f"{title} {name}"))
        except (InputError, KeyError, IndexError, TypeError, ValueError) as exc:
            warnings.warn(
                f"{p.name}: its label image {name!r} (labels/{name}) is damaged and was not "
                f"opened ({exc}); the image and its other labels open",
                UserWarning,
                stacklevel=2,
            )
    return layers
