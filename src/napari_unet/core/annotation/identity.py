"""The identity of an annotated image, saved in a project's project.json.

Name, file name, shape, dtype, a content hash and the world transform of the annotated axes:
enough for a later session to tell that an image is the one its annotations were made on
(:func:`identity_warnings` says how it differs). A multiscale image is described by its
full-resolution level, and a lazy one is sampled a block at a time, never read whole.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["FORMAT_VERSION", "content_hash", "identity_warnings", "image_identity"]

#: Version of the project files' layout (project.json, region.json).
FORMAT_VERSION = 1

#: The content hash reads at most this many pixels (a regular subsample), to stay cheap.
HASH_SAMPLES = 1 << 20


def content_hash(data) -> str:
    """Return a cheap hash of an image: shape, dtype and a regular pixel subsample.

    Enough to tell a different image of the same shape from the saved one; it reads
    at most :data:`HASH_SAMPLES` pixels, so it is fast on large images. A lazy array (dask,
    Zarr) is read a block of rows at a time, never whole, and hashes as its pixels in memory.
    """
    arr = data if hasattr(data, "shape") and hasattr(data, "dtype") else np.asarray(data)
    shape = tuple(int(n) for n in arr.shape)
    step = max(1, int(np.ceil(int(np.prod(shape)) / HASH_SAMPLES)))
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((shape, str(np.dtype(arr.dtype)))).encode())
    h.update(_sample(arr, shape, step).tobytes())
    return h.hexdigest()


#: Pixels of a lazy image read at a time while it is sampled for its hash.
BLOCK_PIXELS = 1 << 24


def _sample(arr, shape: tuple[int, ...], step: int) -> np.ndarray:
    """Every ``step``-th pixel of ``arr`` in C order (what ``arr.reshape(-1)[::step]`` is)."""
    if isinstance(arr, np.ndarray) or len(shape) < 2:
        return np.ascontiguousarray(np.asarray(arr).reshape(-1)[::step])
    row = int(np.prod(shape[1:]))
    rows = max(1, BLOCK_PIXELS // max(row, 1))
    parts = [np.empty(0, np.dtype(arr.dtype))]
    for start in range(0, shape[0], rows):
        stop = min(shape[0], start + rows)
        first = (-start * row) % step  # the block's first sampled pixel
        if first < (stop - start) * row:  # a block without one is not read
            parts.append(np.asarray(arr[start:stop]).reshape(-1)[first::step])
    return np.ascontiguousarray(np.concatenate(parts))


def image_identity(
    data,
    name: str,
    labels_shape: Sequence[int],
    scale: Sequence[float] = (),
    translate: Sequence[float] = (),
    source: str | os.PathLike | None = None,
) -> dict:
    """Describe an image so that a later session can tell it is the same one.

    Parameters
    ----------
    data : array-like or sequence of array-like
        The image pixels (of a multiscale image: its levels, the first the full resolution;
        a lazy one is never read whole).
    name : str
        Layer name.
    labels_shape : sequence of int
        Shape of its annotations.
    scale, translate : sequence of float
        World transform of the annotated axes.
    source : path-like, optional
        The image file; only its name is stored (never an absolute path).

    Returns
    -------
    dict
        JSON-serialisable identity.
    """
    from napari_unet._version import __version__

    smallest = None
    if isinstance(data, Sequence):  # a multiscale image's levels: the full resolution
        smallest = data[-1] if len(data) > 1 else None
        data = data[0]
    arr = data if hasattr(data, "shape") and hasattr(data, "dtype") else np.asarray(data)
    identity = {
        "format": FORMAT_VERSION,
        "napari_unet_version": __version__,
        "name": name,
        "file_name": Path(os.path.abspath(source)).name if source else None,  # "." named too
        "image_shape": [int(n) for n in arr.shape],
        "image_dtype": str(np.dtype(arr.dtype)),
        "labels_shape": [int(s) for s in labels_shape],
        "content_hash": content_hash(arr),
        "scale": [float(s) for s in scale],
        "translate": [float(t) for t in translate],
    }
    if smallest is not None:  # what earlier versions recorded for a multiscale image
        identity["smallest_level"] = {
            "image_shape": [int(n) for n in smallest.shape],
            "content_hash": content_hash(smallest),
        }
    return identity


def identity_warnings(saved: dict, current: dict) -> list[str]:
    """Return human-readable differences between a saved and the current image identity."""
    notes = []
    if not saved:
        return notes
    # Projects saved before multiscale images were described by their full level recorded
    # the smallest level (napari's array of a multiscale image): that is the same image.
    legacy = current.get("smallest_level") or {}
    for key, what in (
        ("image_shape", "shape"),
        ("image_dtype", "data type"),
        ("content_hash", "pixels"),
        ("scale", "scale"),
    ):
        if key in saved and saved[key] != current.get(key) and saved[key] != legacy.get(key):
            notes.append(f"the image's {what}: not the same as in the annotated image")
    return notes
