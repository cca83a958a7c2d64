"""Files as other programs write them: CMYK JPEGs, TIFFs with a preview first, LZW TIFFs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet import InputError, read_image

REPO = Path(__file__).resolve().parents[2]


def _colour_image(h: int = 48, w: int = 64) -> np.ndarray:
    """An H&E-like picture: pink background, purple blobs, a gradient (no flat planes)."""
    yy, xx = np.mgrid[:h, :w]
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[..., 0] = 200 + (xx % 40)
    rgb[..., 1] = 120 + (yy % 60)
    rgb[..., 2] = 190
    blob = (yy - h // 2) ** 2 + (xx - w // 3) ** 2 < 100
    rgb[blob] = (90, 40, 140)
    return rgb


@pytest.mark.parametrize("black", [False, True], ids=["k-empty", "k-used"])
def test_a_cmyk_jpeg_is_read_as_the_colours_it_shows(tmp_path, black):
    rgb = _colour_image()
    cmyk = Image.fromarray(rgb).convert("CMYK")  # Pillow's conversion leaves K at 0
    if black:  # a print workflow's CMYK puts the grey component into K
        c, m, y, _ = (np.asarray(b, dtype=np.int16) for b in cmyk.split())
        k = np.minimum(np.minimum(c, m), y)
        bands = [Image.fromarray((b - k).astype(np.uint8)) for b in (c, m, y)]
        cmyk = Image.merge("CMYK", [*bands, Image.fromarray(k.astype(np.uint8))])
    path = tmp_path / "histology_for_print.jpg"
    cmyk.save(path, quality=95)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
        shown = np.asarray(im.convert("RGB"))
    image = read_image(path)
    # before: the raw C, M, Y planes (the colours inverted); K dropped as if it were alpha
    # when empty, kept as a fourth channel when not
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, shown)
    assert np.abs(image.astype(int) - rgb).mean() < 8  # the picture, up to JPEG's loss
    assert np.array_equal(read_image(path, labels=True), shown)


def _two_series(path: Path, *arrays: np.ndarray) -> None:
    with tifffile.TiffWriter(path) as writer:
        for array in arrays:
            rgb = array.ndim == 3 and array.shape[-1] == 3
            writer.write(array, photometric="rgb" if rgb else "minisblack")


@pytest.mark.parametrize("lazy", [False, True])
def test_a_preview_written_before_the_image_is_not_read_in_its_place(tmp_path, lazy):
    image = (np.arange(256 * 192) % 4093).astype(np.uint16).reshape(256, 192)
    path = tmp_path / "with_preview_first.tif"
    _two_series(path, image[::4, ::4].copy(), image)  # a 64x48 preview, then the image
    with tifffile.TiffFile(path) as tf:
        assert [s.shape for s in tf.series] == [(64, 48), (256, 192)]
    read = np.asarray(read_image(path, lazy=lazy))
    assert read.shape == (256, 192)  # before: (64, 48), the preview, without a word
    assert np.array_equal(read, image)


def test_a_colour_thumbnail_before_a_grey_stack_is_not_read(tmp_path):
    stack = np.stack([np.full((80, 96), k, np.uint8) for k in (10, 20, 30)])
    thumbnail = np.zeros((20, 24, 3), np.uint8)
    path = tmp_path / "stack_with_thumbnail.tif"
    _two_series(path, thumbnail, stack)
    read = read_image(path)
    assert read.shape == (3, 80, 96) and read[:, 0, 0].tolist() == [10, 20, 30]


def test_several_full_size_series_behind_a_preview_are_refused(tmp_path):
    path = tmp_path / "positions_with_preview.tif"
    positions = [np.full((128, 128), k, np.uint8) for k in (1, 2)]
    _two_series(path, np.zeros((32, 32), np.uint8), *positions)
    with pytest.raises(InputError, match=r"3 image series, 2 of them 128x128.*own file"):
        read_image(path)


def test_a_first_image_of_another_shape_before_a_larger_one_is_refused_not_guessed(tmp_path):
    path = tmp_path / "two_images.tif"
    _two_series(path, np.zeros((64, 200), np.uint8), np.full((128, 128), 5, np.uint8))
    for lazy in (False, True):
        with pytest.raises(InputError) as info:
            read_image(path, lazy=lazy)
        message = str(info.value)
        assert "2 image series" in message and "series 0: 64x200" in message
        assert "thumbnails or previews" in message and "its own file" in message


def _lzw_tiff(path: Path) -> np.ndarray:
    data = (np.arange(3 * 40 * 56) % 1000).astype(np.uint16).reshape(3, 40, 56)
    tifffile.imwrite(path, data, compression="lzw", photometric="minisblack")
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].compression == tifffile.COMPRESSION.LZW
    return data


@pytest.mark.parametrize("lazy", [False, True])
def test_an_lzw_tiff_as_microscope_programs_write_it_is_read(tmp_path, lazy):
    data = _lzw_tiff(tmp_path / "lzw.tif")
    assert np.array_equal(np.asarray(read_image(tmp_path / "lzw.tif", lazy=lazy)), data)


def test_imagecodecs_is_a_dependency_of_a_plain_install():
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M).group(1)
    assert re.search(r'^\s*"imagecodecs\b', block, re.M)  # before: only through extras


_WITHOUT_IMAGECODECS = """
import sys
sys.modules["imagecodecs"] = None  # an environment without imagecodecs
from napari_unet import InputError, read_image
for lazy in (False, True):
    try:
        read_image(sys.argv[1], lazy=lazy)
    except InputError as exc:
        print(exc)
    else:
        print("read")
"""


def test_a_missing_codec_names_the_package_to_install(tmp_path):
    path = tmp_path / "lzw.tif"
    _lzw_tiff(path)
    # tifffile imports imagecodecs when it is imported: block it in a fresh interpreter
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_IMAGECODECS, str(path)],
        capture_output=True, text=True, timeout=120, check=True, cwd=tmp_path,
    )  # fmt: skip
    messages = done.stdout.strip().splitlines()
    assert len(messages) == 2, done.stdout + done.stderr
    for message in messages:  # lazily too: before, the lazy read failed only when computed
        assert "LZW" in message and "pip install imagecodecs" in message
        assert "not a readable TIFF file" not in message  # before: the file called bad


def test_a_first_series_as_large_as_any_other_is_read_as_before(tmp_path):
    # a z-stack followed by its projection (same plane, another shape): the stack, as always
    path = tmp_path / "stack_and_projection.tif"
    stack = np.arange(3 * 32 * 40, dtype=np.uint16).reshape(3, 32, 40)
    _two_series(path, stack, stack.max(axis=0))
    assert np.array_equal(np.asarray(read_image(path)), stack)
