"""TIFF stacks cut short, and multi-file OME-TIFFs missing a companion file, are refused.

Before, tifffile read a cut-short stack as the planes that were left (often one: a 5-plane
ImageJ stack came back as one 2D plane, predicted and written without a word), and the
planes of a missing companion file of a multi-file OME-TIFF as zeros.
"""

from __future__ import annotations

import logging
import os
import uuid

import numpy as np
import pytest
import tifffile

import napari_unet as nu

STACK = np.random.default_rng(0).integers(1, 65535, (5, 40, 36), dtype=np.uint16)

KINDS = {
    "imagej": {"imagej": True, "metadata": {"axes": "ZYX"}},
    "tifffile_zlib": {"compression": "zlib"},
    "tifffile_tiled": {"tile": (16, 16)},
    "plain": {"metadata": None},
    "plain_zlib": {"metadata": None, "compression": "zlib"},
    "ome_zlib": {"ome": True, "metadata": {"axes": "ZYX"}, "compression": "zlib"},
}


@pytest.fixture(autouse=True)
def _quiet_tifffile():  # tifffile logs each damaged file it reads
    logger = logging.getLogger("tifffile")
    level, logger.level = logger.level, logging.CRITICAL
    yield
    logger.setLevel(level)


def _cut(tmp_path, kind, keep):
    whole = tmp_path / f"{kind}.tif"
    tifffile.imwrite(whole, STACK, **KINDS[kind])
    data = whole.read_bytes()
    cut = tmp_path / f"{kind}_cut.tif"
    cut.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[: len(data) + int(keep)])
    return whole, cut


@pytest.mark.parametrize("lazy", [False, True])
def test_an_imagej_stack_cut_short_is_refused_with_its_plane_counts(tmp_path, lazy):
    """ImageJ writes the pixels first, the later pages' entries last: 2000 bytes cut off."""
    whole, cut = _cut(tmp_path, "imagej", -2000)
    assert np.array_equal(np.asarray(nu.read_image(whole, lazy=lazy)), STACK)
    with pytest.raises(nu.InputError, match=r"truncated or damaged \(it declares 5 planes, 1 "):
        nu.read_image(cut, lazy=lazy)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_compressed_tifffile_stack_cut_in_half_is_refused(tmp_path, lazy):
    _, cut = _cut(tmp_path, "tifffile_zlib", 0.5)
    with pytest.raises(nu.InputError, match=r"truncated or damaged \(it declares 5 planes"):
        nu.read_image(cut, lazy=lazy)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_stack_without_metadata_cut_short_is_refused(tmp_path, lazy):
    """No count declared: the list of pages breaks off past the end of the file."""
    _, cut = _cut(tmp_path, "plain_zlib", 0.5)
    with pytest.raises(nu.InputError, match="truncated or damaged .*breaks off after plane"):
        nu.read_image(cut, lazy=lazy)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_stack_cut_anywhere_is_refused_never_read_short(tmp_path, kind):
    """Cut at 5 % to 98 %: before, most of these read as the one or few planes left."""
    whole, _ = _cut(tmp_path, kind, 1)
    assert np.array_equal(np.asarray(nu.read_image(whole)), STACK)
    data = whole.read_bytes()
    for keep in np.linspace(0.05, 0.98, 12):  # refused, or (trailing bytes only) read whole
        cut = tmp_path / "cut.tif"
        cut.write_bytes(data[: int(len(data) * keep)])
        for lazy in (False, True):
            try:
                read = np.asarray(nu.read_image(cut, lazy=lazy))
            except nu.InputError:
                continue
            assert read.shape == STACK.shape, (keep, lazy, read.shape)
            assert np.array_equal(read, STACK), (keep, lazy)


def _ome(own: str, files: dict[str, str], per: int) -> str:
    entries = "".join(
        f'<TiffData FirstZ="{k * per}" IFD="0" PlaneCount="{per}"><UUID FileName="{name}">'
        f"{uid}</UUID></TiffData>"
        for k, (name, uid) in enumerate(files.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="{own}">'
        '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
        f'SizeX="36" SizeY="40" SizeZ="{per * len(files)}" SizeC="1" SizeT="1">'
        f'<Channel ID="Channel:0:0" SamplesPerPixel="1"/>{entries}</Pixels></Image></OME>'
    )


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize(("per", "compression"), [(1, None), (1, "zlib"), (2, None)])
def test_a_multifile_ome_tiff_missing_a_companion_file_is_refused_naming_it(
    tmp_path, per, compression, lazy
):
    """Before: its planes read as zeros, or (2 planes a file) the intact first file was
    called truncated."""
    files = {f"p{k}.ome.tif": f"urn:uuid:{uuid.uuid4()}" for k in range(STACK.shape[0] // per)}
    for k, (name, uid) in enumerate(files.items()):
        tifffile.imwrite(tmp_path / name, STACK[k * per : (k + 1) * per],
                         description=_ome(uid, files, per), metadata=None,
                         compression=compression)  # fmt: skip
    first = tmp_path / "p0.ome.tif"
    planes = per * len(files)
    assert np.array_equal(np.asarray(nu.read_image(first, lazy=lazy)), STACK[:planes])
    os.remove(tmp_path / "p1.ome.tif")
    with pytest.raises(nu.InputError, match="missing") as info:
        nu.read_image(first, lazy=lazy)
    assert f"{per} of its {planes} planes" in str(info.value)
    assert "(p1.ome.tif)" in str(info.value)
    assert "truncated" not in str(info.value)


def test_a_16_bit_grey_png_with_alpha_is_called_grey_not_colour(tmp_path):
    import struct
    import zlib

    rows = b"".join(b"\x00" + np.full((5, 2), 1000, ">u2").tobytes() for _ in range(4))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    path = tmp_path / "la16.png"
    head = struct.pack(">IIBBBBB", 5, 4, 16, 4, 0, 0, 0)  # 16 bits, grey with alpha
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip
    with pytest.raises(nu.InputError, match="16-bit grey PNG with alpha") as info:
        nu.read_image(path)
    assert "colour" not in str(info.value)
