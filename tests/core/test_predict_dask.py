"""Lazy chunked prediction: equals the numpy prediction, stores to Zarr, runs on a cluster."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet.core.errors import InputError
from napari_unet.core.models import UNet
from napari_unet.core.predict import PredictProgress, predict
from napari_unet.core.predict_dask import iter_predict_to_zarr, predict_dask, predict_to_zarr

da = pytest.importorskip("dask.array")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=["valid", "same"])
def net(request):
    torch.manual_seed(3)
    return UNet(1, 2, base_channels=4, depth=3, padding=request.param).eval()


def test_dask_input_equals_numpy_input(net):
    image = np.random.default_rng(0).random((2, 301, 257)).astype(np.float32)
    dimage = da.from_array(image, chunks=(1, 100, 70))
    assert isinstance(predict(net, dimage, tile=64), da.Array)  # predict() stays lazy
    lazy = predict_dask(net, dimage, tile=64, chunk=96)
    assert lazy.shape == (2, 2, 301, 257)
    assert len(lazy.chunks[-1]) > 1  # really chunked
    ref = predict(net, image, tile=64)
    np.testing.assert_allclose(lazy.compute(), ref, atol=1e-5)


def test_small_chunks_are_merged_so_the_border_mirror_has_pixels(net):
    image = np.random.default_rng(1).random((130, 97)).astype(np.float32)
    lazy = predict_dask(net, da.from_array(image, chunks=7), tile=48, chunk=32)
    np.testing.assert_allclose(lazy.compute(), predict(net, image, tile=48), atol=1e-5)


def test_zarr_to_zarr_with_progress(net, tmp_path):
    zarr = pytest.importorskip("zarr")
    image = (np.random.default_rng(2).random((200, 180)) * 4000).astype(np.uint16)
    src = tmp_path / "in.zarr"
    da.from_array(image, chunks=64).to_zarr(str(src))
    out = tmp_path / "out.zarr"
    gen = iter_predict_to_zarr(net, da.from_zarr(str(src)), out, tile=48, chunk=64)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            stored = stop.value
            break
    assert events and isinstance(events[-1], PredictProgress)
    assert events[-1].done == events[-1].total > 1
    assert zarr.open_array(str(tmp_path / "out.zarr"), mode="r").shape == (2, 200, 180)
    np.testing.assert_allclose(stored.compute(), predict(net, image, tile=48), atol=1e-5)


def test_nan_in_a_chunk_is_a_clear_error(net):
    image = np.ones((120, 120), np.float32)
    image[100, 100] = np.nan
    with pytest.raises(InputError, match="NaN"):
        predict_dask(net, da.from_array(image, chunks=60), tile=48, chunk=48).compute()


@pytest.mark.slow
def test_local_cluster_gives_the_same_result(net, tmp_path):
    distributed = pytest.importorskip("distributed")
    image = np.random.default_rng(4).random((160, 150)).astype(np.float32)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        stored = predict_to_zarr(
            net,
            da.from_array(image, chunks=64),
            tmp_path / "c.zarr",
            scheduler=cluster.scheduler_address,
            tile=48,
            chunk=64,
        )
        np.testing.assert_allclose(stored.compute(), predict(net, image, tile=48), atol=1e-5)
