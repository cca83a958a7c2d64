"""Weight maps and touching-cell separation: exactness against a brute force, properties, input."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from napari_unet import InputError, drain
from napari_unet.core.training import distances, targets
from napari_unet.core.training import weightmap as wm

# --------------------------------------------------------------------------- references


def random_cells(shape=(160, 192), n=70, seed=0, sparse_ids=False) -> np.ndarray:
    """Touching cells of varied shapes: a Voronoi tessellation of random seeds cut by a
    smooth random background; cells touch each other and the image border; ids are shuffled
    and not consecutive."""
    rng = np.random.default_rng(seed)
    points = np.zeros(shape, bool)
    points[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = True
    dist, (iy, ix) = ndimage.distance_transform_edt(~points, return_indices=True)
    seeds = ndimage.label(points)[0]
    voronoi = seeds[iy, ix]
    radius = rng.uniform(4, 14, seeds.max() + 1)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), 4)
    noise /= noise.std()
    cells = dist < radius[voronoi] * (1 + 0.3 * noise)
    labels = np.where(cells, voronoi, 0)
    ids = rng.choice(10**6 if sparse_ids else 5 * n, size=seeds.max() + 1, replace=False) + 1
    ids[0] = 0
    return ids[labels].astype(np.int32)


def brute_distances(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One full-image distance transform per cell, then the two smallest per pixel."""
    ids = np.unique(labels)
    ids = ids[ids > 0]
    stack = [ndimage.distance_transform_edt(labels != k) for k in ids]
    stack += [np.full(labels.shape, np.inf)] * 2
    stack = np.sort(np.stack(stack), axis=0)
    return stack[0], stack[1]


def reference_separation(labels: np.ndarray, gap: int) -> np.ndarray:
    """The separation rule written with grey max/min filters instead of shifted slices."""
    big = int(labels.max()) + 1
    lab = labels.astype(np.int64)
    masked = np.where(lab == 0, big, lab)

    def near_other(radius, higher_only=False):
        size = 2 * radius + 1
        low = ndimage.minimum_filter(masked, size=size, mode="nearest")
        high = ndimage.maximum_filter(lab, size=size, mode="nearest")
        hit = low < lab if higher_only else (low < lab) | (high > lab)
        return hit & (lab > 0)

    remove = near_other(gap // 2) if gap // 2 else np.zeros(labels.shape, bool)
    if gap % 2:
        remove |= near_other(gap // 2 + 1, higher_only=True)
    return np.where(remove, 0, labels)


def brute_weights(labels, *, gap=2, w0=10.0, sigma=5.0, class_weights="balanced", mask=None):
    """The paper's formula evaluated in float64 from the brute-force distances (binary mode)."""
    sep = reference_separation(labels, gap)
    target = (sep > 0).astype(int)
    region = np.ones(labels.shape, bool) if mask is None else mask
    if class_weights == "balanced":
        counts = np.bincount(target[region], minlength=2).astype(float)
        wc = np.where(counts > 0, counts.sum() / ((counts > 0).sum() * np.maximum(counts, 1)), 1)
    elif class_weights == "none":
        wc = np.ones(2)
    else:
        wc = np.asarray(class_weights, float)
    d1, d2 = brute_distances(sep)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    weights = wc[target] + np.where(sep == 0, border, 0.0)
    return np.where(region, weights, 0.0)


def assert_close(fast, slow, rtol=1e-5):
    assert fast.dtype == np.float32 and fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, rtol=rtol, atol=0)


# --------------------------------------------------------------------------- exactness


@pytest.fixture(params=["compiled", "scipy"])
def distance_path(request, monkeypatch):
    """Run a test on numba's compiled transform and on SciPy's windows (numba turned off)."""
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setenv("NAPARI_UNET_NUMBA", "1")
    else:
        monkeypatch.setenv("NAPARI_UNET_NUMBA", "0")
    return request.param


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sparse_ids", [False, True])
def test_distances_equal_brute_force_within_cutoff(seed, sparse_ids, distance_path):
    labels = random_cells(seed=seed, sparse_ids=sparse_ids)
    assert len(np.unique(labels)) > 40  # many cells, touching the border too
    assert np.any(labels[0] > 0) and np.any(labels[:, -1] > 0)
    cut = 25.0
    d1, d2 = distances.border_distances(labels, cut)
    b1, b2 = brute_distances(labels)
    for fast, slow in ((d1, b1), (d2, b2)):
        inside = slow <= cut
        np.testing.assert_allclose(fast[inside], slow[inside], rtol=1e-6)
        assert np.all(np.isinf(fast[~inside]))


def test_distances_on_threads_equal_one_thread(monkeypatch, distance_path):
    """Several threads give the one-thread distances bit for bit (SciPy: bands of rows, a
    window across a band edge done twice; numba: bands of columns, then of rows)."""
    labels = random_cells((300, 240), 200, seed=3)
    monkeypatch.setenv("NAPARI_UNET_THREADS", "1")
    one = distances.border_distances(labels, 31.0)
    for threads in ("2", "3"):
        monkeypatch.setenv("NAPARI_UNET_THREADS", threads)
        many = distances.border_distances(labels, 31.0)
        assert all(np.array_equal(a, b) for a, b in zip(one, many, strict=True))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"gap": 0},
        {"gap": 1},
        {"gap": 3, "sigma": 8.0},
        {"class_weights": "none", "w0": 5.0},
        {"class_weights": (0.5, 3.0), "sigma": 3.0},
        {"class_weights": (0.0, 1.0)},
    ],
)
def test_weight_map_equals_brute_force(params, distance_path):
    labels = random_cells(seed=3)
    assert_close(wm.weight_map(labels, **params), brute_weights(labels, **params))


def test_weight_map_with_mask_equals_brute_force(distance_path):
    labels = random_cells(seed=4, sparse_ids=True)
    mask = np.zeros(labels.shape, bool)
    mask[20:140, 10:150] = True
    fast = wm.weight_map(labels, mask=mask)
    assert_close(fast, brute_weights(labels, mask=mask))
    assert np.all(fast[~mask] == 0) and np.all(fast[mask] > 0)


def test_weight_map_on_synthetic_sample(distance_path):
    from napari_unet import touching_cells

    _, labels = touching_cells((192, 192), n_cells=50, seed=1)
    assert_close(wm.weight_map(labels), brute_weights(labels))


def test_weight_map_on_real_nuclei(shared_data, distance_path):
    import tifffile

    for path in sorted((shared_data / "dsb2018" / "masks").glob("*.tif"))[:3]:
        labels = tifffile.imread(path)[:200, :200]
        assert_close(wm.weight_map(labels), brute_weights(labels))
    labels = tifffile.imread(shared_data / "stardist_nuclei2d" / "mask2d.tif")[:256, :256]
    assert_close(wm.weight_map(labels, gap=1), brute_weights(labels, gap=1))


# --------------------------------------------------------------------------- properties


def test_properties_non_negative_above_class_weight_and_flip_symmetric():
    labels = random_cells(seed=5)
    target, weights = wm.target_and_weights(labels)
    wc = wm.class_weight_values(target, "balanced", 2).astype(np.float32)
    assert np.all(weights >= wc[target]) and np.all(weights >= 0)
    assert np.all(weights[target == 1] == np.float32(wc[1]))  # no border term inside cells
    for axis in (0, 1):
        flipped = wm.weight_map(np.flip(labels, axis))
        np.testing.assert_allclose(np.flip(flipped, axis), weights, rtol=1e-6)
    np.testing.assert_allclose(wm.weight_map(labels.T).T, weights, rtol=1e-6)


def test_weights_are_highest_in_gaps_between_touching_cells():
    labels = np.zeros((64, 96), np.int32)
    labels[10:54, 10:48] = 3  # two touching cells, side by side
    labels[10:54, 48:86] = 7
    target, weights = wm.target_and_weights(labels, class_weights="none")
    gap = (labels > 0) & (target == 0)
    assert np.array_equal(np.unique(np.nonzero(gap)[1]), [47, 48])  # a 2-pixel gap
    assert weights.max() == pytest.approx(1 + 10 * np.exp(-9 / 50), rel=1e-6)  # d1 = 1, d2 = 2
    assert np.all(weights[gap] > 9) and weights[gap].min() > weights[~gap].max()


@pytest.mark.parametrize("gap", [1, 2, 3, 4])
def test_separation_leaves_the_gap_and_keeps_cells_apart(gap):
    labels = np.zeros((40, 60), np.int32)
    labels[5:35, 5:30] = 1
    labels[5:35, 30:55] = 2
    sep = targets.separated_labels(labels, gap)
    assert np.sum(np.any(sep[5:35] == 0, axis=0)[5:55]) == gap
    labels = random_cells(seed=6)
    sep = targets.separated_labels(labels, gap)
    np.testing.assert_array_equal(sep, reference_separation(labels, gap))
    # No two different cells remain 8-adjacent.
    big = ndimage.maximum_filter(sep, size=3)
    small = ndimage.minimum_filter(np.where(sep == 0, sep.max() + 1, sep), size=3)
    assert not np.any((sep > 0) & ((big > sep) | (small < sep)))
    # Pixels away from other cells are untouched.
    size = 2 * gap + 3
    masked = np.where(labels == 0, labels.max() + 1, labels)
    lonely = (ndimage.maximum_filter(labels, size=size) == labels) & (
        ndimage.minimum_filter(masked, size=size) == labels
    )
    assert lonely.sum() > 1000
    assert np.array_equal(sep[lonely], labels[lonely])


def test_three_class_target():
    labels = np.zeros((30, 50), np.int32)
    labels[5:25, 5:25] = 1
    labels[5:25, 25:45] = 2
    target = targets.separate_touching(labels, gap=2, mode="3class")
    assert set(np.unique(target)) == {0, 1, 2}
    assert np.all(target[labels == 0] == 0)
    assert np.all(target[5:25, 24:26] == 2) and np.all(target[5, 5:45] == 2)
    assert np.all(target[6:24, 6:23] == 1)
    binary = targets.separate_touching(labels, gap=2)
    assert set(np.unique(binary)) == {0, 1} and binary.dtype == np.uint8
    tgt, weights = wm.target_and_weights(labels, mode="3class")
    assert np.array_equal(tgt, target) and weights.dtype == np.float32
    assert weights[15, 24] > weights[15, 10]  # the gap is weighted heavily


@pytest.mark.parametrize("n", [0, 1])
def test_no_or_one_cell_has_no_border_term(n, distance_path):
    labels = np.zeros((32, 32), np.uint16)
    if n:
        labels[8:20, 8:20] = 9
    target, weights = wm.target_and_weights(labels)
    assert weights.dtype == np.float32 and weights.shape == labels.shape
    wc = wm.class_weight_values(target, "balanced", 2)
    np.testing.assert_array_equal(weights, wc[target].astype(np.float32))


def test_a_wide_sigma_on_a_small_image_adds_no_term_for_one_cell(distance_path):
    # The compiled kernels' "no second cell" value (2 reach^2 + 1) was read as a distance
    # when sigma's cut-off passed the image size: a border term of up to 8.9 beside one cell
    labels = np.zeros((1, 8), np.uint16)
    labels[0, :3] = 1
    np.testing.assert_array_equal(wm.weight_map(labels, sigma=20, class_weights="none"), 1)


def test_cells_far_apart_on_one_id_give_no_nan(distance_path):
    # Offsets over 46,341 px overflowed int32 when squared: NaN weights, a NaN loss
    labels = np.zeros((2, 100_000), np.uint16)
    labels[:, :3] = labels[:, -3:] = 1
    labels[:, 50_000:50_003], labels[:, 50_003:50_006] = 2, 3
    weights = wm.weight_map(labels)
    assert np.isfinite(weights).all() and weights[0, 50_006] > 2  # the term beside the pair


def test_a_whole_float_gap_is_taken_as_a_number_of_pixels():
    labels = np.zeros((16, 16), np.uint16)
    labels[2:14, 2:8], labels[2:14, 8:14] = 1, 2
    np.testing.assert_array_equal(wm.weight_map(labels, gap=2.0), wm.weight_map(labels, gap=2))
    np.testing.assert_array_equal(targets.separate_touching(labels, 2.0),
                                  targets.separate_touching(labels, 2))  # fmt: skip


# --------------------------------------------------------------------------- stacks


def test_stack_is_processed_plane_by_plane_with_progress():
    stack = np.stack([random_cells((64, 80), 20, seed=s) for s in range(3)])
    events = []
    target, weights = drain(wm.iter_target_and_weights(stack), events.append)
    assert events == [wm.WeightMapProgress(i, 3) for i in (1, 2, 3)]
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        events[0].done = 5
    for i in range(3):
        t, w = wm.target_and_weights(stack[i])
        np.testing.assert_array_equal(target[i], t)
        np.testing.assert_array_equal(weights[i], w)
    np.testing.assert_array_equal(wm.weight_map(stack), weights)


def test_dask_stack_is_lazy():
    da = pytest.importorskip("dask.array")
    stack = np.stack([random_cells((64, 80), 20, seed=s) for s in range(3)])
    lazy = da.from_array(stack, chunks=(1, 32, 40))
    target, weights = wm.target_and_weights(lazy)
    assert isinstance(weights, da.Array) and isinstance(target, da.Array)
    assert weights.dtype == np.float32 and weights.shape == stack.shape
    ref_t, ref_w = wm.target_and_weights(stack)
    np.testing.assert_array_equal(weights.compute(), ref_w)
    np.testing.assert_array_equal(target.compute(), ref_t)
    mask = np.ones(stack.shape, bool)
    mask[1] = False
    masked = wm.weight_map(lazy, mask=mask).compute()
    assert np.all(masked[1] == 0) and np.array_equal(masked[0], ref_w[0])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("labels", "kwargs", "message"),
    [
        (np.zeros((8, 8), np.float32), {}, "integer"),
        (np.full((8, 8), -1, np.int32), {}, ">= 0"),
        (np.zeros((8, 8, 3), np.uint8), {}, "RGB"),
        (np.zeros((0, 8), np.uint16), {}, "empty"),
        (np.zeros((8,), np.uint16), {}, "2D"),
        (np.zeros((8, 8), bool), {}, "boolean"),
        (np.zeros((8, 8), np.uint16), {"mask": np.ones((4, 4), bool)}, "same"),
        (np.zeros((8, 8), np.uint16), {"sigma": 0}, "sigma"),
        (np.zeros((8, 8), np.uint16), {"sigma": -2.0}, "sigma"),
        (np.zeros((8, 8), np.uint16), {"w0": float("nan")}, "w0"),
        (np.zeros((8, 8), np.uint16), {"gap": -1}, "gap"),
        (np.zeros((8, 8), np.uint16), {"class_weights": (1.0,)}, "2 finite numbers"),
        (np.zeros((8, 8), np.uint16), {"class_weights": "equal"}, "balanced"),
        (np.zeros((8, 8), np.uint16), {"mode": "4class"}, "mode"),
    ],
)
def test_bad_input_gives_clear_message(labels, kwargs, message):
    with pytest.raises(InputError, match=message):
        wm.weight_map(labels, **kwargs)


# --------------------------------------------------------------------------- speed


def _best_of(func, repeats=3):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def test_fast_distances_scale_with_pixels_not_cells(monkeypatch):
    """At the same cell density, 4x the pixels (so 4x the cells) costs about 4x the distance
    transform work, where the brute force costs 16x; and the fast version beats the brute
    force by a wide margin in time measured within one run."""
    from napari_unet.core.training import distances as weightmap_distances

    monkeypatch.setenv("NAPARI_UNET_NUMBA", "0")  # counts SciPy's transforms
    work = []
    real = ndimage.distance_transform_edt

    def counting(image, *args, **kwargs):
        work.append(image.size)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(weightmap_distances.ndimage, "distance_transform_edt", counting)
    per_pixel = {}
    for side, n in ((256, 160), (512, 640)):
        labels = random_cells((side, side), n, seed=7)
        work.clear()
        distances.border_distances(labels, 31.0)
        per_pixel[side] = sum(work) / labels.size
        assert per_pixel[side] < (len(np.unique(labels)) - 1) / 8  # brute force: one per cell
    assert per_pixel[512] < 1.25 * per_pixel[256]
    monkeypatch.undo()

    labels = random_cells((256, 256), 160, seed=7)
    t_fast = _best_of(lambda: distances.border_distances(labels, 31.0))
    t_brute = _best_of(lambda: brute_distances(labels), repeats=1)
    assert t_brute > 5 * t_fast
