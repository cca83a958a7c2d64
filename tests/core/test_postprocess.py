"""Probabilities -> instances: touching cells come back separate and full size."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_model import separated_target

from napari_unet import InputError, evaluate, probabilities_to_labels, segment, touching_cells

pytestmark = pytest.mark.usefixtures("one_thread")


def test_separated_target_turns_back_into_full_size_touching_instances():
    _, labels = touching_cells((200, 200), n_cells=40, seed=0)
    target = separated_target(labels, gap=2).astype(np.float32)
    out = probabilities_to_labels(target, threshold=0.5, min_size=5, gap=2)
    result = evaluate(labels, out)
    assert result["per_threshold"][0]["f1"] >= 0.9  # one instance per cell
    assert result["mean_matched_iou"] >= 0.9  # grown back over the gap: full size
    # Without growing back the instances stay smaller than the cells.
    shrunk = evaluate(labels, probabilities_to_labels(target, gap=0, min_size=5))
    assert shrunk["mean_matched_iou"] < result["mean_matched_iou"]


def test_growth_fills_gaps_but_not_open_background():
    prob = np.zeros((20, 30), np.float32)
    prob[5:15, 3:10] = 1
    prob[5:15, 12:20] = 1  # two cells, two-pixel gap at columns 10-11
    out = probabilities_to_labels(prob, min_size=1, gap=2)
    assert set(np.unique(out)) == {0, 1, 2}
    assert np.all(out[5:15, 10:12] > 0)  # the gap is shared out
    assert np.all(out[:, :3] == 0) and np.all(out[:4] == 0)  # outline unchanged elsewhere


def test_small_objects_are_removed_and_ids_are_consecutive():
    prob = np.zeros((30, 30), np.float32)
    prob[2:4, 2:4] = 0.9  # 4 px
    prob[10:20, 10:20] = 0.9
    out = probabilities_to_labels(prob, min_size=10)
    assert out.max() == 1 and out[15, 15] == 1 and out[3, 3] == 0
    assert probabilities_to_labels(prob, threshold=0.95).max() == 0


def _disk(shape, center, radius):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def test_split_cuts_two_joined_round_cells_at_the_neck_and_keeps_single_cells_whole():
    shape = (60, 90)
    left, right = _disk(shape, (30, 25), 12), _disk(shape, (30, 45), 12)  # overlap: a neck
    single = _disk(shape, (30, 75), 9)
    prob = (left | right | single).astype(np.float32)
    joined = probabilities_to_labels(prob, min_size=5, gap=0)
    assert joined.max() == 2  # the pair comes out as one blob without splitting
    out = probabilities_to_labels(prob, min_size=5, gap=0, split=1.0)
    assert out.max() == 3
    a, b = out[30, 20], out[30, 50]
    assert a != b and a > 0 and b > 0  # the two halves are different instances
    cut = np.flatnonzero(out[30] == a).max()
    assert 33 <= cut <= 37  # cut at the neck (x = 35), not somewhere else
    assert np.array_equal(out > 0, prob > 0.5)  # no pixel lost or added
    assert len(np.unique(out[single])) == 1  # the round cell alone is not cut
    # A high depth asks for a deeper neck: the pair stays whole.
    assert probabilities_to_labels(prob, min_size=5, gap=0, split=8.0).max() == 2


def test_split_never_merges_and_keeps_thin_objects():
    prob = np.zeros((40, 40), np.float32)
    prob[5:7, 5:35] = 1  # a thin line: its distance peak is below the depth
    prob[15:30, 10:25] = 1
    out = probabilities_to_labels(prob, min_size=5, gap=0, split=3.0)
    assert out.max() == 2 and np.array_equal(out > 0, prob > 0)


def test_split_helps_on_touching_synthetic_cells():
    """The blob that stays when the network leaves two cells joined is cut again."""
    _, labels = touching_cells((256, 256), n_cells=60, seed=3)
    joined = (labels > 0).astype(np.float32)  # no separation gap: touching cells merge
    plain = evaluate(labels, probabilities_to_labels(joined, min_size=10, gap=0))
    split = evaluate(labels, probabilities_to_labels(joined, min_size=10, gap=0, split=1.0))
    assert split["per_threshold"][0]["f1"] > plain["per_threshold"][0]["f1"] + 0.1


def test_bad_arguments():
    with pytest.raises(InputError):
        probabilities_to_labels(np.zeros((3, 4, 5)))
    with pytest.raises(InputError):
        probabilities_to_labels(np.zeros((4, 5)), threshold=1.5)
    with pytest.raises(InputError, match="split"):
        probabilities_to_labels(np.zeros((4, 5)), split=-1)


def test_segment_with_a_trained_model_finds_cells(trained_same):
    model, meta = trained_same
    image, gt = touching_cells((192, 160), n_cells=30, seed=11)
    labels, probs = segment(model, image, metadata=meta, return_probabilities=True, tile=96)
    assert labels.shape == image.shape and labels.dtype == np.int32
    assert probs.shape == (2, 192, 160)
    fg_iou = np.logical_and(labels > 0, gt > 0).sum() / np.logical_or(labels > 0, gt > 0).sum()
    assert fg_iou > 0.7
    assert evaluate(gt, labels)["pixel_iou"] == pytest.approx(fg_iou)  # the same measure
    assert labels.max() >= 5


def test_segment_labels_a_stack_with_unique_ids(trained_same):
    model, meta = trained_same
    image, _ = touching_cells((96, 96), n_cells=10, seed=12)
    labels = segment(model, np.stack([image, image]), metadata=meta)
    assert labels.shape == (2, 96, 96)
    first, second = set(np.unique(labels[0])) - {0}, set(np.unique(labels[1])) - {0}
    assert first and second and not first & second


def test_real_nuclei_from_the_shared_data(trained_same, shared_data):
    import csv

    import tifffile
    from PIL import Image

    model, meta = trained_same
    folder = shared_data / "stardist_nuclei2d"
    image, gt = tifffile.imread(folder / "img2d.tif"), tifffile.imread(folder / "mask2d.tif")
    labels = segment(model, image, metadata=meta)  # uint16, 512 x 512, trained on synthetic
    result = evaluate(gt, labels)
    assert result["per_threshold"][0]["f1"] >= 0.4
    fg_iou = np.logical_and(labels > 0, gt > 0).sum() / np.logical_or(labels > 0, gt > 0).sum()
    assert fg_iou >= 0.6
    # A DSB2018 fluorescence PNG: RGBA with R = G = B, read as the CLI reads it.
    with open(shared_data / "dsb2018" / "index.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["group"].startswith("fluo"))
    rgba = np.asarray(Image.open(shared_data / "dsb2018" / "images" / f"{row['name']}.png"))
    labels = segment(model, rgba[..., :3], metadata=meta)
    gt = tifffile.imread(shared_data / "dsb2018" / "masks" / f"{row['name']}.tif")
    assert labels.shape == rgba.shape[:2]
    assert evaluate(gt, labels)["pixel_iou"] > 0.5


def test_postprocess_settings_take_given_then_model_then_default_values():
    from napari_unet import Postprocess

    def settings(meta, **given):
        return Postprocess.for_model(meta, **given).as_dict()

    assert settings(None) == {"threshold": 0.5, "min_size": 10, "gap": 2, "split": 0.0}
    meta = {"postprocess": {"threshold": 0.6, "min_size": 20, "split": 2.0}, "separation_gap": 3}
    assert settings(meta) == {"threshold": 0.6, "min_size": 20, "gap": 3, "split": 2.0}
    given = settings(meta, threshold=0.4, min_size=0, gap=0, split=0.0)
    assert given == {"threshold": 0.4, "min_size": 0, "gap": 0, "split": 0.0}  # 0 is a value
    # Unknown recommendation keys are ignored; unknown arguments and bad values are refused.
    assert settings({"postprocess": {"threshold": 0.6, "x": 1}})["threshold"] == 0.6
    with pytest.raises(InputError, match="unknown"):
        Postprocess.for_model(None, thresh=0.3)
    with pytest.raises(InputError, match="threshold"):
        Postprocess.for_model(None, threshold=1.5)


# --------------------------------------------------------------------------- the fast path


def _same_up_to_ids(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal partitions: one-to-one ids, same background."""
    if a.shape != b.shape or not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@pytest.mark.parametrize("split", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("gap", [0, 1, 2, 3])
def test_fast_path_equals_the_old_one_on_joined_touching_cells(gap, split):
    """The benchmark's case at 512 px: touching cells without the gap (every cluster is cut)."""
    from postprocess_reference import reference_labels

    _, labels = touching_cells((512, 512), n_cells=94, seed=0)
    fg = (labels > 0).astype(np.float32)
    fast = probabilities_to_labels(fg, 0.5, 10, gap, split)
    old = reference_labels(fg, 0.5, 10, gap, split)
    assert np.array_equal(fast, old)  # the same ids, not only the same partition
    assert _same_up_to_ids(fast, old)


@pytest.mark.parametrize("seed", range(6))
def test_fast_path_equals_the_old_one_on_noisy_probabilities(seed):
    """Ragged, tie-heavy foreground (noise, thin bridges, image borders, tiny specks)."""
    from postprocess_reference import reference_labels
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    prob = ndimage.gaussian_filter(rng.random((96 + seed * 7, 120)), 1.5 + seed % 3)
    prob = (prob - prob.min()) / (prob.max() - prob.min())
    for gap, split, min_size in ((2, 0.0, 10), (1, 1.0, 3), (3, 0.5, 0), (2, 2.0, 25)):
        fast = probabilities_to_labels(prob, 0.55, min_size, gap, split)
        assert np.array_equal(fast, reference_labels(prob, 0.55, min_size, gap, split))


def test_fast_path_equals_the_old_one_on_a_real_prediction(shared_data):
    """The built-in model's probabilities on a real DSB2018 image."""
    import csv

    from PIL import Image
    from postprocess_reference import reference_labels

    from napari_unet import predict, pretrained

    with open(shared_data / "dsb2018" / "index.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["group"].startswith("fluo"))
    image = np.asarray(Image.open(shared_data / "dsb2018" / "images" / f"{row['name']}.png"))
    model, meta = pretrained("nuclei")
    fg = predict(model, image[..., 0], metadata=meta)[1]
    for split in (0.0, 1.0):
        fast = probabilities_to_labels(fg, 0.5, 10, 2, split)
        assert fast.max() > 5
        assert np.array_equal(fast, reference_labels(fg, 0.5, 10, 2, split))


def test_seam_kernels_equal_scipy_and_scikit_image():
    """Shifted-slice max/min = scipy's filters; the ordered disc walk = expand_labels (ties)."""
    from scipy import ndimage
    from skimage.segmentation import expand_labels

    from napari_unet.core.inference import seams

    rng = np.random.default_rng(1)
    for _ in range(60):
        h, w = rng.integers(1, 40, 2)
        dense = rng.random((h, w)) < rng.uniform(0.02, 0.6)
        lab = (dense * rng.integers(1, int(rng.integers(2, 20)), (h, w))).astype(np.int32)
        r = int(rng.integers(1, 5))
        for pick, scipy_filter in ((np.maximum, ndimage.maximum_filter),
                                   (np.minimum, ndimage.minimum_filter)):  # fmt: skip
            assert np.array_equal(seams.window_extreme(lab, r, pick), scipy_filter(lab, 2 * r + 1))
        for distance in (r, r + 0.5):
            grown = expand_labels(lab, distance)
            assert np.array_equal(seams.grow_onto(lab, lab == 0, distance), grown[lab == 0])


def test_split_kernels_equal_scikit_image_and_skip_single_peaks(monkeypatch):
    """Boundaries = find_boundaries; distances per box and the Gaussian per box = the
    whole-image ones, bit for bit; the one-sort reconstruction = skimage's; instances with one
    peak are never flooded (fewer reconstructions than instances), same result."""
    from scipy import ndimage
    from skimage.morphology import reconstruction
    from skimage.segmentation import find_boundaries

    from napari_unet.core.inference import splitting

    rng = np.random.default_rng(4)
    for _ in range(20):
        h, w = rng.integers(2, 50, 2)
        lab = (rng.random((h, w)) < 0.7) * rng.integers(1, 6, (h, w))
        expected = find_boundaries(lab, connectivity=1, mode="inner")
        assert np.array_equal(splitting.boundaries(lab), expected)
        mask = ndimage.gaussian_filter(rng.random((h, w)), 1.0)
        mask[rng.random((h, w)) < 0.3] = 0.0
        seed = mask - rng.choice([0.01, 0.1, 1.0])
        fast = splitting.reconstruct_dilation(seed, mask)
        assert np.array_equal(fast, reconstruction(seed, mask, method="dilation"))
    _, cells = touching_cells((96, 80), n_cells=25, seed=6)  # cells cut by every edge
    dist = splitting.inner_distances(cells, ndimage.find_objects(cells))
    assert np.array_equal(dist, ndimage.distance_transform_edt(
        (cells > 0) & ~find_boundaries(cells, connectivity=1, mode="inner")))  # fmt: skip
    for sigma in (0.7, 1.0, 2.5):
        smooth = ndimage.gaussian_filter(dist, sigma)
        for box in ndimage.find_objects(cells):
            if box is not None:  # bit for bit, not approximately
                assert np.array_equal(splitting._smoothed(dist, box, sigma), smooth[box])
    calls = []
    real = splitting.reconstruct_dilation
    monkeypatch.setattr(splitting, "reconstruct_dilation", lambda *a: calls.append(1) or real(*a))
    _, labels = touching_cells((256, 256), n_cells=40, seed=5)
    out = probabilities_to_labels((labels > 0).astype(np.float32), 0.5, 10, 0, 1.0)
    n_objects = ndimage.label(labels > 0)[1]
    assert 0 < len(calls) < n_objects and out.max() >= n_objects


def test_close_gaps_equals_the_old_one_with_huge_sparse_ids():
    """Ids far above the pixel count are renumbered without a table of every id."""
    from postprocess_reference import close_gaps as reference_close_gaps

    from napari_unet.core.inference.postprocess import close_gaps
    from napari_unet.core.training.targets import separated_labels

    _, labels = touching_cells((128, 128), n_cells=20, seed=2)
    sep = separated_labels(labels, 2).astype(np.int64)
    huge = np.where(sep > 0, sep * 2 * 10**7 + 7, 0)  # the old path needs ids < 2**31
    for lab in (sep, huge):
        assert np.array_equal(close_gaps(lab, 2), reference_close_gaps(lab.copy(), 2))


def test_the_split_on_threads_gives_the_one_thread_ids():
    """Instances shared among threads get the ids one thread gives, in the same order."""
    from napari_unet.core.inference import splitting

    _, labels = touching_cells((300, 260), n_cells=70, seed=11)
    joined = probabilities_to_labels((labels > 0).astype(np.float32), 0.5, 10, 0, 0.0)
    one = splitting.split_instances(joined, 1.0, 1.0, workers=1)
    assert one.max() > joined.max()  # clusters were cut
    for workers in (2, 3):
        assert np.array_equal(splitting.split_instances(joined, 1.0, 1.0, workers), one)
    assert not splitting.split_instances(np.zeros((5, 5), np.int32), 1.0, 1.0, 2).any()
