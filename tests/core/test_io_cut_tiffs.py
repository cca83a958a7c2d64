"""Compressed TIFFs cut short, or declaring far more pixels than they hold, are refused fast.

Before, tifffile made the whole declared array first (1.5 GB and seconds of zero-filling
for a 127-byte file that declared 200,776 x 7,612 pixels, which then read as an image of
zeros) or failed in its decoder with the codec's own words ("LIBDEFLATE_BAD_DATA").
"""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
import tifffile

import napari_unet as nu


def _cut_at_strip(tmp_path, compression, strip):  # the strips from `strip` on: past the end
    image = (np.random.default_rng(0).random((256, 256)) * 254 + 1).astype(np.uint8)
    whole = tmp_path / f"whole_{compression}.tif"
    tifffile.imwrite(whole, image, compression=compression, rowsperstrip=32)
    with tifffile.TiffFile(whole) as tf:
        cut = tf.pages[0].dataoffsets[strip]
    path = tmp_path / f"cut_{compression}.tif"
    path.write_bytes(whole.read_bytes()[:cut])
    return path


@pytest.mark.parametrize("compression", ["zlib", "lzw", "packbits"])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_compressed_tiff_cut_short_is_called_truncated(tmp_path, compression, lazy):
    path = _cut_at_strip(tmp_path, compression, strip=4)
    with pytest.raises(nu.InputError, match="truncated or damaged .*past the end of the file"):
        np.asarray(nu.read_image(path, lazy=lazy))
    assert np.asarray(nu.read_image(tmp_path / f"whole_{compression}.tif")).shape == (256, 256)


def test_a_tiny_file_declaring_a_huge_image_is_refused_before_any_array_is_made(tmp_path):
    # 200,776 x 7,612 8-bit pixels, PackBits, one strip of 5 bytes said to be 1.5 GB long
    tags = [(256, 4, 1, 200776), (257, 4, 1, 7612), (258, 3, 1, 8), (259, 3, 1, 32773),
            (262, 3, 1, 1), (273, 4, 1, 122), (277, 3, 1, 1), (278, 4, 1, 7612),
            (279, 4, 1, 200776 * 7612)]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    path = tmp_path / "huge.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
                     + bytes.fromhex("18578b6c33"))  # fmt: skip
    tracemalloc.start()
    try:
        with pytest.raises(nu.InputError, match="truncated or damaged"):
            nu.read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # before: the 1.5 GB array


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_last_byte_count_padded_past_the_end_still_reads(tmp_path, compression):
    """Some writers pad the last strip's byte count; tifffile (and libtiff) read the file."""
    image = (np.random.default_rng(1).random((256, 300)) * 255).astype(np.uint8)
    path = tmp_path / "padded.tif"
    tifffile.imwrite(path, image, compression=compression, rowsperstrip=100)
    with tifffile.TiffFile(path, mode="r+b") as tf:
        tag = tf.pages[0].tags["StripByteCounts"]
        counts = list(tf.pages[0].databytecounts)
        counts[-1] += 64  # a few bytes past the end of the file
        tag.overwrite(counts)
    np.testing.assert_array_equal(np.asarray(nu.read_image(path)), image)
