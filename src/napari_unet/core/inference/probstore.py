"""Where ``predict_to_zarr``'s probabilities go: the output's checks and its mark.

:func:`~napari_unet.core.inference.chunked.iter_store` fills a new Zarr store beside its
path and renames it onto the path, replacing what was there. Before, that was anything: a
results folder holding the user's files, or the very store the image was read from (its
pixels gone, probabilities in their place). Now :func:`check_store_output` refuses, before
anything is computed, a path that is, holds or lies inside one of the input's stores, and
an existing path that is not a store napari-unet wrote as probabilities
(:func:`mark_probabilities`) or an empty folder. The input's place is refused as
:func:`~napari_unet.core.inference.slidestore.check_output` refuses it for
``segment_slide``; what a store is, by :func:`~napari_unet.core.images.io.wrong_output_kind`.
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.inference.slidestore import has_mark, mark_store

__all__ = [
    "PROBABILITIES_MARK",
    "check_store_output",
    "input_stores",
    "is_marked_probabilities",
    "mark_probabilities",
]

#: The attributes that mark a Zarr array as probabilities napari-unet wrote: such an
#: array is replaced by the next ``predict_to_zarr`` to its path; no other store is.
PROBABILITIES_MARK = {"napari-unet": {"kind": "probabilities"}}


def mark_probabilities(path: str | os.PathLike) -> None:
    """Mark the Zarr array at ``path`` as probabilities written by napari-unet."""
    mark_store(path, PROBABILITIES_MARK)


def is_marked_probabilities(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr array that :func:`mark_probabilities` marked."""
    return has_mark(path, PROBABILITIES_MARK)


def _store_path(value) -> Path | None:
    """The file or store folder a dask graph's source ``value`` reads, if it names one."""
    inner = getattr(value, "array", None)  # a checked lazy read: the store under it
    if inner is not None and inner is not value:
        found = _store_path(inner)
        if found is not None:
            return found
    store = getattr(value, "store", None)  # a zarr.Array: its store's folder
    for where in (getattr(store, "root", None), getattr(store, "path", None)):
        if isinstance(where, str | os.PathLike) and str(where) and "://" not in str(where):
            return Path(where)
    path = getattr(value, "path", None)
    return Path(path) if isinstance(path, str | os.PathLike) and not store else None


def input_stores(array) -> list[Path]:
    """The stores (or files) a lazy ``array`` reads; none for a numpy array."""
    graph = getattr(array, "__dask_graph__", lambda: None)()
    if graph is None:
        return []
    layers = getattr(graph, "layers", {"": graph}).values()
    found: list[Path] = []
    for layer in layers:
        mapping = getattr(layer, "mapping", layer)  # sources sit in materialised layers
        if not isinstance(mapping, dict):
            continue
        for value in mapping.values():
            path = _store_path(value)
            if path is not None and path not in found:
                found.append(path)
    return found


def check_store_output(path: str | os.PathLike, *arrays, overwrite: bool = False) -> None:
    """Refuse ``path`` for probabilities when writing there would lose data.

    Refused, whatever is there: a path that is one of the stores the lazy ``arrays`` read,
    holds one, or lies inside one, and a folder that is no Zarr store. Refused when it
    exists: anything but an empty folder or probabilities napari-unet wrote
    (:func:`mark_probabilities`); with ``overwrite`` (the command's ``--overwrite``, asked
    for by the user) any Zarr store.
    """
    from napari_unet.core.images.io import wrong_output_kind

    dest = Path(path)
    out = dest.resolve()
    for array in arrays:
        for src in input_stores(array):
            read = src.resolve()
            if out == read:
                raise InputError(
                    f"{dest} is the store the image is read from; writing there would replace "
                    "the image: name a new store (e.g. probabilities.zarr)"
                )
            if read in out.parents:
                raise InputError(f"{dest} is inside the input {src}; refusing to write there")
            if out in read.parents:
                raise InputError(
                    f"{dest} holds the input {src}; name a new store (e.g. OUT/probabilities.zarr)"
                )
    wrong = wrong_output_kind(dest, store=True)
    if wrong:
        raise InputError(f"cannot write {dest}: {wrong.replace('-o', 'path')}")
    if dest.is_dir() and any(dest.iterdir()) and not (overwrite or is_marked_probabilities(dest)):
        raise InputError(
            f"cannot write {dest}: it is a Zarr store that napari-unet did not write as "
            "probabilities (an image, perhaps), and predict_to_zarr replaces only its own "
            "probabilities; choose another path, or remove it yourself first if it is to go"
        )
