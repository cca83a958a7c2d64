"""What ``predict`` reads for each input, the name its outputs take, and the label-store checks.

A bioformats2raw layout's root (``slide.zarr``, its one image in ``slide.zarr/0``) is read
as that image and, like ``slide.zarr/0`` given by name, names its outputs after the root
(``slide_labels.zarr``), as ``measure`` and the Review dock name it
(:func:`~napari_unet.core.review.folders.image_source`). A store whose metadata cannot be
read is that input's failure, not the batch's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import is_zarr

__all__ = ["check_sources", "named_after", "no_label_stores", "read_path"]


def read_path(src: Path) -> Path:
    """What is read for the input ``src``: a bioformats2raw root's one series, or ``src``.

    Before, the root was refused ("give the image inside it"), though the Review dock and
    ``measure`` take it. A root of several series stays the root: reading it names them.
    """
    from napari_unet.core.review.folders import image_source

    return image_source(src) if is_zarr(src) else src


def named_after(src: Path) -> Path:
    """The path whose name ``src``'s outputs take: a one-series root for its series.

    ``slide.zarr/0`` (and ``slide.zarr``, read as it) gives ``slide_labels.zarr``, the name
    under which ``measure`` pairs the labels with the slide: before, ``0_labels.zarr``, so
    two slides of a batch both wrote it.
    """
    from napari_unet.core.review.folders import image_source

    if is_zarr(src) and src.parent != src and image_source(src.parent) == src:
        return src.parent
    return src


def no_label_stores(folder: Path, inside: list[Path]) -> list[Path]:
    """``inside`` less OME-Zarr label images (a ``slide -o`` result), with a note on stderr.

    Their pixels are object ids: given by name they are refused
    (:func:`~napari_unet.core.inference.slidestore.check_not_label_image`), but one kept in
    a folder of images is left out, not a reason to stop the whole folder. A store whose
    metadata is damaged is kept: reading it fails on its own (before, it stopped the folder).
    """
    from napari_unet.core.images.omezarr import ome_kind

    def is_label(q: Path) -> bool:
        try:
            return is_zarr(q) and q.is_dir() and ome_kind(q) == "labels"
        except InputError:
            return False

    left = [q for q in inside if is_label(q)]
    if left:
        print(
            f"napari-unet predict: note: {folder}: left out {len(left)} OME-Zarr label "
            f"image(s) ({', '.join(q.name for q in left[:3])}{', ...' if len(left) > 3 else ''})",
            file=sys.stderr,
        )
    return [q for q in inside if q not in left]


def check_sources(sources: list[Path]) -> dict[Path, InputError]:
    """Refuse a label image given by name, before any work; return the damaged inputs.

    An input whose OME-Zarr metadata cannot be read (a truncated ``.zarray`` or
    ``.zattrs``) is returned with its error, which is its own ``error:`` line when it
    comes: before, it stopped the whole batch before any image was predicted.
    """
    from napari_unet.core.images.omezarr import ome_kind
    from napari_unet.core.inference.slidestore import check_not_label_image

    damaged: dict[Path, InputError] = {}
    for p in sources:
        if not p.is_dir():
            continue
        try:  # what check_not_label_image reads, read first
            if ome_kind(p) is None and is_zarr(p.parent):
                ome_kind(p.parent)
        except InputError as exc:
            damaged[p] = exc
            continue
        check_not_label_image(p)
    return damaged
