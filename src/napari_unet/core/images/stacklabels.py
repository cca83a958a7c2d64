"""A stack's labels (``z, y, x`` or ``t, y, x``) as a standalone OME-Zarr label image.

:func:`~napari_unet.core.inference.slidestore.write_labels_store` and
:func:`~napari_unet.core.images.omezarr.create_labels` write 2D label images only; a
segmentation of a stack of planes saved as ``.zarr`` from the Predict dock (a view of a
stack of big planes: a layer of the view's part, placed by its translation) was written as a
plain array, with no scale or translation: it reopened at the origin at scale 1, and
napari-unet's reader did not open it. :func:`write_stack_labels` writes it as an NGFF 0.4
label image whose first axis is ``z`` (a space axis) or ``t`` (a time axis), with the
layer's scale, translation and units on all three axes and a pyramid of the planes (every
``2**k``-th pixel of y and x; the planes all kept), as
:func:`~napari_unet.core.images.omezarr_meta.multiscales_entry` writes a 2D one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.omezarr_meta import multiscales_entry
from napari_unet.core.images.pixels import unit_in_um

__all__ = ["TIME_UNITS", "write_stack_labels"]

#: Units of a ``t`` axis that are written (napari's names); another is left out.
TIME_UNITS = ("millisecond", "second", "minute", "hour", "day", "ms", "s", "min", "h")
#: Most pixels a side of a chunk (each plane is chunked alone).
CHUNK = 1024


def write_stack_labels(
    path: str | os.PathLike, labels, axis: str = "z", scale=(1.0, 1.0, 1.0),
    translation=(0.0, 0.0, 0.0), units=(None, None, None), top: int = 1024,
) -> Path:  # fmt: skip
    """Write 3D ``labels`` as a standalone OME-Zarr label image at ``path``, atomically.

    ``axis`` names the first axis (``"z"`` or ``"t"``); ``scale``, ``translation`` and
    ``units`` are those of the three axes. A unit is written where it is a length (``z``,
    ``y``, ``x``) or a time (``t``: :data:`TIME_UNITS`). Level ``k`` holds every ``2**k``-th
    pixel of y and x, down to a longer side of at most ``top`` px.

    Raises
    ------
    InputError
        For labels not 3D, another axis name, or ids past what an int32 label image holds.
    """
    import zarr

    from napari_unet.core.files import atomic_folder

    labels, path = np.asarray(labels), Path(path)
    if labels.ndim != 3 or axis not in ("z", "t"):
        raise InputError(f"{path}: a stack's labels are 3D, z or t first (got {labels.shape})")
    if labels.size and int(labels.max()) > np.iinfo(np.int32).max:
        raise InputError(f"{path}: more label ids than an OME-Zarr int32 label image holds")
    levels = 1
    while max(math.ceil(n / 2 ** (levels - 1)) for n in labels.shape[1:]) > top:
        levels += 1
    entry = _entry(path.name.removesuffix(".zarr"), levels, axis, scale, translation, units)
    with atomic_folder(path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        for k in range(levels):
            level = labels[:, :: 2**k, :: 2**k].astype(np.int32)
            chunks = (1, *(min(CHUNK, n) for n in level.shape[1:]))
            array = group.create_array(
                str(k), shape=level.shape, chunks=chunks, dtype="int32", fill_value=0
            )
            array[...] = level
        group.attrs.update({"multiscales": [entry], "image-label": {"version": "0.4"}})
    return path


def _entry(name: str, levels: int, axis: str, scale, translation, units) -> dict:
    """The ``multiscales`` entry: the 2D one with the first axis put in front."""
    units = list(units or (None, None, None))
    kept = [u if unit_in_um(u) else None for u in units[1:]]
    entry = multiscales_entry(name, levels, scale[1:], "0.4", translation[1:], kept)
    lead = {"name": axis, "type": "space" if axis == "z" else "time"}
    unit = units[0]
    if unit and (unit_in_um(unit) if axis == "z" else str(unit) in TIME_UNITS):
        lead["unit"] = str(unit)
    entry["axes"].insert(0, lead)
    for dataset in entry["datasets"]:
        for transform in dataset["coordinateTransformations"]:
            kind = transform["type"]
            first = scale[0] if kind == "scale" else translation[0]
            transform[kind].insert(0, float(first))
    return entry
