"""Naming the well-known formats a model file is not, from its first bytes.

:func:`~napari_unet.core.models.modelfile.load_model` refuses a pickled PyTorch checkpoint,
a plain pickle, an HDF5 (Keras) file, an image or a text file with a message naming it;
nothing is ever unpickled (a zip archive is only listed).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["RESAVE_HINT", "file_kind", "looks_like_text", "sniff"]

#: How to turn a trusted PyTorch checkpoint into a model file.
RESAVE_HINT = (
    "re-save the weights in a trusted Python session: model = napari_unet.build_model(config); "
    "model.load_state_dict(...); napari_unet.save_model(path, model)"
)


def sniff(path: Path, head: bytes) -> str | None:
    """Name a well-known non-safetensors format from the first bytes, else None."""
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as zf:  # lists names only; nothing is unpickled
                pickled = any(n.endswith(".pkl") for n in zf.namelist())
        except zipfile.BadZipFile:
            pickled = False
        if pickled:
            return (
                "this is a pickled PyTorch checkpoint (torch.save zip archive); napari-unet "
                f"never unpickles files, because unpickling can run code; {RESAVE_HINT}"
            )
        return "this is a zip archive, not a napari-unet model file"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return (
            "this is a pickled file (e.g. a legacy torch.save checkpoint); napari-unet never "
            f"unpickles files, because unpickling can run code; {RESAVE_HINT}"
        )
    if head[:4] == b"\x89HDF":
        return "this is an HDF5 file (e.g. a Keras model), not a napari-unet model file"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:4] in (b"II*\x00", b"MM\x00*"):
        return "this is an image (PNG/TIFF), not a napari-unet model file"
    return None


#: First bytes of the image formats a microscope or a screenshot writes.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+",
               b"\xff\xd8\xff")  # fmt: skip


def file_kind(head: bytes) -> str | None:
    """``"safetensors"``, ``"image"``, ``"pickle"`` or ``"hdf5"`` from the first bytes, else None.

    A safetensors file (a napari-unet model file) starts with its JSON header's length as
    8 little-endian bytes, then the header's ``{``.
    """
    if len(head) >= 9 and head[8:9] == b"{" and 1 < int.from_bytes(head[:8], "little") < 2**40:
        return "safetensors"
    if head.startswith(IMAGE_MAGIC):
        return "image"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == b"\x89HDF":
        return "hdf5"
    return None


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file decode as printable UTF-8 text."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)
