from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet import InputError, read_image, write_image
from napari_unet.core.files import atomic_write


@pytest.mark.parametrize("suffix", [".tif", ".png", ".zarr"])
def test_round_trip(tmp_path, suffix):
    data = (np.arange(30 * 40) % 251).astype(np.uint8).reshape(30, 40)
    path = write_image(tmp_path / f"a{suffix}", data)
    back = np.asarray(read_image(path))
    assert back.dtype == data.dtype and np.array_equal(back, data)


def test_lazy_tiff_is_dask(tmp_path):
    import dask.array as da

    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    write_image(tmp_path / "a.tif", data)
    lazy = read_image(tmp_path / "a.tif", lazy=True)
    assert isinstance(lazy, da.Array) and np.array_equal(lazy.compute(), data)


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]  # no temporary left behind


def test_refuses_overwrite_when_asked(tmp_path):
    write_image(tmp_path / "a.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_image(tmp_path / "a.tif", np.ones((4, 4), np.uint8), overwrite=False)


def test_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.tif")
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(InputError, match="unsupported image format"):
        read_image(tmp_path / "a.txt")
    with pytest.raises(InputError, match="PNG holds"):
        write_image(tmp_path / "f.png", np.zeros((4, 4), np.float32))


@pytest.mark.parametrize(
    ("shape", "dtype", "photometric"),
    [
        ((3, 40, 3), np.float32, "MINISBLACK"),  # a stack of narrow planes, not colour
        ((4, 32, 32), np.uint16, "MINISBLACK"),  # a (Z, H, W) stack
        ((32, 32, 3), np.uint8, "RGB"),  # an 8-bit colour image
    ],
)
def test_tiff_stacks_stay_grey_and_colour_stays_colour(tmp_path, shape, dtype, photometric):
    import tifffile

    data = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    path = write_image(tmp_path / "x.tif", data)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].photometric.name == photometric
    np.testing.assert_array_equal(read_image(path), data)


# -- files written the user's way, no debris; damaged files refused before allocating -----


def test_written_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        from napari_unet.core import files

        umask = files._UMASK
        path = write_image(tmp_path / "shared.tif", np.zeros((4, 4), np.uint8))
        assert (path.stat().st_mode & 0o777) == 0o666 & ~umask
        assert (path.stat().st_mode & 0o044) or umask & 0o044  # readable by the group/others
    finally:
        os.umask(old)


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "model.safetensors"
    # A writer that dies mid-write leaves its temporary (its pid in the name) behind.
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(proc.stdout)
    debris = tmp_path / f".model.safetensors.{dead}.abc123.safetensors.tmp"
    debris.write_bytes(b"half a model")
    mine = tmp_path / f".model.safetensors.{__import__('os').getpid()}.xyz.safetensors.tmp"
    mine.write_bytes(b"a write of this process in progress")
    other = tmp_path / ".other.tif.1.abc.tif.tmp"
    other.write_bytes(b"not ours")
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert not debris.exists()  # its writer is gone
    assert mine.exists() and other.exists()  # a live writer's, and another file's, stay


def _tiff_declaring(path, width, height):
    """A TIFF header that declares a width x height 8-bit image and holds no pixels."""
    import struct

    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height),
            (279, 4, 1, min(width * height, 2**32 - 1))]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0))
    return path


@pytest.mark.parametrize("lazy", [False, True])
def test_damaged_and_hostile_files_are_refused_with_a_message(tmp_path, lazy):
    import tifffile
    from PIL import Image

    good_tif = tmp_path / "good.tif"  # uncompressed: 8 kB of pixels
    tifffile.imwrite(good_tif, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    noisy = np.random.default_rng(0).integers(0, 60000, (64, 64), dtype=np.uint16)
    zipped = write_image(tmp_path / "zipped.tif", noisy)  # zlib: cut, it fails to decode
    good_png = tmp_path / "good.png"
    Image.fromarray(np.ones((64, 64), np.uint8)).save(good_png)
    cases = {
        "empty.tif": (b"", "empty"),
        "garbage.tif": (bytes(range(256)) * 2, "not a readable TIFF"),
        "garbage.png": (bytes(range(256)) * 2, "not a readable image"),
        "cut.tif": (good_tif.read_bytes()[:3000], "truncated"),
        "cut_zipped.tif": (zipped.read_bytes()[:3000], "not a readable TIFF|damaged image data"),
        "cut.png": (good_png.read_bytes()[:60], "not a readable image"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=message):
            np.asarray(read_image(tmp_path / name, lazy=lazy))  # lazily: when computed
    bomb = _tiff_declaring(tmp_path / "bomb.tif", 100_000, 100_000)
    assert bomb.stat().st_size < 200
    with pytest.raises(InputError, match="100000x100000"):
        read_image(bomb, lazy=lazy)  # refused before anything is allocated, even lazily


def test_an_image_larger_than_the_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    from napari_unet.core import files

    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((300, 400), np.uint8)).save(path)
    monkeypatch.setattr(files, "available_memory", lambda: 100_000)  # 100 kB left
    with pytest.raises(InputError, match=r"300x400x1 uint8 image .* more than"):
        read_image(path)


def test_a_png_decompression_bomb_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10 gigapixels, grey
    idat = zlib.compress(b"\0" * 1000)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))  # fmt: skip
    assert bomb.stat().st_size < 200
    with pytest.raises(InputError, match="too large to decode safely|100000x100000"):
        read_image(bomb)


def _png(path, pixels: np.ndarray, colour_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    h, w = pixels.shape[:2]
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # fmt: skip


def test_a_16_bit_colour_png_is_refused_rather_than_cut_to_8_bits(tmp_path):
    dim = np.random.default_rng(0).integers(0, 409, (8, 9, 3)).astype(np.uint16)
    _png(tmp_path / "rgb16.png", dim, colour_type=2)
    with pytest.raises(InputError, match="16-bit colour PNG"):
        read_image(tmp_path / "rgb16.png")
    _png(tmp_path / "grey16.png", dim[..., 0], colour_type=0)  # 16-bit grey reads whole
    np.testing.assert_array_equal(read_image(tmp_path / "grey16.png"), dim[..., 0])


def test_a_one_bit_tiff_mask_is_read_not_called_truncated(tmp_path):
    # the size check counted a byte per pixel; a 1-bit TIFF stores a bit
    mask = np.zeros((100, 100), bool)
    mask[10:20, 30:45] = True
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    np.testing.assert_array_equal(read_image(tmp_path / "mask.tif"), mask)
