"""File reading and writing: alpha in label PNGs, thumbnails' calibration, pyramids read
lazily, pixel sizes written and read, symbolic links, bioformats2raw roots in napari."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.images.pixels import read_pixel_size


def _labels(shape=(32, 40)) -> np.ndarray:
    lab = np.zeros(shape, np.uint8)
    lab[4:12, 4:12], lab[16:28, 20:36] = 1, 2
    return lab


# -- 1. a grey label PNG with alpha ---------------------------------------------------------


def test_a_grey_label_png_with_opaque_alpha_is_read_as_2d_labels(tmp_path):
    """Before, it came back (Y, X, 2) and was measured as a stack of two planes."""
    lab = _labels()
    Image.fromarray(lab, "L").convert("LA").save(tmp_path / "cells_labels.png")
    out = read_image(tmp_path / "cells_labels.png", labels=True)
    assert out.shape == lab.shape
    np.testing.assert_array_equal(out, lab)


def test_a_grey_label_png_whose_transparency_varies_is_refused(tmp_path):
    lab = _labels()
    alpha = np.full(lab.shape, 255, np.uint8)
    alpha[:, :5] = 0
    Image.fromarray(np.stack([lab, alpha], -1), "LA").save(tmp_path / "cells_labels.png")
    with pytest.raises(InputError, match="transparency"):
        read_image(tmp_path / "cells_labels.png", labels=True)


# -- 2. the pixel size of the series that is read -------------------------------------------


def test_the_pixel_size_is_the_images_not_a_thumbnail_written_before_it(tmp_path):
    """Before, the first page's (the thumbnail's, 8 times larger) was read."""
    img = np.arange(64 * 72, dtype=np.uint16).reshape(64, 72)
    with tifffile.TiffWriter(tmp_path / "a.ome.tif", ome=True) as tw:
        tw.write(img[::8, ::8], metadata={"axes": "YX", "PhysicalSizeX": 2.6, "PhysicalSizeY": 2.6})
        tw.write(img, metadata={"axes": "YX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325})
    with tifffile.TiffWriter(tmp_path / "b.tif") as tw:
        tw.write(img[::8, ::8])
        tw.write(img, resolution=(1e4 / 0.325, 1e4 / 0.325), resolutionunit="CENTIMETER")
    for name in ("a.ome.tif", "b.tif"):
        assert read_image(tmp_path / name).shape == img.shape
        assert read_pixel_size(tmp_path / name) == pytest.approx((0.325, 0.325))


# -- 3. a pyramidal TIFF read lazily ---------------------------------------------------------


def test_a_pyramidal_tiff_is_read_lazily_at_full_resolution(tmp_path):
    """Before: "'Group' object has no attribute 'shape'"."""
    img = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    with tifffile.TiffWriter(tmp_path / "pyr.ome.tif") as tw:
        tw.write(img, subifds=1, tile=(16, 16), metadata={"axes": "YX"})
        tw.write(img[::2, ::2], subfiletype=1, tile=(16, 16))
    lazy = read_image(tmp_path / "pyr.ome.tif", lazy=True)
    assert lazy.shape == img.shape
    np.testing.assert_array_equal(np.asarray(lazy), img)


# -- 4. the pixel size written with the labels ----------------------------------------------


@pytest.mark.parametrize("size", [(0.325, 0.325), (0.5, 0.25), (25.4, 25.4), 6.5])
def test_a_written_pixel_size_is_read_back(tmp_path, size):
    """25.4 µm (1000 dpi in centimetres) must not be read back as a dpi default."""
    write_image(tmp_path / "l.tif", _labels().astype(np.int32), pixel_size=size)
    expected = (size, size) if isinstance(size, float) else size
    assert read_pixel_size(tmp_path / "l.tif") == pytest.approx(expected, rel=1e-9)
    np.testing.assert_array_equal(read_image(tmp_path / "l.tif"), _labels())


def test_without_a_pixel_size_none_is_written(tmp_path):
    write_image(tmp_path / "l.tif", _labels().astype(np.int32), pixel_size=None)
    write_image(tmp_path / "l.png", _labels(), pixel_size=(0.5, 0.5))  # PNG: ignored
    assert read_pixel_size(tmp_path / "l.tif") is None
    np.testing.assert_array_equal(read_image(tmp_path / "l.png"), _labels())


def test_predict_writes_the_inputs_pixel_size_into_the_labels(tmp_path, one_thread):
    """Before, `napari-unet predict` wrote label TIFFs without it (lengths in pixels)."""
    from tiny_model import save_tiny, train_tiny

    from napari_unet.cli import main

    (tmp_path / "model").mkdir()
    model = save_tiny(tmp_path / "model", *train_tiny("same", steps=1, base_channels=4))
    (tmp_path / "in").mkdir()
    img = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    tifffile.imwrite(
        tmp_path / "in" / "cells.tif", img, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
        metadata={"unit": "um"},
    )  # fmt: skip
    args = ["predict", str(model), str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    assert main([*args, "--object-size", "none"]) == 0
    assert read_pixel_size(tmp_path / "out" / "cells_labels.tif") == pytest.approx((0.65, 0.65))


def test_an_export_writes_the_pixel_size_into_the_labels(tmp_path):
    from napari_unet.core.review.export import export_review
    from napari_unet.core.review.session import Review

    (tmp_path / "images").mkdir()
    write_image(tmp_path / "images" / "a.tif", np.full((32, 40), 100, np.uint16))
    review = Review(tmp_path / "images", tmp_path / "out")
    review.check_hash("a.tif")
    review.save_labels("a.tif", _labels().astype(np.int32))
    review.set_status("a.tif", "accepted")
    export_review(review, pixel_size=0.4)
    written = tmp_path / "out" / "export" / "labels" / review.labels_path("a.tif").name
    assert read_pixel_size(written) == pytest.approx((0.4, 0.4))


# -- 5. tifffile's millimetre and micrometre resolution units --------------------------------


@pytest.mark.parametrize(("unit", "per_unit"), [("MILLIMETER", 1e3), ("MICROMETER", 1.0)])
def test_millimetre_and_micrometre_resolution_units_give_the_pixel_size(tmp_path, unit, per_unit):
    """Before, None: the pixel size was lost. 1 µm per pixel is no dpi default either."""
    for size in (0.325, 1.0):
        img = np.zeros((8, 8), np.uint16)
        res = per_unit / size
        tifffile.imwrite(tmp_path / "a.tif", img, resolution=(res, res), resolutionunit=unit)
        assert read_pixel_size(tmp_path / "a.tif") == pytest.approx((size, size))


# -- 6. writing through a symbolic link ------------------------------------------------------


def test_writing_through_a_symbolic_link_replaces_the_file_it_points_to(tmp_path):
    """Before, the link itself was replaced by a regular file, the target left stale."""
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "labels.tif"
    write_image(target, np.zeros((4, 4), np.int32))
    link = tmp_path / "labels.tif"
    link.symlink_to(target)
    write_image(link, np.ones((4, 4), np.int32))
    assert link.is_symlink()
    assert read_image(target).max() == 1
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["labels.tif"]  # no debris


# -- 7. a bioformats2raw root opened in napari -----------------------------------------------


def test_napari_opens_the_image_of_a_bioformats2raw_root(tmp_path):
    """Before, the reader declined the root (only ``root/0`` opened)."""
    import zarr

    from napari_unet.reader import get_reader

    root = zarr.open_group(str(tmp_path / "slide.zarr"), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    group = root.create_group("0")
    data = np.arange(2 * 16 * 16, dtype=np.uint8).reshape(1, 2, 1, 16, 16)
    group.create_array("0", data=data, chunks=(1, 1, 1, 16, 16))
    kinds = ["time", "channel", "space", "space", "space"]
    axes = [{"name": a, "type": t} for a, t in zip("tczyx", kinds, strict=True)]
    scale = [{"type": "scale", "scale": [1, 1, 1, 0.5, 0.5]}]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": scale}],
        }
    ]
    reader = get_reader(str(tmp_path / "slide.zarr"))
    assert reader is not None
    [(layer, meta, kind)] = reader(str(tmp_path / "slide.zarr"))
    assert kind == "image" and meta["name"] == "slide"
    assert meta["channel_axis"] == 0 and meta["scale"] == [0.5, 0.5]
    np.testing.assert_array_equal(np.asarray(layer), data[0, :, 0])
    assert get_reader(str(tmp_path / "slide.zarr" / "0")) is not None  # as before
    (tmp_path / "plain.zarr").mkdir()
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=2)
    assert get_reader(str(tmp_path / "plain.zarr")) is None  # other groups: not ours
