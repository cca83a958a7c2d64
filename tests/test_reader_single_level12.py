"""A big OME-Zarr image stored without a pyramid opens lazily, as a multiscale layer.

Before: a single-level store was handed to napari as a plain (not multiscale) array, which
napari reads whole, its contrast limits computed over all of it: a 60000 x 60000 uint16
store took 103 s and 21 GB to open. Now its overview levels are strided views of the
stored level, down to a small top level; level 0 is the store's, at full resolution.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_unet.core.images import lazy
from napari_unet.reader import read_ome_zarr

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
_KIND = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def _store(path, axes, shape=None, data=None, label=False, chunks=None, scale=None):
    """A single-level NGFF 0.4 image (or label image); ``shape`` alone: empty chunks."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    if data is None:
        group.create_array("0", shape=shape, dtype="uint16", chunks=chunks)
    else:
        group.create_array("0", data=data, chunks=chunks or data.shape)
    ndim = len(axes)
    scale = scale or [1.0] * ndim
    meta = {"multiscales": [{
        "version": "0.4",
        "axes": [{"name": a, "type": _KIND[a]} for a in axes],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": scale}]}],
    }]}  # fmt: skip
    if label:
        meta["image-label"] = {"version": "0.4"}
    group.attrs.update(meta)
    return path


@pytest.fixture
def small_threshold(monkeypatch):
    """Overview levels for planes over 64 pixels a side, down to 32 (small stores)."""
    monkeypatch.setattr("napari_unet._reader_levels.BIG_SIDE", 64)
    monkeypatch.setattr("napari_unet._reader_levels.TOP_SIDE", 32)


def test_a_big_single_level_image_opens_as_a_lazy_pyramid(tmp_path):
    store = _store(tmp_path / "big.zarr", "yx", shape=(9000, 300), chunks=(512, 300),
                   scale=[0.5, 0.5])  # fmt: skip
    [(data, meta, kind)] = read_ome_zarr(str(store))
    assert kind == "image" and meta["multiscale"] is True
    shapes = [tuple(level.shape) for level in data]
    assert shapes[0] == (9000, 300)  # level 0: the stored one, at full resolution
    assert shapes[1:] == [(4500, 150), (2250, 75), (1125, 38), (563, 19)]
    assert max(shapes[-1]) <= 1024  # a small top level: napari's view when zoomed out
    assert all(isinstance(level, da.Array) for level in data)  # nothing read
    assert meta["scale"] == [0.5, 0.5]  # level 0's: napari scales the others by their shapes


def test_an_image_up_to_the_threshold_stays_one_level(tmp_path):
    store = _store(tmp_path / "plain.zarr", "yx", shape=(4096, 300), chunks=(512, 300))
    [(data, meta, _)] = read_ome_zarr(str(store))
    assert meta["multiscale"] is False and tuple(data.shape) == (4096, 300)


def test_overview_levels_take_every_other_pixel_of_y_and_x(tmp_path, small_threshold):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 60000, (2, 3, 150, 130), dtype=np.uint16)  # c, z, y, x
    store = _store(tmp_path / "stack.zarr", "czyx", data=image, chunks=(1, 1, 64, 64))
    [(data, meta, _)] = read_ome_zarr(str(store))
    assert meta["multiscale"] is True and meta["channel_axis"] == 0
    assert len(data) == 4  # 150, 75, 38, 19 rows: at most 32 a side on top
    for k, level in enumerate(data):  # channels and planes kept, y and x strided
        np.testing.assert_array_equal(np.asarray(level), image[..., :: 2**k, :: 2**k])


def test_a_big_single_level_label_image_stays_one_paintable_level(tmp_path, small_threshold):
    """napari paints only a Labels layer of one level, and Live trains only on one: a label
    image of one level opened as a pyramid was read-only, and Live refused it."""
    labels = np.zeros((1, 1, 1, 100, 90), np.uint32)  # t, c, z, y, x as ome-zarr-py writes
    labels[..., 10:50, 20:60] = 7
    store = _store(tmp_path / "cells.zarr", "tczyx", data=labels, label=True)
    [(data, meta, kind)] = read_ome_zarr(str(store))
    assert kind == "labels" and meta["multiscale"] is False
    np.testing.assert_array_equal(np.asarray(data), labels[0, 0, 0])


def test_napari_opens_a_big_single_level_store_without_reading_it_whole(
    tmp_path, monkeypatch, napari_unet_plugin
):
    """The bytes napari reads to open (contrast, thumbnail): the top level's, not the image's."""
    pytest.importorskip("napari")
    from napari.components import ViewerModel

    read = []
    original = lazy._Checked.__getitem__

    def counted(self, index):
        out = original(self, index)
        read.append(out.nbytes)
        return out

    monkeypatch.setattr(lazy._Checked, "__getitem__", counted)
    store = _store(tmp_path / "big.zarr", "yx", shape=(8192, 4200), chunks=(1024, 1024))
    [layer] = ViewerModel().open(str(store), plugin="napari-unet")
    assert sum(read) < 8192 * 4200 * 2 / 16  # before: the whole image, 69 MB
    assert layer.multiscale and tuple(layer.data[0].shape) == (8192, 4200)
