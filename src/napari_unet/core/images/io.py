"""Reading and writing images: TIFF, PNG/JPEG and Zarr, with atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ZARR_SUFFIXES = (".zarr",)
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES + ZARR_SUFFIXES


def is_zarr(path: str | os.PathLike) -> bool:
    """Return True if ``path`` names a Zarr store (a ``.zarr`` folder or file name)."""
    p = Path(path)
    return p.suffix.lower() in ZARR_SUFFIXES or (p.is_dir() and (p / ".zarray").exists())


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic:
    readers see either the old file or the complete new one, never a partial write. On
    error the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : path-like
        The file to (over)write.
    suffix : str, optional
        Suffix of the temporary file (some writers choose the format from it). Defaults to
        the suffix of ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: the folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.",
        suffix=(suffix if suffix is not None else path.suffix) + ".tmp",
        dir=folder,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def read_image(path: str | os.PathLike, lazy: bool = False):
    """Read an image file or Zarr store.

    Parameters
    ----------
    path : path-like
        A ``.tif``/``.tiff``, ``.png``/``.jpg``/``.bmp`` file or a ``.zarr`` store.
    lazy : bool
        Return a dask array (TIFF and Zarr only) instead of loading into memory.
        Zarr stores are always read lazily.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The pixel data. PNG images keep their channels last; an alpha channel that is
        fully opaque is dropped.

    Raises
    ------
    InputError
        If the file does not exist or its format is not supported.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    suffix = p.suffix.lower()
    if is_zarr(p):
        import dask.array as da

        return da.from_zarr(str(p))
    if suffix in TIFF_SUFFIXES:
        import tifffile

        if lazy:
            import dask.array as da
            import zarr

            store = tifffile.imread(p, aszarr=True)
            return da.from_zarr(zarr.open(store, mode="r"))
        return tifffile.imread(p)
    if suffix in PIL_SUFFIXES:
        from PIL import Image

        with Image.open(p) as im:
            arr = np.asarray(im)
        if arr.ndim == 3 and arr.shape[-1] == 4 and np.all(arr[..., 3] == arr[..., 3].max()):
            arr = arr[..., :3]
        return arr
    raise InputError(
        f"{p}: unsupported image format {suffix or '(no suffix)'}; "
        f"expected one of {', '.join(IMAGE_SUFFIXES)}"
    )


def write_image(path: str | os.PathLike, data, overwrite: bool = True) -> Path:
    """Write an array as TIFF, PNG or Zarr, atomically for files.

    Parameters
    ----------
    path : path-like
        Destination; the format follows the suffix (``.tif``, ``.png``, ``.zarr``).
    data : array-like
        A numpy or dask array. Dask arrays are written chunk by chunk to Zarr.
    overwrite : bool
        If False and ``path`` exists, raise :class:`InputError`.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise InputError(f"{p} exists; refusing to overwrite it")
    suffix = p.suffix.lower()
    if suffix in ZARR_SUFFIXES:
        import dask.array as da

        arr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
        arr.to_zarr(str(p), overwrite=True)
        return p
    arr = np.asarray(data)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        # Only 8-bit (H, W, 3|4) arrays are colour; everything else (stacks, probabilities,
        # labels) is stored as grey planes, so a (Z, H, 3) stack is not mistaken for RGB.
        rgb = arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.dtype == np.uint8
        with atomic_write(p) as tmp:
            tifffile.imwrite(
                tmp, arr, compression="zlib", photometric="rgb" if rgb else "minisblack"
            )
        return p
    if suffix == ".png":
        from PIL import Image

        if arr.dtype not in (np.uint8, np.uint16) or arr.ndim not in (2, 3):
            raise InputError(
                f"{p}: PNG holds 2D uint8/uint16 images (or RGB uint8); got {arr.ndim}D "
                f"{arr.dtype}. Write a .tif instead."
            )
        with atomic_write(p) as tmp:
            Image.fromarray(arr).save(tmp, format="PNG")
        return p
    raise InputError(f"{p}: cannot write format {suffix or '(no suffix)'}; use .tif, .png or .zarr")
