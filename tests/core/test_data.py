import numpy as np
import pytest

from napari_unet import InputError, make_pairs, touching_cells
from napari_unet.core.training.augment import NO_AUGMENT, AugmentConfig
from napari_unet.core.training.sampling import BatchPrefetcher, CropSampler


@pytest.fixture(scope="module")
def sample():
    return touching_cells((96, 96), n_cells=12, seed=0)


def test_pairs_from_2d_rgb_and_stacks(sample):
    img, lab = sample
    (p,) = make_pairs([img], [lab], names=["cells"])
    assert p.image.shape == (1, 96, 96) and p.image.dtype == np.float32
    assert p.target.shape == lab.shape and p.weights.shape == lab.shape
    assert p.n_cells == len(np.unique(lab)) - 1
    # normalised as prediction normalises (1-99.8 percentiles)
    lo, hi = np.percentile(img, [1, 99.8])
    np.testing.assert_allclose(p.image[0], (img - lo) / (hi - lo), atol=1e-4)
    grey_rgb = np.stack([img, img, img], axis=-1)  # grey stored as RGB: one channel
    assert make_pairs([grey_rgb], [lab])[0].image.shape == (1, 96, 96)
    rgb = np.stack([img, img * 0.5, img * 0.2], axis=-1)
    (q,) = make_pairs([rgb], [lab])
    assert q.image.shape == (3, 96, 96)
    (c,) = make_pairs([np.moveaxis(rgb, -1, 0)], [lab])
    assert c.image.shape == (3, 96, 96)
    # a stack: planes without any label are not annotated and are skipped
    stack = np.stack([img, img, img])
    labs = np.stack([lab, np.zeros_like(lab), lab])
    pairs = make_pairs([stack], [labs], names=["s"])
    assert [p.name for p in pairs] == ["s [plane 0]", "s [plane 2]"]


def test_region_mask_zeroes_weights_outside(sample):
    img, lab = sample
    region = np.zeros(lab.shape, np.uint8)
    region[:48] = 1
    (p,) = make_pairs([img], [lab], [region])
    assert (p.weights[48:] == 0).all()
    assert (p.weights[:48] > 0).all()
    assert np.isin(p.fg_index // 96, np.arange(48)).all()
    # targets are cached, but each pair gets its own copy (editing one leaves others alone)
    (p2,) = make_pairs([img], [lab], [region])
    assert np.array_equal(p2.weights, p.weights) and not np.shares_memory(p2.weights, p.weights)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i, lb, r: ([i[:90]], [lb], None), "does not match labels shape"),
        (lambda i, lb, r: ([i], [lb.astype(np.float32)], None), "expected an integer label image"),
        (lambda i, lb, r: ([i], [lb - 5], None), "negative"),
        (lambda i, lb, r: ([i], [np.zeros_like(lb)], None), "no annotated cell"),
        (lambda i, lb, r: ([i], [lb], [np.zeros_like(lb)]), "region is empty"),
        (lambda i, lb, r: ([i, np.stack([i, i / 2], -1)], [lb, lb], None), "channel"),
        (lambda i, lb, r: ([i], [lb, lb], None), "pair them"),
        (lambda i, lb, r: ([i], [lb], [np.ones((5, 5))]), "region shape"),
    ],
    ids=["shape", "float", "negative", "no-cell", "empty-region", "channels", "count", "region"],
)
def test_bad_input_is_rejected_with_a_message(sample, change, message):
    img, lab = sample
    images, labels, regions = change(img, lab, None)
    with pytest.raises(InputError, match=message):
        make_pairs(images, labels, regions)


def test_no_cell_inside_the_region_is_rejected(sample):
    img, lab = sample
    region = (lab == 0).astype(np.uint8)
    region[lab > 0] = 0
    with pytest.raises(InputError, match="no annotated cell"):
        make_pairs([img], [lab], [region])


def test_crops_are_legal_aligned_and_biased_to_cells(sample):
    img, lab = sample
    pairs = make_pairs([img], [lab])
    s = CropSampler(pairs, 44, 4, NO_AUGMENT, fg_bias=1.0)  # a "valid" net: 44 -> 4
    rng = np.random.default_rng(0)
    b = s.batch(8, rng)
    assert b["image"].shape == (8, 1, 44, 44)
    assert b["target"].shape == (8, 4, 4) and b["target"].dtype == np.int64
    assert b["weights"].shape == (8, 4, 4)
    # fg_bias=1: the target window sits on a cell in (nearly) every crop
    assert (b["target"] > 0).any(axis=(1, 2)).mean() >= 0.75


def test_small_images_give_full_size_crops(sample):
    img, lab = sample
    pairs = make_pairs([img[:30, :30]], [lab[:30, :30]])
    s = CropSampler(pairs, 64, 64, AugmentConfig())
    b = s.batch(2, np.random.default_rng(0))
    assert b["image"].shape == (2, 1, 64, 64)
    assert np.isfinite(b["image"]).all()


@pytest.mark.parametrize("workers", [1, 3])
def test_prefetcher_is_reproducible_and_stops(sample, workers):
    img, lab = sample
    pairs = make_pairs([img], [lab])
    s = CropSampler(pairs, 32, 32, AugmentConfig())
    threaded = BatchPrefetcher(s, 2, seed=3, depth=2, workers=workers)
    a = [threaded.get() for _ in range(7)]
    threaded.close()
    assert not any(t.is_alive() for t in threaded._threads)
    inline = BatchPrefetcher(s, 2, seed=3, depth=0)
    b = [inline.get() for _ in range(7)]
    for x, y in zip(a, b, strict=True):  # same batches, in the same order
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["target"], y["target"])
    resumed = BatchPrefetcher(s, 2, seed=3, start=2, depth=2, workers=workers)
    np.testing.assert_array_equal(resumed.get()["image"], a[2]["image"])
    np.testing.assert_array_equal(resumed.get()["image"], a[3]["image"])
    resumed.close()
