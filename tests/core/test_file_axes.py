"""The channel axis a file records (ImageJ, OME-TIFF, planar RGB TIFF, OME-Zarr) is obeyed.

Before, the layout guessed from the shape alone: an ImageJ ``CYX`` file of two channels was
segmented as a stack of two planes, and OME's ``CZYX`` averaged z-planes as if they were
channels.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet import Predictor, drain, touching_cells
from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image
from napari_unet.core.images.layout import layout
from napari_unet.core.images.omezarr import open_image
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.inference.slide import iter_segment_slide

zarr = pytest.importorskip("zarr")


def _planes(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("lazy", [False, True])
def test_an_imagej_channel_file_is_read_channels_last(tmp_path, lazy):
    data = _planes((2, 48, 64))
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, metadata={"axes": "CYX"})
    got = read_image(tmp_path / "ij.tif", lazy=lazy)
    np.testing.assert_array_equal(np.asarray(got), np.moveaxis(data, 0, -1))
    lay = layout(got, 1, channel=1)  # a grey model reads the second channel of one plane
    assert lay.stack_shape == () and lay.planes.shape == (1, 1, 48, 64)
    np.testing.assert_array_equal(np.asarray(lay.planes)[0, 0], data[1])


@pytest.mark.parametrize(("axes", "kwargs"), [("ZCYX", {"imagej": True}), ("CZYX", {"ome": True})])
def test_stacks_of_channels_keep_their_planes_apart(tmp_path, axes, kwargs):
    data = _planes((3, 2, 40, 56)) if axes == "ZCYX" else _planes((2, 3, 40, 56))
    tifffile.imwrite(tmp_path / "s.tif", data, metadata={"axes": axes}, **kwargs)
    got = read_image(tmp_path / "s.tif")
    assert got.shape == (3, 40, 56, 2)  # z-planes first, channels last, whatever the order
    lay = layout(got, 1, channel=0)
    assert lay.stack_shape == (3,)
    zc = data if axes == "ZCYX" else np.moveaxis(data, 0, 1)
    np.testing.assert_array_equal(np.asarray(lay.planes)[:, 0], zc[:, 0])


def test_a_recorded_stack_stays_a_stack_and_planar_samples_are_left_alone(tmp_path):
    data = _planes((3, 40, 56))
    tifffile.imwrite(tmp_path / "z.tif", data, imagej=True, metadata={"axes": "ZYX"})
    assert read_image(tmp_path / "z.tif").shape == (3, 40, 56)
    # tifffile records any 3-plane array as planar RGB unless told otherwise (axes SYX): a
    # z-stack saved that way stays a stack, as before
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(tmp_path / "s.tif"), data)
    tifffile.imwrite(tmp_path / "plain.tif", data, photometric="minisblack")  # no axes
    assert read_image(tmp_path / "plain.tif").shape == (3, 40, 56)


def test_a_time_lapse_of_z_stacks_is_refused_not_averaged(tmp_path):
    # (T, Z, Y, X) with 3 z-planes was read as 3 channels, averaged into one plane.
    tifffile.imwrite(tmp_path / "tz.tif", _planes((2, 3, 32, 40)), imagej=True,
                     metadata={"axes": "TZYX"})  # fmt: skip
    with pytest.raises(InputError, match="TZYX.*each time point"):
        read_image(tmp_path / "tz.tif")


def test_many_channels_last_are_channels_not_a_thin_stack():
    lay = layout(np.zeros((128, 96, 6), np.uint8), 1)
    assert lay.stack_shape == () and lay.planes.shape == (1, 1, 128, 96)
    assert layout(np.zeros((6, 128, 96), np.uint8), 1).stack_shape == (6,)
    assert layout(np.zeros((400, 320, 40), np.uint8), 1, channel=3).planes.shape == (1, 1, 400, 320)
    assert layout(np.zeros((20, 96, 64), np.uint8), 1).stack_shape == (20,)  # 8*64 > 96


def _ome_channels(path, data, axes):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=(1, 64, 64))
    scale = [{"type": "scale", "scale": [1.0, 0.5, 0.5]}]
    dataset = {"path": "0", "coordinateTransformations": scale}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [dataset]}]


C_Y_X = [
    {"name": "c", "type": "channel"},
    {"name": "y", "type": "space"},
    {"name": "x", "type": "space"},
]


def test_an_ome_zarr_channel_axis_is_read_last(tmp_path):
    data = _planes((2, 70, 90))
    _ome_channels(tmp_path / "a.zarr", data, C_Y_X)
    image = open_image(tmp_path / "a.zarr")
    np.testing.assert_array_equal(image.data.compute(), np.moveaxis(data, 0, -1))
    assert image.scale == (0.5, 0.5)
    _ome_channels(tmp_path / "b.zarr", data, ["c", "y", "x"])  # NGFF 0.3 names
    assert open_image(tmp_path / "b.zarr").data.shape == (70, 90, 2)


@pytest.mark.usefixtures("one_thread")
def test_a_two_channel_ome_zarr_slide_is_labelled_as_one_plane(trained_same, tmp_path):
    model, meta = trained_same
    cells, _ = touching_cells((128, 128), n_cells=20, seed=4)
    data = np.stack([(cells * 255).astype(np.uint8), _planes((128, 128), 1)])
    _ome_channels(tmp_path / "two.zarr", data, C_Y_X)
    one = Predictor(model, tile=64, chunk=64, metadata=meta, channel=0)
    result = drain(iter_segment_slide(one, Postprocess(), tmp_path / "two.zarr", block=64))
    got = zarr.open_group(str(result.path), mode="r")["0"][:]
    _ome_channels(tmp_path / "grey.zarr", data[:1], C_Y_X)  # the first channel alone
    ref = drain(iter_segment_slide(one, Postprocess(), tmp_path / "grey.zarr", block=64))
    assert got.shape == (128, 128) and result.n_objects == ref.n_objects >= 5
    np.testing.assert_array_equal(got, zarr.open_group(str(ref.path), mode="r")["0"][:])


def test_the_napari_reader_opens_one_layer_per_channel(tmp_path):
    from napari_unet.reader import read_ome_zarr

    _ome_channels(tmp_path / "a.zarr", _planes((2, 70, 90)), C_Y_X)
    [(data, meta, kind)] = read_ome_zarr(str(tmp_path / "a.zarr"))
    assert kind == "image" and meta["channel_axis"] == 0 and meta["scale"] == [0.5, 0.5]
    assert data.shape == (2, 70, 90)


def test_an_ome_zarr_image_is_read_by_read_image_and_its_single_planes_dropped(tmp_path):
    # read_image refused every OME-Zarr image group; bioformats2raw's (t, c, z, y, x) with
    # t = z = 1 was refused by slide as 5-D
    data = _planes((1, 2, 1, 70, 90))
    kinds = ["time", "channel", "space", "space", "space"]
    tczyx = [{"name": n, "type": t} for n, t in zip("tczyx", kinds, strict=True)]
    group = zarr.open_group(str(tmp_path / "bf.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=(1, 1, 1, 64, 64))
    dataset = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * 5}]}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": tczyx, "datasets": [dataset]}]
    expected = np.moveaxis(data[0, :, 0], 0, -1)
    np.testing.assert_array_equal(read_image(tmp_path / "bf.zarr").compute(), expected)
    np.testing.assert_array_equal(open_image(tmp_path / "bf.zarr").data.compute(), expected)
    _ome_channels(tmp_path / "cyx.zarr", data[0, :, 0], C_Y_X)
    np.testing.assert_array_equal(read_image(tmp_path / "cyx.zarr").compute(), expected)
