from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, read_image, write_image
from napari_unet.core.images.io import atomic_write


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
