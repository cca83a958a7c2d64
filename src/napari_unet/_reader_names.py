"""The layer names napari's reader gives an OME-Zarr image and its label images.

An image is named after its store (``cells`` for ``cells.ome.zarr``), or, as a series of a
bioformats2raw layout, after the layout's root (``slide`` for ``slide.zarr/0``; ``slide
[series 1]`` for ``slide.zarr/1`` of a root of several series), whether the root or the
series is opened. A label image in an image's ``labels`` folder is named after that image
(``"<image> <label name>"``), whether it opens with the image or on its own; before, a
series' label image opened on its own was ``0 cells`` beside the root's ``slide``, and
never paired with it. The reader also records the image's name in each of its layers'
metadata (:data:`SOURCE_IMAGE`): an image of named channels opens as ``cells DAPI``,
``cells GFP``, its label images as ``cells nuc``, and the docks pair them by that name
(:func:`~napari_unet.widgets._layers.layers_of`).
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["SOURCE_IMAGE", "bioformats2raw_series", "image_name", "label_name", "store_name"]

#: Layer metadata key: the name of the image (store) a reader-opened layer belongs to.
SOURCE_IMAGE = "napari_unet_image"


def store_name(path: Path) -> str:
    """The layer name of a store: its folder name without ``.zarr`` and ``.ome``.

    A relative path is made absolute first: before, ``.`` (a store opened from inside it)
    was named ``.``, and its label image ``" cells"``.
    """
    name = _absolute(path).name
    for suffix in (".zarr", ".ome"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) and name != suffix else name
    return name


def bioformats2raw_series(path: Path) -> list[Path]:
    """The images (series) of a bioformats2raw layout's root at ``path``, else [].

    Its root holds no image, only ``bioformats2raw.layout`` (in ``ome`` for NGFF 0.5);
    before, napari-unet declined it and napari found no reader for the folder. The Review
    reads such a root by the same rule (:mod:`~napari_unet.core.images.bioformats2raw`).
    """
    from napari_unet.core.images.bioformats2raw import bioformats2raw_series as series

    try:
        return series(Path(path))
    except OSError:  # an unreadable folder: not ours
        return []


def image_name(path: Path) -> str:
    """The name of the image at ``path``: its root's when it is a bioformats2raw series."""
    path = _absolute(path)
    root = path.parent
    if path.name and root != path:
        series = [p.name for p in bioformats2raw_series(root)]
        if path.name in series:
            title = store_name(root)
            return title if len(series) == 1 else f"{title} [series {path.name}]"
    return store_name(path)


def label_name(path: Path) -> str:
    """A label image's layer name: ``"<image> <name>"`` in an image's ``labels`` folder."""
    from napari_unet.core.images.omezarr import ome_kind

    path = _absolute(path)
    image = path.parent.parent
    try:
        inside = path.parent.name == "labels" and ome_kind(image) == "image"
    except InputError:  # the image's metadata is damaged: the label image still opens
        inside = False
    return f"{image_name(image)} {path.name}" if inside else store_name(path)


def _absolute(path) -> Path:
    """``path`` made absolute, ``.`` and ``..`` resolved (links are kept)."""
    return Path(os.path.abspath(path))
