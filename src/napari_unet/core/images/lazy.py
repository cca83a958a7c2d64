"""Arrays read lazily (dask over Zarr), whose damaged chunks say which file is damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["lazy_array", "read_zarr_array"]


def read_zarr_array(p: Path):
    """The Zarr array at ``p`` as a dask array; a damaged store raises InputError.

    The store is opened by its absolute path: a cluster's workers may run in another folder.
    """
    import zarr

    try:
        return lazy_array(p, zarr.open_array(str(p.resolve()), mode="r"))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged store raises many types
        raise InputError(f"{p}: not a readable Zarr array ({type(exc).__name__}: {exc})") from None


class _Checked:
    """An array whose reads turn decoder failures into :class:`InputError` (for dask).

    A lazily read file is decoded chunk by chunk when the result is computed; a damaged
    chunk then says which file is damaged instead of raising a decoder's own error.
    """

    def __init__(self, path: Path, array) -> None:
        self.path, self.array = path, array
        self.shape, self.dtype, self.ndim = tuple(array.shape), np.dtype(array.dtype), array.ndim

    def __getitem__(self, index):
        try:
            return np.asarray(self.array[index])
        except Exception as exc:  # noqa: BLE001 - decoders of untrusted files raise many types
            raise InputError(
                f"{self.path}: damaged image data ({type(exc).__name__}: {exc})"
            ) from None


def lazy_array(p: Path, array):
    """A dask array over a zarr(-like) ``array``, chunked as it is, with checked reads."""
    import dask.array as da

    chunks = getattr(array, "chunks", None) or "auto"
    return da.from_array(_Checked(p, array), chunks=chunks, asarray=False, name=False)
