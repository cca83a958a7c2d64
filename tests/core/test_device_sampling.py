"""Crops made on the training device: napari_unet.core.training.device_sampling (run on CPU)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import InputError, TrainConfig, make_pairs, touching_cells  # noqa: E402
from napari_unet.core.training import augment as aug  # noqa: E402
from napari_unet.core.training.device_sampling import DeviceCropSampler  # noqa: E402
from napari_unet.core.training.sampling import BatchPrefetcher, CropSampler  # noqa: E402
from napari_unet.core.training.setup import make_sampler  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

#: Geometric augmentation only (no intensity changes), with or without the elastic warp.
GEOMETRY = aug.AugmentConfig(gain=0.0, offset=0.0, gamma=0.0, noise=0.0)
TURNS = aug.AugmentConfig(elastic=False, gain=0.0, offset=0.0, gamma=0.0, noise=0.0)


@pytest.fixture(scope="module")
def pairs():
    data = [touching_cells((80, 104), n_cells=10, seed=s) for s in range(3)]
    return make_pairs([d[0] for d in data], [d[1] for d in data])


@pytest.fixture(scope="module")
def label_pair():
    """A 3-class pair whose image is its own target (0, 1, 2): warps must agree."""
    _, lab = touching_cells((96, 96), n_cells=12, seed=4)
    (p,) = make_pairs([lab.astype(np.float32)], [lab], head="3class")
    p.image = p.target[None].astype(np.float32)
    return p


def both(pairs, config, size=48, out=None, seed=1, n=8):
    host = CropSampler(pairs, size, out or size, config).batch(n, np.random.default_rng(seed))
    dev = DeviceCropSampler(pairs, size, out or size, config)
    return host, {k: v.numpy() for k, v in dev.batch(n, np.random.default_rng(seed)).items()}


@pytest.mark.parametrize("config", [aug.NO_AUGMENT, TURNS], ids=["none", "flips-rot90"])
@pytest.mark.parametrize("out", [48, 32], ids=["same", "valid"])
def test_without_warp_the_device_crops_are_the_cpu_crops(pairs, config, out):
    # Same draws, whole-pixel positions: the same pixels, flipped and turned the same way.
    host, dev = both(pairs, config, out=out)
    assert set(dev) == set(host)
    for k in host:
        assert dev[k].shape == host[k].shape and dev[k].dtype == host[k].dtype, k
    np.testing.assert_array_equal(dev["target"], host["target"])
    np.testing.assert_allclose(dev["image"], host["image"], atol=1e-4)
    np.testing.assert_allclose(dev["weights"], host["weights"], rtol=1e-4, atol=1e-4)


def test_elastic_grid_is_the_cpu_grid(pairs):
    # The same lattice, upsampled by the same spline matrix, turned the same way.
    config = aug.AugmentConfig(scale=0.3)
    dev = DeviceCropSampler(pairs, 64, 64, config)
    crops = dev.draw(6, np.random.default_rng(3))
    got = dev.grids(crops).numpy()
    rng = np.random.default_rng(3)
    for i in range(6):
        k, cy, cx = dev.host.draw_center(rng)
        want = aug.sampling_grid(dev.host.top_left(cy, cx, rng), 64, config, rng)
        aug.draw_intensity(config, rng)
        assert k == crops[i][0]
        np.testing.assert_allclose(got[i], want, atol=2e-3)
    assert np.abs(got[0] - np.round(got[0])).max() > 0.1  # really warped


def mirror(i, n):
    """Whole-pixel positions folded into ``[0, n)`` as scipy's mirror mode folds them."""
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def test_elastic_warp_keeps_label_values_and_follows_the_image(label_pair):
    from scipy import ndimage

    dev = DeviceCropSampler([label_pair], 64, 64, GEOMETRY)
    rng = np.random.default_rng(0)
    b = dev.batch(16, rng)
    pos = dev.grids(dev.draw(16, np.random.default_rng(0))).numpy()  # the same draws
    target, image = b["target"].numpy(), b["image"][:, 0].numpy()
    assert set(np.unique(target)) <= {0, 1, 2} and len(np.unique(target)) == 3
    # Nearest: each target pixel is the source pixel nearest to its warped position.
    src = label_pair.target
    rows = mirror(np.round(pos[:, 0]).astype(int), src.shape[0])
    cols = mirror(np.round(pos[:, 1]).astype(int), src.shape[1])
    near = src[rows, cols]
    assert (target == near).mean() > 0.999  # ties at exact half pixels may round apart
    # Inside objects and background (5x5 of one class) the bicubic image reads that class.
    flat = (ndimage.minimum_filter(src, 5) == ndimage.maximum_filter(src, 5))[rows, cols]
    assert flat.mean() > 0.5
    np.testing.assert_allclose(image[flat], target[flat], atol=1e-4)


def test_warped_crops_match_the_cpu_path_within_interpolation(pairs):
    # Cubic convolution (device) vs cubic B-spline (CPU) at the same warped positions.
    host, dev = both(pairs, GEOMETRY, size=64, n=8)
    assert np.abs(dev["image"] - host["image"]).mean() < 0.01
    assert (dev["target"] != host["target"]).mean() < 0.01
    np.testing.assert_allclose(dev["weights"], host["weights"], atol=1e-3)


@pytest.mark.parametrize(
    ("setting", "low", "high"),
    [("gain", 0.8, 1.2), ("offset", -0.1, 0.1)],
)
def test_intensity_jitter_stays_in_its_range(setting, low, high):
    img = np.ones((64, 64), np.float32)
    lab = np.zeros((64, 64), np.int32)
    lab[20:40, 20:40] = 1
    (p,) = make_pairs([img], [lab])
    p.image = np.full_like(p.image, 1.0 if setting == "gain" else 0.0)
    neutral = dict(elastic=False, gain=0.0, offset=0.0, gamma=0.0, noise=0.0)
    config = aug.AugmentConfig(**(neutral | {setting: 0.2 if setting == "gain" else 0.1}))
    image = DeviceCropSampler([p], 16, 16, config).batch(200, np.random.default_rng(0))["image"]
    per_crop = image.numpy().reshape(200, -1)
    assert np.ptp(per_crop, axis=1).max() < 1e-5  # one value per crop
    v = per_crop[:, 0]
    assert low - 1e-6 <= v.min() and v.max() <= high + 1e-6
    assert v.max() - v.min() > 0.8 * (high - low)  # the whole range is used


def test_gamma_keeps_each_crops_range_and_noise_is_bounded(pairs):
    gamma = aug.AugmentConfig(elastic=False, gain=0.0, offset=0.0, gamma=0.3, noise=0.0)
    host, dev = both(pairs, gamma)
    np.testing.assert_allclose(dev["image"], host["image"], atol=1e-4)  # same draws
    sampler = DeviceCropSampler(pairs, 48, 48, aug.AugmentConfig())
    raw = sampler.batch(4, np.random.default_rng(1))["image"]
    lo, hi = raw.amin(dim=(1, 2, 3)), raw.amax(dim=(1, 2, 3))
    out = sampler._intensity(raw, [(g, *aug.NEUTRAL[1:]) for g in (0.75, 1.0, 1.3, 1.3)], 0)
    torch.testing.assert_close(out.amin(dim=(1, 2, 3)), lo, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.amax(dim=(1, 2, 3)), hi, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], raw[1], atol=1e-5, rtol=0)  # gamma 1: unchanged
    assert (out[0] - raw[0]).abs().max() > 0.01 and (out[2] - raw[2]).abs().max() > 0.01
    levels = [(1.0, 1.0, 0.0, s, *aug.NEUTRAL[4:]) for s in (0.0, 0.01, 0.03, 0.03)]
    noisy = sampler._intensity(raw, levels, 5)
    std = (noisy - raw).reshape(4, -1).std(dim=1)
    assert std[0] < 1e-6 and 0.008 < std[1] < 0.012 and 0.027 < std[2] < 0.033
    assert not torch.equal(noisy[2], noisy[3])  # independent noise per crop


def test_crops_come_from_the_annotated_region_only():
    img, lab = touching_cells((96, 96), n_cells=10, seed=2)
    cy, cx = np.argwhere(lab == lab.max()).mean(axis=0).astype(int)
    mask = np.zeros(lab.shape, bool)
    mask[max(cy - 10, 0) : cy + 10, max(cx - 10, 0) : cx + 10] = True  # one cell's window
    (p,) = make_pairs([img], [lab], [mask])
    for bias in (0.0, 1.0):
        dev = DeviceCropSampler([p], 24, 24, TURNS, fg_bias=bias)
        w = dev.batch(64, np.random.default_rng(0))["weights"].numpy()
        # the drawn pixel (weight > 0) lies within the 2 px jitter of each crop's centre
        # (a turn about the centre moves it by one pixel at most)
        assert (w[:, 9:16, 9:16] > 0).reshape(64, -1).any(axis=1).all()
        assert (w[:, [0, -1]] == 0).any()  # the crops reach beyond the region


def test_batches_are_reproducible_in_threads_and_carry_the_extra_target():
    img, lab = touching_cells((64, 64), n_cells=6, seed=3)
    (p,) = make_pairs([img], [lab], head="distance")
    dev = DeviceCropSampler([p], 32, 32, aug.AugmentConfig())
    inline = BatchPrefetcher(dev, 4, seed=7, depth=0)
    threaded = BatchPrefetcher(dev, 4, seed=7, depth=2, workers=2)
    try:
        for _ in range(3):
            a, b = inline.get(), threaded.get()
            assert set(a) == {"image", "target", "weights", "extra"}
            assert a["extra"].shape == (4, 32, 32) and a["extra"].dtype == torch.float32
            for k in a:
                assert torch.equal(a[k], b[k]), k
    finally:
        threaded.close()


def test_the_place_is_chosen_per_device(pairs, monkeypatch):
    from napari_unet.core.training import device_sampling

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    sampler, workers = make_sampler(TrainConfig(), pairs, 48, 48, cpu)
    assert isinstance(sampler, CropSampler) and workers == 1
    sampler, workers = make_sampler(TrainConfig(augment_on="device"), pairs, 48, 48, cpu)
    assert isinstance(sampler, DeviceCropSampler) and workers == 1
    made = []
    monkeypatch.setattr(device_sampling, "DeviceCropSampler", lambda *a, **k: made.append(k))
    make_sampler(TrainConfig(), pairs, 48, 48, cuda)  # auto on CUDA: on the device
    assert made == [{"device": cuda}]
    sampler, _ = make_sampler(TrainConfig(augment_on="host"), pairs, 48, 48, cuda)
    assert isinstance(sampler, CropSampler)
    with pytest.raises(InputError, match="augment_on"):
        TrainConfig(augment_on="gpu")


@pytest.mark.parametrize("place", ["host", "device"])
def test_a_warped_crop_gives_no_weight_to_targets_read_outside_the_region(place):
    """Interpolated weights reached across a region's edge onto unannotated targets.

    The right half is unannotated and its (uncorrected) labels say "cell": before, about
    0.6% of the loss pixels of elastic crops took that target with some weight.
    """
    labels = np.zeros((96, 96), np.uint16)
    labels[:, 48:] = 1
    region = np.zeros(labels.shape, bool)
    region[:, :48] = True
    other = np.zeros((32, 32), np.uint16)
    other[10:16, 10:16] = 1  # a cell somewhere, as training needs
    image = np.random.default_rng(0).normal(size=labels.shape).astype(np.float32)
    p = make_pairs([image, other.astype(np.float32)], [labels, other], [region, None])[0]
    sampler = (CropSampler if place == "host" else DeviceCropSampler)([p], 64, 64, GEOMETRY)
    leaked = counted = 0
    for i in range(10):
        b = sampler.batch(4, np.random.default_rng([0, i]))
        t, w = np.asarray(b["target"]), np.asarray(b["weights"])
        leaked, counted = leaked + int(((w > 0) & (t == 1)).sum()), counted + int((w > 0).sum())
    assert counted > 10_000 and leaked == 0


def test_blur_shading_and_shot_noise_on_the_device_follow_the_cpu_path(pairs):
    # The same draws give the same blur and plane; shot noise is torch's, of the same size.
    worse = aug.AugmentConfig(
        elastic=False, gain=0.0, offset=0.0, gamma=0.0, noise=0.0, blur=2.0, shading=1.0
    )
    host, dev = both(pairs, worse)
    np.testing.assert_allclose(dev["image"], host["image"], atol=1e-4)
    sampler = DeviceCropSampler(pairs, 48, 48, aug.AugmentConfig(shot=0.5))
    flat = torch.zeros(2, 1, 48, 48)
    flat[1] = 1.0
    shot = (*aug.NEUTRAL[:4], 0.4, *aug.NEUTRAL[5:])
    out = sampler._intensity(flat, [shot, shot], 0)
    assert torch.equal(out[0], flat[0])  # no signal, no shot noise
    assert 0.36 < (out[1] - 1).std() < 0.44
