"""The fast prediction paths equal the plain ones: the inference copy and the on-device pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet import Predictor, drain, pretrained, touching_cells
from napari_unet.core.inference import ondevice
from napari_unet.core.inference.runner import TileRunner, inference_network
from napari_unet.core.models import UNet
from napari_unet.core.models.fused import fold_batch_norm, inference_copy
from napari_unet.sample_data import nuclei_data

pytestmark = pytest.mark.usefixtures("one_thread")


def probabilities(model, image, fast=True, on_device=None, region=None, **settings):
    predictor = Predictor(model, device="cpu", **settings)
    predictor.fast, predictor.on_device = fast, on_device
    return drain(predictor.iter_probabilities(image, region))


@pytest.fixture(scope="module")
def nuclei():
    model, meta = pretrained("nuclei")
    image, _ = nuclei_data()
    return model, meta, image[:300, :260]


def test_fast_path_equals_the_plain_model_on_the_built_in_model(nuclei):
    model, meta, image = nuclei
    plain = probabilities(model, image, fast=False, metadata=meta, tile=128)
    fast = probabilities(model, image, metadata=meta, tile=128)
    assert np.abs(fast - plain).max() <= 1e-4
    # The built-in model has batch norm: the copy folds it, the model keeps it.
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    net = inference_network(model, torch.device("cpu"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_fast_valid_tiles_equal_the_untiled_forward(random_valid):
    image = np.random.default_rng(3).random((150, 170)).astype(np.float32)
    tiled = probabilities(random_valid, image, tile=100)
    whole = probabilities(random_valid, image, fast=False, tile=1 << 12)
    assert np.abs(tiled - whole).max() <= 1e-4


def test_fold_batch_norm_is_exact_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = UNet(1, 3, base_channels=4, depth=3, padding="same", batch_norm=True)
    model.train()
    for _ in range(3):  # running statistics away from their start
        model(torch.rand(2, 1, 64, 64) * 5 + 2)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1, 1, 64, 64) * 5 + 2
    copy = inference_copy(model, "cpu")
    with torch.no_grad():
        np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), atol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert copy.geometry == model.geometry and copy.n_classes == 3
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert n_bn > 0 and fold_batch_norm(inference_copy(model, "cpu")) == 0
    with pytest.raises(ValueError, match="evaluation mode"):
        fold_batch_norm(model.train())


def test_inference_copy_is_cached_until_the_weights_change():
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=3, padding="same", batch_norm=True).eval()
    cpu = torch.device("cpu")
    first = inference_network(model, cpu)
    assert inference_network(model, cpu) is first
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    before = probabilities(model, image)
    with torch.no_grad():  # an in-place update, as an optimiser step makes
        next(model.parameters()).mul_(1.5)
    assert inference_network(model, cpu) is not first
    after = probabilities(model, image)
    plain = probabilities(model, image, fast=False)
    assert np.abs(after - before).max() > 1e-3  # the new weights are used...
    assert np.abs(after - plain).max() <= 1e-4  # ...exactly as the plain model uses them


@pytest.mark.parametrize(
    ("kind", "dtype", "batch", "region"),
    [
        ("same", "uint16", 1, None),
        ("same", "float64", 3, ((17, 190), (5, 201))),
        ("valid", "uint8", 2, None),
        ("valid", "float32", 1, ((40, 121), (0, 77))),
    ],
)
def test_on_device_pipeline_on_cpu_tensors_equals_the_numpy_path(
    trained_same, random_valid, monkeypatch, kind, dtype, batch, region
):
    model, meta = trained_same if kind == "same" else (random_valid, None)
    image, _ = touching_cells((211, 230), n_cells=60, seed=4)
    if dtype.startswith("uint"):
        image = (image / image.max() * np.iinfo(dtype).max * 0.9).astype(dtype)
    image = image.astype(dtype)
    monkeypatch.setattr(ondevice, "STRIP_BYTES", 4096)  # many strips, uploaded on demand
    settings = {"metadata": meta, "tile": 128, "batch": batch, "region": region}
    numpy_path = probabilities(model, image, on_device=False, **settings)
    device_path = probabilities(model, image, on_device=True, **settings)
    reference = probabilities(model, image, fast=False, on_device=False, **settings)
    assert device_path.shape == numpy_path.shape
    assert np.abs(device_path - numpy_path).max() <= 1e-6
    assert np.abs(device_path - reference).max() <= 1e-4


@pytest.mark.parametrize("dtype", [">u2", ">i2", ">f4", ">u4"])
def test_big_endian_pixels_give_the_same_probabilities_on_both_paths(random_valid, dtype):
    """Big-endian pixels (Zarr stores of Java tools) were byte-swapped on the device path
    (max difference 0.99999) or refused with a raw ValueError."""
    image = np.random.default_rng(5).integers(0, 3000, (70, 83)).astype(dtype)
    numpy_path = probabilities(random_valid, image, on_device=False, tile=92)
    device_path = probabilities(random_valid, image, on_device=True, tile=92)
    native = probabilities(random_valid, image.astype(image.dtype.newbyteorder("=")), tile=92)
    assert np.abs(device_path - numpy_path).max() <= 1e-6
    np.testing.assert_array_equal(numpy_path, native)


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize(
    ("dtype", "offset"), [("uint32", 3_000_000_000), ("int64", 2**40), ("float64", 1e4)]
)
def test_pixels_on_a_large_offset_predict_as_without_it(nuclei, on_device, dtype, offset):
    """Cast to float32 before the offset was subtracted, 3e9 + 100 and 3e9 + 200 were one
    number: a uint32 image on a camera offset of 3e9 lost its cells (262 of 13,466
    foreground pixels left)."""
    model, meta, image = nuclei
    base = image.astype(dtype) / (255.0 if dtype == "float64" else 1)
    shifted = base + np.asarray(offset, dtype)
    ref = probabilities(model, base, metadata=meta, tile=128)
    got = probabilities(model, shifted, on_device=on_device, metadata=meta, tile=128)
    assert np.abs(got - ref).max() <= 1e-4


def test_on_device_pipeline_reads_several_channels_and_mirrors(random_valid):
    torch.manual_seed(2)
    model = UNet(3, 2, base_channels=4, depth=3, padding="valid").eval()
    image = np.random.default_rng(1).random((3, 37, 61)).astype(np.float32)  # mirrored edges
    numpy_path = probabilities(model, image, on_device=False, tile=92, channel_axis=0)
    device_path = probabilities(model, image, on_device=True, tile=92, channel_axis=0)
    assert numpy_path.shape == (2, 37, 61)
    assert np.abs(device_path - numpy_path).max() <= 1e-6


def test_device_block_normalises_strip_by_strip_on_demand(monkeypatch):
    from napari_unet.core.images.normalize import Stats

    monkeypatch.setattr(ondevice, "STRIP_BYTES", 2 * 50 * 2 * 10)  # 10 rows a strip
    source = np.random.default_rng(0).integers(0, 65535, (2, 95, 50)).astype(np.uint16)
    stats = Stats((100.0, 3.0), (2.5, 1000.0))
    block = ondevice.DeviceBlock(source, torch.device("cpu"), stats)
    assert len(block.strips) == 10
    block.rows(15)
    assert block.sent == 3  # the strips of rows 0-19 and the next one
    data = block.rows(95)
    assert block.sent == 10
    np.testing.assert_array_equal(data.numpy(), stats.apply(source))


def test_timings_split_the_work_by_stage(random_valid):
    runner = TileRunner(random_valid, "cpu", "fp32", 1, on_device=True)
    runner.timings = {}
    predictor = Predictor(random_valid, device="cpu", tile=100)
    image = np.random.default_rng(0).random((90, 120)).astype(np.float32)
    from napari_unet.core.images.normalize import compute_stats
    from napari_unet.core.inference.runner import predict_region

    plans = predictor.plans(image.shape)
    full = ((0, 90), (0, 120))
    out = drain(predict_region(image[None], (0, 0), (90, 120), full, plans,
                               compute_stats(image[None]), runner, 2))  # fmt: skip
    assert out.shape == (2, 90, 120)
    assert {"upload", "tiles", "network", "stitch", "download"} <= set(runner.timings)
    assert all(v >= 0 for v in runner.timings.values())


def test_keep_freed_memory_sets_glibc_once_and_restores_it(monkeypatch):
    from napari_unet.core import device

    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(device, "_libc", FakeLibc)
    with device.keep_freed_memory(1 << 20), device.keep_freed_memory(1 << 20):
        assert calls == [(-3, 1 << 20), (-1, 1 << 20)]  # nested: set once
    assert calls[2:] == [(-3, 32 << 20), (-1, 64 << 20), ("trim", 0)]  # glibc's dynamic max
    with pytest.raises(RuntimeError), device.keep_freed_memory():
        raise RuntimeError("restored on errors too")
    assert calls[-1] == ("trim", 0) and device._HOLD["depth"] == 0
    monkeypatch.setattr(device, "_libc", lambda: None)  # no glibc: nothing to do
    with device.keep_freed_memory():
        pass


def test_auto_batch_fills_the_budget_the_tile_leaves(monkeypatch, random_valid):
    from napari_unet.core.inference import runner

    monkeypatch.setattr(runner, "_memory_budget", lambda device, exact=False: 100e6)
    cpu = torch.device("cpu")
    bpp = runner.BYTES_PER_PIXEL_PER_CHANNEL * 4  # random_valid has 4 base channels
    assert runner.auto_batch(random_valid, cpu, 256) == min(int(100e6 // (bpp * 256**2)), 64)
    assert runner.auto_batch(random_valid, cpu, 4096) == 1  # never below one tile
    assert runner.auto_batch(random_valid, cpu, 16, largest=8) == 8
    # The CPU keeps one tile a pass unless asked: the batch does not change there.
    assert Predictor(random_valid, device="cpu", tile=128).batch == 1


def test_device_block_reads_views_where_they_lie():
    from napari_unet.core.images.normalize import Stats

    plane = np.random.default_rng(0).random((2, 60, 80)).astype(np.float32)
    stats = Stats((0.5, 0.1), (2.0, 3.0))
    for view in (plane[:, 5:50, 7:70], plane[:, ::-1, ::2]):  # a crop and a flipped view
        block = ondevice.DeviceBlock(view, torch.device("cpu"), stats)
        np.testing.assert_array_equal(block.rows(view.shape[1]).numpy(), stats.apply(view))


def test_valid_networks_get_the_larger_exact_budget(monkeypatch):
    from napari_unet.core.inference import runner

    monkeypatch.setattr(runner, "_memory_budget", lambda device, exact=False: 4e8 if exact else 1e8)
    torch.manual_seed(0)
    valid = UNet(1, 2, base_channels=4, depth=3, padding="valid")
    same = UNet(1, 2, base_channels=4, depth=3, padding="same")
    # The same estimate per pixel, twice the side for the valid network (4x the budget).
    assert runner.auto_tile(valid) > 1.8 * runner.auto_tile(same)
