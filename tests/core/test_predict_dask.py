"""One prediction plan for numpy and dask: lazy chunks, block-wise in-memory runs, regions,
Zarr stores and a cluster all give the numpy prediction."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from napari_unet import InputError, Predictor, PredictProgress, drain, predict, predict_to_zarr
from napari_unet.core.models import UNet

da = pytest.importorskip("dask.array")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=["valid", "same"])
def net(request):
    torch.manual_seed(3)
    return UNet(1, 2, base_channels=4, depth=3, padding=request.param).eval()


def test_dask_input_equals_numpy_input(net):
    image = np.random.default_rng(0).random((2, 301, 500)).astype(np.float32)
    dimage = da.from_array(image, chunks=(1, 100, 70))
    assert isinstance(predict(net, dimage, tile=64), da.Array)  # predict() stays lazy
    lazy = Predictor(net, tile=64, chunk=96).lazy_probabilities(dimage)
    assert lazy.shape == (2, 2, 301, 500)
    assert len(lazy.chunks[-1]) > 1  # really chunked
    ref = predict(net, image, tile=64)
    np.testing.assert_allclose(lazy.compute(), ref, atol=1e-5)


def test_small_chunks_are_merged_so_the_border_mirror_has_pixels(net):
    image = np.random.default_rng(1).random((130, 97)).astype(np.float32)
    lazy = Predictor(net, tile=48, chunk=32).lazy_probabilities(da.from_array(image, chunks=7))
    np.testing.assert_allclose(lazy.compute(), predict(net, image, tile=48), atol=1e-5)


@pytest.mark.parametrize("region", [((70, 90), (0, 101)), ((0, 90), (100, 101))])
def test_a_region_near_the_end_of_the_image_equals_numpy(net, region):
    """Its part was one chunk shorter than the overlap: dask regridded it and blocks were
    predicted at the wrong place (0.26 off) or failed."""
    image = np.random.default_rng(2).random((90, 101)).astype(np.float32)
    lazy = predict(net, da.from_array(image, chunks=16), tile=60, chunk=16, region=region)
    ref = predict(net, image, tile=60, region=region)
    np.testing.assert_allclose(lazy.compute(), ref, atol=1e-5)


def test_a_lazy_prediction_leaves_the_model_as_it_was(net):
    """Each block called model.eval() (and .to(device)) on the caller's model."""
    net.train()
    try:
        predict(net, da.from_array(np.zeros((64, 64), np.float32), chunks=32), tile=48).compute()
        assert net.training
    finally:
        net.eval()


def test_a_whole_dask_image_is_segmented_with_progress_per_tile(net, monkeypatch):
    """The docks and the command line segmented a dask image chunk by chunk with one
    progress event per chunk: Cancel waited for a whole chunk (18 s or more)."""
    from types import SimpleNamespace

    from napari_unet.core.inference import plan
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.segment import iter_labels

    ticks = iter(range(0, 10**9, 10))  # each tile seconds apart: no event is held back
    monkeypatch.setattr(plan, "time", SimpleNamespace(monotonic=lambda: next(ticks)))

    image = np.random.default_rng(3).random((2, 200, 230)).astype(np.float32)
    predictor = Predictor(net, tile=48, chunk=96)
    events, gen = [], iter_labels(predictor, Postprocess(), da.from_array(image, chunks=70))
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            labels, foreground, probs = stop.value
            break
    n_chunks = int(np.prod(probs.numblocks))  # planes x rows x columns
    assert len(events) > n_chunks  # several per chunk
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert {e.total for e in events} == {events[-1].done}
    ref_labels, ref_foreground, _ = drain(iter_labels(predictor, Postprocess(), image))
    np.testing.assert_allclose(foreground, ref_foreground, atol=1e-6)
    np.testing.assert_array_equal(labels, ref_labels)
    stopped = iter_labels(predictor, Postprocess(), da.from_array(image, chunks=70))
    next(stopped)
    stopped.close()  # what Cancel does: no error, nothing left running


def test_zarr_to_zarr_with_progress(net, tmp_path):
    zarr = pytest.importorskip("zarr")
    image = (np.random.default_rng(2).random((200, 480)) * 4000).astype(np.uint16)
    src = tmp_path / "in.zarr"
    da.from_array(image, chunks=64).to_zarr(str(src))
    out = tmp_path / "out.zarr"
    events = []
    gen = Predictor(net, tile=48, chunk=64).iter_to_zarr(da.from_zarr(str(src)), out)
    stored = drain(gen, events.append)
    assert events and isinstance(events[-1], PredictProgress)
    assert events[-1].done == events[-1].total > 1
    assert zarr.open_array(str(tmp_path / "out.zarr"), mode="r").shape == (2, 200, 480)
    np.testing.assert_allclose(stored.compute(), predict(net, image, tile=48), atol=1e-5)


def test_nan_in_a_chunk_is_a_clear_error(net):
    image = np.ones((120, 120), np.float32)
    image[100, 100] = np.nan
    predictor = Predictor(net, tile=48, chunk=48)
    with pytest.raises(InputError, match="NaN"):
        predictor.lazy_probabilities(da.from_array(image, chunks=60)).compute()
    with pytest.raises(InputError, match="NaN"):  # the same check in memory
        predict(net, image, tile=48)


def test_dask_input_in_memory_runs_only_the_tiles_of_the_region(net):
    # The Predict dock's "current view" on a dask image: the same numbers as numpy, and
    # the network runs only on the tiles of the view.
    image = np.random.default_rng(5).random((2, 400, 380)).astype(np.float32)
    dimage = da.from_array(image, chunks=(1, 50, 50))
    predictor = Predictor(net, tile=48)
    region = ((100, 150), (120, 190))
    events = []
    got = drain(predictor.iter_probabilities(dimage, region), events.append)
    assert isinstance(got, np.ndarray) and got.shape == (2, 2, 50, 70)
    assert events and all(isinstance(e, PredictProgress) for e in events)
    whole = []
    full = drain(predictor.iter_probabilities(image), whole.append)
    assert 0 < events[-1].total < whole[-1].total / 2  # the view's tiles, not the image's
    np.testing.assert_allclose(got, full[..., 100:150, 120:190], atol=1e-5)
    # numpy gives the same region, and so does the lazy path sliced to it.
    np.testing.assert_allclose(predict(net, image, tile=48, region=region), got, atol=1e-6)
    lazy = predictor.lazy_probabilities(dimage, region)
    np.testing.assert_allclose(lazy.compute(), got, atol=1e-5)


def test_settings_are_checked_once_for_both_inputs(net):
    for bad in ({"tile": -1}, {"batch": -1}, {"precision": "fp8"}, {"foreground_class": 2}):
        with pytest.raises(InputError):
            Predictor(net, **bad)
    assert Predictor(net, tile=0).tile == Predictor(net).tile  # 0 = automatic, as in the dock
    assert Predictor(net, batch=0).batch == 1
    image = np.zeros((64, 64), np.float32)
    for arr in (image, da.from_array(image)):
        with pytest.raises(InputError, match="region"):
            drain(Predictor(net, tile=48).iter_probabilities(arr, ((0, 100), (0, 10))))


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


def _grid_is_regular(chunks) -> bool:
    """Every block border but the end falls on a multiple of the first block's size."""
    return all(a % chunks[0] == 0 for a in np.cumsum(chunks)[:-1])


def test_a_region_to_zarr_is_written_block_by_block_into_its_own_store_chunks(net, tmp_path):
    """Blocks written in parallel must never share a store chunk (they would overwrite)."""
    pytest.importorskip("zarr")
    image = np.random.default_rng(6).random((150, 700)).astype(np.float32)
    predictor = Predictor(net, tile=48, chunk=64)
    for region in (((0, 150), (10, 700)), ((7, 140), (130, 650)), ((100, 150), (3, 40))):
        lazy = predictor.lazy_probabilities(da.from_array(image, chunks=64), region)
        assert all(_grid_is_regular(c) for c in lazy.chunks[-2:]), (region, lazy.chunks)
        np.testing.assert_allclose(
            lazy.compute(), predict(net, image, tile=48, region=region), atol=1e-5
        )
    # Eight threads writing at once, as on a cluster: the store holds every block.
    distributed = pytest.importorskip("distributed")
    region = ((0, 150), (10, 700))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=8, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        stored = predict_to_zarr(
            net, image, tmp_path / "region.zarr", client, region=region, tile=48, chunk=64
        )
        got = stored.compute()
    np.testing.assert_allclose(got, predict(net, image, tile=48, region=region), atol=1e-5)


def test_a_store_of_blocks_off_its_chunk_grid_is_regridded_first(tmp_path, monkeypatch):
    from napari_unet.core.inference import chunked

    zarr = pytest.importorskip("zarr")
    written = []
    region_of = chunked._block_region
    monkeypatch.setattr(
        chunked, "_block_region", lambda *a: written.append(region_of(*a)) or written[-1]
    )
    values = np.arange(2 * 40 * 300, dtype=np.float32).reshape(2, 40, 300)
    probs = da.from_array(values, chunks=(2, 40, (50, 60, 60, 60, 70)))
    got = drain(chunked.iter_store(probs, tmp_path / "off.zarr")).compute()
    np.testing.assert_array_equal(got, values)
    size = zarr.open_array(str(tmp_path / "off.zarr"), mode="r").chunks[-1]
    starts = sorted(region[-1].start for region in written)
    assert all(start % size == 0 for start in starts), (size, starts)  # one writer a chunk


def test_a_store_stopped_part_way_leaves_the_earlier_result(net, tmp_path):
    zarr = pytest.importorskip("zarr")
    image = np.random.default_rng(7).random((400, 400)).astype(np.float32)
    out = tmp_path / "p.zarr"
    predictor = Predictor(net, tile=48, chunk=64)
    earlier = drain(predictor.iter_to_zarr(image, out)).compute()
    gen = predictor.iter_to_zarr(image[::-1].copy(), out)
    first = next(gen)
    assert first.done == 1 < first.total
    gen.close()  # Cancel in the dock, Ctrl-C on the command line
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[:], earlier)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zarr"]  # no partial store left


def test_stores_are_named_absolutely_for_workers_in_another_folder(tmp_path, monkeypatch):
    # A dask worker started in another folder resolved relative store paths against its
    # own: it read an empty input and wrote the probabilities there (labels all 0, "success")
    from napari_unet.core.images.io import read_image
    from napari_unet.core.inference.chunked import iter_store

    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    data = np.arange(64 * 48, dtype=np.float32).reshape(64, 48)
    da.from_array(data, chunks=16).to_zarr("in.zarr")
    image = read_image("in.zarr")

    def elsewhere(block):  # as a worker in another folder runs a task
        os.chdir(there)
        return block

    meta = np.empty((0, 0), np.float32)  # (else dask calls it once to learn the output type)
    drain(iter_store(image.map_blocks(elsewhere, meta=meta), "out.zarr"))
    monkeypatch.chdir(there)
    np.testing.assert_array_equal(read_image(here / "out.zarr").compute(), data)
    np.testing.assert_array_equal(image.compute(), data)  # the input read from here
    assert not list(there.iterdir())


def test_a_run_on_a_scheduler_address_never_becomes_the_default_scheduler():
    """A run stopped midway left its Client as the process's default: every later dask
    computation (a Zarr write, say) went to that cluster, and waited forever once it was
    gone (a hang seen in CI)."""
    distributed = pytest.importorskip("distributed")
    import dask

    from napari_unet.core.inference.chunked import iter_tasks

    tasks = [dask.delayed(lambda k=k: k * 2)() for k in range(3)]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        run = iter_tasks(tasks, cluster.scheduler_address)
        assert next(run)[1] in (0, 2, 4)  # the run is under way, then left open
        with pytest.raises(ValueError, match="No clients found"):
            distributed.default_client()
        assert da.ones(4, chunks=2).sum().compute() == 4  # computed here, not there
        run.close()
