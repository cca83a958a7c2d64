"""Measurement reads images as prediction does; stores, series and ids as files hold them."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import is_zarr, read_image
from napari_unet.core.images.layout import plane_view
from napari_unet.core.images.omezarr import create_labels, ome_kind, pixel_size_um
from napari_unet.core.review.measure import measure_objects


def _stack() -> np.ndarray:
    labels = np.zeros((3, 24, 32), np.int32)
    labels[:, 2:8, 3:9] = 1
    labels[1, 12:20, 10:30] = 4
    return labels


def test_a_zcyx_stack_with_as_many_channels_as_planes_reads_as_prediction_does():
    labels = _stack()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 1000, (3, 3, 24, 32)).astype(np.uint16)  # (Z=3, C=3, Y, X)
    table = measure_objects(labels, image)  # before: refused, Z and C both fit
    planes, stack, _, _ = plane_view(image, 3)  # prediction's reading: (Z, C, Y, X)
    np.testing.assert_array_equal(planes, image)
    assert stack == (3,)
    given = measure_objects(labels, image, channel_axis=1)
    for c in range(3):
        np.testing.assert_array_equal(table[f"mean_intensity_c{c}"], given[f"mean_intensity_c{c}"])
    assert table["mean_intensity_c2"][0] == pytest.approx(image[0, 2, 2:8, 3:9].mean())


def test_channels_last_still_win_when_the_last_axis_fits():
    labels = _stack()
    image = np.random.default_rng(1).integers(0, 255, (3, 24, 32, 3)).astype(np.uint8)
    table = measure_objects(labels, image)
    assert table["mean_intensity_c1"][0] == pytest.approx(image[0, 2:8, 3:9, 1].mean())


def test_uint64_ids_keep_their_dtype_across_planes():
    labels = np.zeros((3, 16, 16), np.uint64)
    labels[0, 1:4, 1:4] = 2**64 - 1
    labels[2, 1:4, 1:4] = 5  # plane 1 is empty
    table = measure_objects(labels)
    assert table["label"].dtype == np.uint64  # before: float64, 5.0 and 1.8446744073709552e+19
    assert table["label"].tolist() == [2**64 - 1, 5]
    assert table["plane"].tolist() == [0, 2]


def test_several_positions_in_one_tiff_are_refused(tmp_path):
    path = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as writer:
        for k in range(2):
            writer.write(np.full((32, 32), k, np.uint8), metadata={"axes": "YX"})
    for lazy in (False, True):
        with pytest.raises(InputError, match="2 image series.*own file"):
            read_image(path, lazy=lazy)


def test_smaller_series_beside_the_image_are_read_as_before(tmp_path):
    path = tmp_path / "with_thumbnail.tif"
    with tifffile.TiffWriter(path) as writer:
        writer.write(np.full((64, 48), 7, np.uint8))
        writer.write(np.zeros((16, 12), np.uint8))  # a thumbnail
    with tifffile.TiffFile(path) as tf:
        assert len(tf.series) == 2
    image = read_image(path)
    assert image.shape == (64, 48) and int(image.max()) == 7


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_label_group_is_a_store_with_its_scale(tmp_path, version):
    zarr = pytest.importorskip("zarr")
    path = tmp_path / "labels" / "cells"  # no .zarr suffix: IMAGE.zarr/labels/NAME
    levels = create_labels(path, (32, 32), (16, 16), 2, version=version, scale=(0.25, 0.5))
    levels[0][:] = 3
    assert is_zarr(path) and ome_kind(path) == "labels"
    assert read_image(path, labels=True).shape == (32, 32)
    assert pixel_size_um(path) is None  # a scale without a unit
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    ome = attrs["ome"] if version == "0.5" else attrs
    for axis in ome["multiscales"][0]["axes"]:
        axis["unit"] = "nanometer"
    group.attrs.update(attrs)
    assert pixel_size_um(path) == pytest.approx((0.25e-3, 0.5e-3))
    assert not is_zarr(tmp_path)  # a folder of stores is no store
