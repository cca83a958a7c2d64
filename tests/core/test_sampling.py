"""Training crops and prefetched batches: napari_unet.core.training.sampling."""

import time

import numpy as np
import pytest

from napari_unet import make_pairs, touching_cells
from napari_unet.core.training.augment import NO_AUGMENT, AugmentConfig
from napari_unet.core.training.sampling import BatchPrefetcher, CropSampler

SIDE = 96


@pytest.fixture(scope="module")
def sample():
    return touching_cells((SIDE, SIDE), n_cells=10, seed=0)


@pytest.fixture(scope="module")
def pair(sample):
    img, lab = sample
    (p,) = make_pairs([img], [lab])
    return p


def matches(crop_image, pair):
    """Top-left ``(row, col)`` of every place of the pair an un-augmented crop could be from.

    Crops beyond the border are mirror-extended, so the search runs over the mirror-padded
    image; the (noisy) image makes the position unique.
    """
    s = crop_image.shape[-1]
    padded = np.pad(pair.image[0], s, mode="reflect")
    found = []
    for r, c in np.argwhere(np.abs(padded - crop_image[0, 0, 0]) < 1e-5):
        window = padded[r : r + s, c : c + s]
        if window.shape == (s, s) and np.abs(window - crop_image[0]).max() < 1e-4:
            found.append((int(r) - s, int(c) - s))
    return found


def locate(crop_image, pair):
    """Top-left ``(row, col)`` of an un-augmented crop in its pair (may lie outside it)."""
    found = matches(crop_image, pair)
    assert len(found) == 1, f"crop found at {found}"
    return found[0]


def window(array, top, size, pad):
    """``array[top:top+size]`` in both axes, mirror-extended beyond the border."""
    padded = np.pad(array, pad, mode="reflect")
    r, c = top[0] + pad, top[1] + pad
    return padded[r : r + size, c : c + size]


def test_crop_shapes_and_dtypes(pair):
    s = CropSampler([pair], 48, 48, AugmentConfig())
    image, target, weights, _ = s.sample(np.random.default_rng(0))
    assert image.shape == (1, 48, 48) and image.dtype == np.float32
    assert target.shape == (48, 48) and target.dtype == pair.target.dtype
    assert weights.shape == (48, 48) and weights.dtype == np.float32
    assert set(np.unique(target)) <= set(np.unique(pair.target))
    assert weights.min() >= 0
    b = s.batch(3, np.random.default_rng(0))
    assert set(b) == {"image", "target", "weights"}
    assert b["image"].shape == (3, 1, 48, 48) and b["image"].dtype == np.float32
    assert b["target"].shape == (3, 48, 48) and b["target"].dtype == np.int64
    assert b["weights"].shape == (3, 48, 48) and b["weights"].dtype == np.float32


def test_colour_pairs_give_colour_crops(sample):
    img, lab = sample
    rgb = np.stack([img, img * 0.5, img**2], axis=-1)
    pairs = make_pairs([rgb], [lab])
    b = CropSampler(pairs, 32, 32, NO_AUGMENT).batch(2, np.random.default_rng(0))
    assert b["image"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_unaugmented_crop_reads_the_pair_at_its_place(pair, seed):
    s = CropSampler([pair], 40, 40, NO_AUGMENT, fg_bias=0.5)
    image, target, weights, _ = s.sample(np.random.default_rng(seed))
    top = locate(image, pair)
    np.testing.assert_allclose(image[0], window(pair.image[0], top, 40, 40), atol=1e-4)
    np.testing.assert_array_equal(target, window(pair.target, top, 40, 40))
    np.testing.assert_allclose(weights, window(pair.weights, top, 40, 40), rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 5])
def test_valid_sizes_take_the_target_from_the_centre_window(pair, seed):
    s_in, s_out = 92, 52  # a "valid" network: 20 pixels lost on each side
    s = CropSampler([pair], s_in, s_out, NO_AUGMENT)
    image, target, weights, _ = s.sample(np.random.default_rng(seed))
    assert image.shape == (1, s_in, s_in)
    assert target.shape == weights.shape == (s_out, s_out)
    top = locate(image, pair)
    inner = (top[0] + 20, top[1] + 20)
    np.testing.assert_array_equal(target, window(pair.target, inner, s_out, s_in))
    np.testing.assert_allclose(weights, window(pair.weights, inner, s_out, s_in), rtol=1e-6)
    # not the corner of the input crop
    assert not np.array_equal(target, window(pair.target, top, s_out, s_in))


def centre_fraction(pair, fg_bias, n=200):
    """Fraction of ``n`` crops whose central 5x5 target window holds a cell."""
    s = CropSampler([pair], 32, 32, NO_AUGMENT, fg_bias=fg_bias)
    rng = np.random.default_rng(0)
    hits = [(s.sample(rng)[1][14:19, 14:19] > 0).any() for _ in range(n)]
    return float(np.mean(hits))


def test_fg_bias_centres_crops_on_annotated_cells(pair):
    biased, unbiased = centre_fraction(pair, 1.0), centre_fraction(pair, 0.0)
    # the +-2 px jitter stays inside the 5x5 window around the chosen cell pixel
    assert biased >= 0.97
    assert unbiased <= 0.5
    assert biased - unbiased >= 0.4


def test_crops_stay_in_the_annotated_region(sample):
    img, lab = sample
    region = np.zeros(lab.shape, np.uint8)
    region[:, :40] = 1  # only the left 40 columns are annotated
    (p,) = make_pairs([img], [lab], [region])
    mask = region.astype(bool)
    for fg_bias in (0.0, 1.0):
        s = CropSampler([p], 36, 36, NO_AUGMENT, fg_bias=fg_bias)
        rng = np.random.default_rng(1)
        for _ in range(6):
            image, target, weights, _ = s.sample(rng)
            top = locate(image, p)
            inside = window(mask, top, 36, 36)
            assert (weights[~inside] == 0).all()
            assert (weights[inside] > 0).all()
            # the crop centre is a region pixel, moved by at most 2 px of jitter
            assert -2 <= top[1] + 18 < 40 + 2


def test_pairs_are_drawn_in_proportion_to_their_annotated_area(sample):
    img, lab = sample
    img2, lab2 = touching_cells((SIDE, SIDE), n_cells=10, seed=1)
    big = np.zeros(lab.shape, np.uint8)
    big[:, :72] = 1
    small = np.zeros(lab.shape, np.uint8)
    small[:, 72:] = 1
    pairs = make_pairs([img, img2], [lab, lab2], [big, small])
    s = CropSampler(pairs, 16, 16, NO_AUGMENT, fg_bias=0.5)
    rng = np.random.default_rng(2)
    from_big = []
    for _ in range(60):
        image = s.sample(rng)[0]
        found = [len(matches(image, p)) for p in pairs]
        assert sorted(found) == [0, 1]  # from exactly one of the pairs
        from_big.append(found[0] == 1)
    assert 0.6 < np.mean(from_big) < 0.9  # 3/4 of the annotated area is in the first pair


def batches_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.fixture(scope="module")
def sampler(pair):
    return CropSampler([pair], 24, 24, AugmentConfig(), fg_bias=0.7)


def test_batches_do_not_depend_on_how_they_are_prepared(sampler):
    inline = BatchPrefetcher(sampler, 2, seed=7, depth=0)
    reference = [inline.get() for _ in range(5)]
    assert not inline._threads
    # different batches, not one batch repeated
    assert not np.array_equal(reference[0]["image"], reference[1]["image"])
    for depth, workers in [(1, 1), (3, 1), (2, 2), (1, 4)]:
        pf = BatchPrefetcher(sampler, 2, seed=7, depth=depth, workers=workers)
        try:
            assert len(pf._threads) == workers
            for expected in reference:
                batches_equal(pf.get(), expected)
        finally:
            pf.close()
    other = BatchPrefetcher(sampler, 2, seed=8, depth=0).get()
    assert not np.array_equal(other["image"], reference[0]["image"])


@pytest.mark.parametrize(("depth", "workers"), [(0, 1), (2, 1), (2, 3)])
def test_a_resumed_prefetcher_continues_the_sequence(sampler, depth, workers):
    fresh = BatchPrefetcher(sampler, 2, seed=4, depth=0)
    sequence = [fresh.get() for _ in range(6)]
    for k in (1, 4):
        pf = BatchPrefetcher(sampler, 2, seed=4, start=k, depth=depth, workers=workers)
        try:
            batches_equal(pf.get(), sequence[k])
            batches_equal(pf.get(), sequence[k + 1])
        finally:
            pf.close()


class Failing:
    """A sampler whose third batch fails."""

    def __init__(self, sampler):
        self.sampler = sampler

    def batch(self, batch_size, rng):
        if rng.bit_generator.seed_seq.entropy[1] == 2:  # batch index 2
            raise ValueError("corrupt pair 'cells'")
        return self.sampler.batch(batch_size, rng)


@pytest.mark.parametrize(("depth", "workers"), [(0, 1), (2, 1), (1, 3)])
def test_an_error_in_the_sampler_reaches_get(sampler, depth, workers):
    pf = BatchPrefetcher(Failing(sampler), 1, seed=0, depth=depth, workers=workers)
    try:
        pf.get()
        pf.get()
        with pytest.raises(ValueError, match="corrupt pair 'cells'"):
            pf.get()
    finally:
        pf.close()
    assert not any(t.is_alive() for t in pf._threads)


def test_an_error_in_the_first_batch_is_not_swallowed(sampler):
    class Broken:
        def batch(self, batch_size, rng):
            raise RuntimeError("out of memory in the sampler")

    pf = BatchPrefetcher(Broken(), 2, seed=0, depth=2, workers=2)
    try:
        with pytest.raises(RuntimeError, match="out of memory in the sampler"):
            pf.get()
    finally:
        pf.close()


def test_close_ends_threads_blocked_on_full_queues(sampler):
    pf = BatchPrefetcher(sampler, 1, seed=0, depth=1, workers=3)
    assert all(t.is_alive() and t.daemon for t in pf._threads)
    deadline = time.monotonic() + 10
    while not all(q.full() for q in pf._queues) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(q.full() for q in pf._queues)  # nobody reads: every thread waits to put
    t0 = time.monotonic()
    pf.close()
    assert time.monotonic() - t0 < 3
    assert not any(t.is_alive() for t in pf._threads)
