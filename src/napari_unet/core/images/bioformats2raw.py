"""The series (images) of a bioformats2raw layout's root.

The root holds no image, only ``bioformats2raw.layout``; its ``OME`` group may list the
series' folder names. A listed name that is not one plain folder name (``../other.zarr``)
is skipped with a warning: before, the napari reader and the Review dock opened another
experiment's store beside the root as one of its series.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.omezarr import group_attrs
from napari_unet.core.images.omezarr_meta import plain_name

__all__ = ["bioformats2raw_series"]


def bioformats2raw_series(root: Path) -> list[Path]:
    """The series of a bioformats2raw root (found as napari's reader finds them), else [].

    Those the ``OME`` group lists, else ``0``, ``1``, ...; a damaged one is kept (read: named),
    and so is a listed one that is missing (an incomplete copy; reading it says so).
    """
    marker = b"bioformats2raw.layout"  # read cheaply first: a review asks for every image
    if not any(marker in _bytes(root / meta) for meta in (".zattrs", "zarr.json")):
        return []
    import zarr

    meta = {}
    with contextlib.suppress(Exception):  # no OME group, or a damaged one: 0, 1, ...
        meta = dict(zarr.open_group(str(root / "OME"), mode="r").attrs)
    inner = meta.get("ome") if isinstance(meta.get("ome"), dict) else {}
    listed = meta.get("series", inner.get("series"))
    names = [str(n) for n in listed] if isinstance(listed, list) else []
    for name in [n for n in names if not plain_name(n)]:
        warnings.warn(f"{root.name}: its OME series list names {name!r}, not one plain folder "
                      "name in it; it was skipped", UserWarning, stacklevel=2)  # fmt: skip
    names = [n for n in names if plain_name(n)]
    if not names:
        while (root / str(len(names))).is_dir():
            names.append(str(len(names)))
    found = []
    for name in names:
        if not (root / name).exists():  # listed, but missing (an incomplete copy): kept
            found.append(root / name)  # reading it names it (before: 1 of 2 read as the only)
            continue
        try:
            image = group_attrs(root / name)
        except InputError:
            image = ({"multiscales": True}, "")  # damaged: reading it names the file
        if image is not None and image[0].get("multiscales"):
            found.append(root / name)
    return found


def _bytes(path: Path) -> bytes:
    with contextlib.suppress(OSError):
        return path.read_bytes()
    return b""
