"""How large a package's weights file may be, and reading it no further than that.

A bioimage.io package is a zip archive: a few megabytes can unpack to gigabytes (a "zip
bomb"). Before, ``napari-unet import`` read the whole weights entry into memory (6.6 GB for
a 4.6 MB package) before refusing it. Now the entry's declared size is compared with what
the package's own network needs (built on PyTorch's ``meta`` device, which allocates
nothing), and the reading stops there too, whatever the archive declares.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = [
    "declared_size", "read_capped", "refuse_inflated", "refuse_oversized", "weights_limit",
]  # fmt: skip

#: Room for the container around the tensors (torch.save's zip and pickle records).
CONTAINER_BYTES = 16 * 2**20
#: Per tensor: its name, pickle record and alignment in torch.save's archive.
PER_TENSOR_BYTES = 4096
#: Bytes read at a time.
CHUNK = 2**20
#: Another tool's weights (whose network napari-unet cannot size) are refused unpacked to
#: more than MAX_RATIO times their packed size, past SUSPECT_BYTES: trained float weights
#: hardly compress (about 1.1x); a zip bomb of zeros packs a thousandfold.
MAX_RATIO = 50
SUSPECT_BYTES = 64 * 2**20


def weights_limit(config: dict) -> int:
    """The most bytes a state dict of the ``config``'s network may take in a file.

    Its tensors' bytes twice over (float64 where napari-unet writes float32), plus the
    container. InputError if the config builds no network.
    """
    import torch

    from napari_unet.core.models.registry import build_model

    with torch.device("meta"):  # shapes only: nothing is allocated
        state = build_model(config).state_dict()
    tensors = sum(t.numel() * t.element_size() for t in state.values())
    return 2 * tensors + PER_TENSOR_BYTES * len(state) + CONTAINER_BYTES


def declared_size(path: Path, name: str) -> int | None:
    """The unpacked size the package declares for its file ``name`` (None: unknown)."""
    if "://" in name:
        return None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            try:
                return zf.getinfo(name).file_size
            except KeyError:
                return None
    file = (path if path.is_dir() else path.parent) / name
    return file.stat().st_size if file.is_file() else None


def _too_large(path: Path, name: str, size: str, limit: int) -> InputError:
    return InputError(
        f"{path}: its weights file {name} {size}, more than the weights of its network "
        f"can take ({limit / 1e6:.1f} MB at most); it is not read (a damaged package, or "
        "one built to fill the memory: a zip bomb)"
    )


def refuse_oversized(path: Path, name: str, limit: int) -> None:
    """Refuse, before reading it, a weights file that declares more than ``limit`` bytes."""
    size = declared_size(path, name)
    if size is not None and size > limit:
        raise _too_large(path, name, f"unpacks to {size / 1e6:.1f} MB", limit)


def read_capped(reader, path: Path, name: str, limit: int) -> bytes:
    """All of ``reader`` (a binary file), refused as soon as it passes ``limit`` bytes."""
    data = bytearray()
    while chunk := reader.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise _too_large(path, name, "holds more", limit)
    return bytes(data)


def refuse_inflated(path: Path, name: str) -> None:
    """Refuse a zip entry ``name`` that unpacks to many times its size (a zip bomb)."""
    if "://" in name or not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as zf:
        try:
            info = zf.getinfo(name)
        except KeyError:
            return  # missing: the reading says so
    size, packed = info.file_size, max(info.compress_size, 1)
    if size > SUSPECT_BYTES and size > MAX_RATIO * packed:
        raise InputError(
            f"{path}: its weights file {name} unpacks to {size / 1e6:.1f} MB from "
            f"{packed / 1e6:.1f} MB ({size // packed}x), which no trained weights do; it is "
            "not read (a damaged package, or one built to fill the memory: a zip bomb)"
        )
