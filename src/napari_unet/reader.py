"""napari reader: OME-Zarr images and label images (``napari-unet slide`` output), lazily.

An OME-Zarr label image (``image-label`` metadata: a standalone store, or
``image.zarr/labels/<name>``) opens as a multiscale Labels layer; an OME-Zarr image opens as
a multiscale Image layer (one per channel when its ``axes`` name a channel axis) with a
Labels layer for each label image listed in its ``labels`` group. Every level is a dask
array over the store: napari reads the chunks of the level and region in view, so a
32768 x 32768 result opens at once and scrolls without loading it. Plain Zarr arrays and
other folders are left to other readers (None).
"""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.images.omezarr import axis_letters, group_attrs, read_multiscale

__all__ = ["get_reader", "read_ome_zarr"]


def get_reader(path):
    """The reader of ``path`` when it is an OME-Zarr image or label image, else None."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    found = group_attrs(path) if Path(path).is_dir() else None
    if found is None or not found[0].get("multiscales"):
        return None
    return read_ome_zarr


def _scale(ome: dict, ndim: int) -> dict:
    """The layer's ``scale`` and ``translate`` (the full-resolution level's), per axis.

    Before, the translation was dropped: a tile of a multi-position acquisition opened
    at the origin, misaligned with the others.
    """
    dataset = ome["multiscales"][0]["datasets"][0]
    found = {}
    for transform in dataset.get("coordinateTransformations") or []:
        kind = transform.get("type")
        key = {"scale": "scale", "translation": "translate"}.get(kind)
        if key and len(transform.get(kind, ())) == ndim:
            found[key] = [float(v) for v in transform[kind]]
    return found


def _layer(path: Path, kind: str, name: str) -> tuple:
    ome = group_attrs(path)[0]
    levels = read_multiscale(path)
    data = levels if len(levels) > 1 else levels[0]
    meta = {"name": name, "multiscale": len(levels) > 1, **_scale(ome, levels[0].ndim)}
    letters = axis_letters(ome)
    channel = letters.find("C") if len(letters) == levels[0].ndim else -1
    if kind == "image" and channel >= 0:  # one layer per channel, as napari shows channels
        meta["channel_axis"] = channel
        for key in ("scale", "translate"):
            if key in meta:
                del meta[key][channel]
    return data, meta, kind


def read_ome_zarr(path) -> list[tuple]:
    """Layer data tuples of the OME-Zarr image or label image at ``path`` (lazy levels)."""
    if isinstance(path, list | tuple):
        path = path[0]
    p = Path(path)
    ome = group_attrs(p)[0]
    if "image-label" in ome:
        return [_layer(p, "labels", p.name)]
    layers = [_layer(p, "image", p.stem)]
    found = group_attrs(p / "labels") if (p / "labels").is_dir() else None
    for name in found[0].get("labels", []) if found else []:
        if group_attrs(p / "labels" / name) is not None:
            layers.append(_layer(p / "labels" / name, "labels", name))
    return layers
