"""Metrics: hand-computed cases, scikit-image where it has the metric, a brute-force reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from skimage.metrics import adapted_rand_error

from napari_unet import InputError, evaluate, evaluate_many, iter_evaluate_many, summarize
from napari_unet.core.metrics import (
    DSB_THRESHOLDS,
    EvaluateProgress,
    instance_ious,
    match_instances,
    pixel_metrics,
)


def squares(shape=(40, 60), boxes=(), ids=None) -> np.ndarray:
    """A label image with one rectangle (r0, r1, c0, c1) per object."""
    lab = np.zeros(shape, dtype=np.uint16)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        lab[r0:r1, c0:c1] = ids[k] if ids else k + 1
    return lab


THREE = [(2, 12, 2, 12), (2, 12, 20, 30), (20, 30, 5, 15)]  # three 10x10 cells


def test_thresholds_are_the_dsb_ones():
    assert DSB_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_perfect_match_with_non_consecutive_ids():
    gt = squares(boxes=THREE, ids=[3, 70, 9000])
    pred = squares(boxes=THREE, ids=[5, 1, 2])
    m = match_instances(gt, pred)
    assert m.tp == (3,) * 10 and m.fp == (0,) * 10 and m.fn == (0,) * 10
    assert m.ap == (1.0,) * 10 and m.mean_ap == 1.0
    assert m.pq == m.sq == m.rq == 1.0
    r = evaluate(gt, pred)
    assert r["pixel_iou"] == r["pixel_dice"] == 1.0
    assert r["pixel_error"] == 0.0 == r["rand_error"]
    assert r["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0])


def test_one_missed_cell():
    gt = squares(boxes=THREE)
    pred = squares(boxes=THREE[:2])
    m = match_instances(gt, pred)
    assert (m.tp[0], m.fp[0], m.fn[0]) == (2, 0, 1)
    assert m.precision[0] == 1.0
    assert m.recall[0] == pytest.approx(2 / 3)
    assert m.f1[0] == pytest.approx(0.8)
    assert m.ap == pytest.approx((2 / 3,) * 10)
    # PQ: SQ = 1 (exact matches), RQ = TP / (TP + FP/2 + FN/2) = 2 / 2.5.
    assert m.sq == 1.0 and m.pq == pytest.approx(0.8)
    p = pixel_metrics(gt, pred)
    assert p["pixel_iou"] == pytest.approx(200 / 300)
    assert p["pixel_dice"] == pytest.approx(400 / 500)
    assert p["pixel_error"] == pytest.approx(100 / gt.size)
    assert p["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0])


def test_one_split_cell_and_strict_thresholds():
    # Cell 1 (10x10) is split into a 10x6 part (IoU 0.6) and a 10x4 part (IoU 0.4).
    gt = squares(boxes=THREE)
    pred = squares(boxes=[(2, 12, 2, 8), (2, 12, 8, 12), *THREE[1:]])
    m = match_instances(gt, pred, thresholds=(0.5, 0.55, 0.6, 0.65))
    assert m.tp == (3, 3, 2, 2), "IoU 0.6 must not match at threshold 0.6 (strictly greater)"
    assert m.fp == (1, 1, 2, 2) and m.fn == (0, 0, 1, 1)
    assert m.ap[0] == pytest.approx(3 / 4) and m.ap[2] == pytest.approx(2 / 5)
    assert m.mean_matched_iou[0] == pytest.approx((0.6 + 1 + 1) / 3)
    assert m.sq == pytest.approx(2.6 / 3)
    assert m.pq == pytest.approx(2.6 / 3 * 3 / (3 + 0.5))
    # The split leaves every pixel foreground: pixel scores are perfect, Rand is not.
    r = evaluate(gt, pred)
    assert r["pixel_iou"] == 1.0 and r["pixel_error"] == 0.0
    assert r["rand_error"] > 0.05
    assert r["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0])


@pytest.mark.parametrize(("left", "tp50"), [(10, 0), (12, 1)])
def test_one_merged_pair(left, tp50):
    # Two touching cells 10 x left and 10 x (20 - left) predicted as one 10x20 object.
    gt = squares(boxes=[(2, 12, 2, 2 + left), (2, 12, 2 + left, 22)])
    pred = squares(boxes=[(2, 12, 2, 22)])
    m = match_instances(gt, pred, thresholds=(0.5,))
    # Equal halves have IoU exactly 0.5 each, which is not > 0.5: no match at all.
    assert (m.tp[0], m.fp[0], m.fn[0]) == (tp50, 1 - tp50, 2 - tp50)
    r = evaluate(gt, pred)
    assert r["pixel_iou"] == 1.0
    assert r["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0])
    ious = sorted(instance_ious(gt, pred)[2])
    assert ious == pytest.approx(sorted([left / 20, (20 - left) / 20]))


def test_empty_prediction():
    gt = squares(boxes=THREE)
    pred = np.zeros_like(gt)
    r = evaluate(gt, pred)
    assert (r["n_gt"], r["n_pred"]) == (3, 0)
    p = r["per_threshold"][0]
    assert (p["tp"], p["fp"], p["fn"]) == (0, 0, 3)
    assert p["precision"] == p["recall"] == p["f1"] == p["ap"] == 0.0
    assert r["ap"] == r["pq"] == r["mean_matched_iou"] == 0.0
    assert r["pixel_iou"] == r["pixel_dice"] == 0.0
    assert r["pixel_error"] == pytest.approx(300 / gt.size)
    assert r["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0])


def test_empty_ground_truth():
    pred = squares(boxes=THREE)
    gt = np.zeros_like(pred)
    r = evaluate(gt, pred)
    p = r["per_threshold"][0]
    assert (p["tp"], p["fp"], p["fn"]) == (0, 3, 0)
    assert p["precision"] == p["recall"] == p["ap"] == 0.0
    assert r["pixel_iou"] == 0.0 and r["pixel_error"] == pytest.approx(300 / gt.size)
    # scikit-image ignores ground-truth background; with nothing left we report the worst.
    assert r["rand_error"] == 1.0


def test_both_empty_is_perfect_agreement():
    z = np.zeros((8, 8), dtype=np.int32)
    r = evaluate(z, z)
    assert r["ap"] == r["pq"] == r["pixel_iou"] == r["pixel_dice"] == 1.0
    assert r["pixel_error"] == r["rand_error"] == 0.0


def test_low_threshold_uses_optimal_assignment_not_greedy():
    # 1D cells: gt A = [0, 10), B = [10, 20); pred Y = [0, 3), X = [3, 16).
    # IoU(A, X) = 7/16, IoU(B, X) = 6/17, IoU(A, Y) = 3/10. Greedy by IoU takes A-X and
    # ends with one match; the best one-to-one matching is A-Y plus B-X.
    gt = np.repeat([1, 2], 10)[None]
    pred = np.array([2] * 3 + [1] * 13 + [0] * 4)[None]
    m = match_instances(gt, pred, thresholds=(0.25, 0.32, 0.4))
    assert m.tp == (2, 1, 1)
    assert m.sum_matched_iou[0] == pytest.approx(0.3 + 6 / 17)
    assert m.sum_matched_iou[1] == pytest.approx(7 / 16)


def test_input_errors():
    a = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(InputError, match="same shape"):
        evaluate(a, np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(InputError, match="float32.*integer label image"):
        evaluate(a, a.astype(np.float32))
    with pytest.raises(InputError, match="negative"):
        evaluate(a.astype(np.int16) - 1, a)
    with pytest.raises(InputError, match="thresholds"):
        match_instances(a, a, thresholds=(0.5, 1.0))
    with pytest.raises(InputError, match="empty"):
        evaluate(np.zeros((0, 3), int), np.zeros((0, 3), int))
    assert issubclass(InputError, ValueError)


def test_bool_masks_are_one_object_each():
    gt = squares(boxes=THREE) > 0
    r = evaluate(gt, gt)
    assert r["n_gt"] == 1 and r["ap"] == 1.0


def test_summarize_pooled_and_dataset_ap_are_labelled_and_differ():
    gt = squares(boxes=THREE)
    good = evaluate(gt, gt)
    bad = evaluate(gt, np.zeros_like(gt))
    s = summarize([good, good, bad])
    assert s["n_images"] == 3 and s["n_gt"] == 9 and s["n_pred"] == 6
    # DSB2018 dataset score: mean of per-image AP = (1 + 1 + 0) / 3.
    assert s["dataset_ap"] == pytest.approx(2 / 3)
    # Pooled: TP = 6, FP = 0, FN = 3 -> 6 / 9, also 2/3 here; recall and PQ differ.
    p = s["per_threshold"][0]
    assert (p["tp"], p["fp"], p["fn"]) == (6, 0, 3)
    assert p["recall"] == pytest.approx(6 / 9) and p["precision"] == 1.0
    assert s["pq"] == pytest.approx(6 / (6 + 1.5))
    assert s["pixel_iou"] == pytest.approx(600 / 900)
    assert s["pixel_error"] == pytest.approx(300 / (3 * gt.size))
    # Unequal images: pooled AP weighs cells, dataset AP weighs images.
    one = evaluate(squares(boxes=THREE[:1]), np.zeros_like(gt))
    s2 = summarize([good, one])
    assert s2["dataset_ap"] == pytest.approx(0.5)
    assert s2["ap"] == pytest.approx(3 / 4)
    with pytest.raises(InputError):
        summarize([])


def test_evaluate_is_json_serialisable():
    gt = squares(boxes=THREE)
    r = evaluate(gt, squares(boxes=THREE[1:]))
    back = json.loads(json.dumps(r, allow_nan=False))
    assert back["per_threshold"][0]["threshold"] == 0.5
    assert back["counts"]["pixels"] == gt.size


def test_evaluate_many_yields_progress_and_returns_total():
    gt = squares(boxes=THREE)
    gen = iter_evaluate_many([("a", gt, gt), ("b", gt, np.zeros_like(gt))], total=2)
    events = []
    with pytest.raises(StopIteration) as stop:
        while True:
            events.append(next(gen))
    per_image, total = stop.value.value
    assert events == [EvaluateProgress(1, 2, "a"), EvaluateProgress(2, 2, "b")]
    assert [r["name"] for r in per_image] == ["a", "b"]
    assert total["dataset_ap"] == pytest.approx(0.5)
    per_image2, total2 = evaluate_many([("a", gt, gt), ("b", gt, np.zeros_like(gt))])
    assert per_image2 == per_image and total2 == total  # the plain function drains it
    bad = iter_evaluate_many([("c.tif", gt, gt[:5])])
    with pytest.raises(InputError, match=r"^c\.tif: "):
        list(bad)


# --- real data: DSB2018 masks against a brute-force reference --------------------------


def perturb(gt: np.ndarray, seed: int) -> np.ndarray:
    """A plausible wrong prediction: dropped, merged, eroded, shifted and relabelled cells."""
    from scipy.ndimage import binary_erosion
    from skimage.morphology import disk

    rng = np.random.default_rng(seed)
    ids = np.unique(gt[gt > 0])
    pred = gt.astype(np.int64).copy()
    pred[np.isin(pred, rng.choice(ids, len(ids) // 10, replace=False))] = 0  # missed
    pred[np.isin(pred, ids[: len(ids) // 8])] = ids[0]  # merged into one
    eroded = np.isin(pred, rng.choice(ids, len(ids) // 3, replace=False))
    pred[eroded & ~binary_erosion(eroded, disk(2).astype(bool))] = 0  # shrunk
    pred = np.roll(pred, 1, axis=1)
    lut = rng.permutation(10**6)[: pred.max() + 1] + 1
    lut[0] = 0
    return lut[pred]  # scattered, non-consecutive ids


def reference_match(gt, pred, thresholds):
    """Dense IoU matrix, brute force; Hungarian maximum-cardinality matching."""
    g_ids = [i for i in np.unique(gt) if i]
    p_ids = [j for j in np.unique(pred) if j]
    iou = np.zeros((len(g_ids), len(p_ids)))
    for a, i in enumerate(g_ids):
        gm = gt == i
        for b in np.unique(pred[gm]):
            if b:
                pm = pred == b
                iou[a, p_ids.index(b)] = (gm & pm).sum() / (gm | pm).sum()
    tps = []
    for t in thresholds:
        ok = iou > t
        r, c = linear_sum_assignment(ok, maximize=True)
        tps.append(int(ok[r, c].sum()))
    return len(g_ids), len(p_ids), tps


@pytest.mark.parametrize("name", ["000_00071198d059", "tests_mask2d_256"])
def test_real_masks_against_reference_and_skimage(shared_data, name):
    path = shared_data / "dsb2018" / "masks" / f"{name}.tif"
    if not path.exists():
        path = next((shared_data / "stardist_nuclei2d").glob(f"{name}.tif"))
    import tifffile

    gt = tifffile.imread(path)
    pred = perturb(gt, seed=1)
    thresholds = (0.1, 0.3, *DSB_THRESHOLDS)
    m = match_instances(gt, pred, thresholds)
    n_gt, n_pred, tps = reference_match(gt, pred, thresholds)
    assert (m.n_gt, m.n_pred) == (n_gt, n_pred)
    assert list(m.tp) == tps
    assert 0 < m.tp[2] < n_gt, "the perturbation should leave some but not all cells matched"
    r = evaluate(gt, pred)
    assert r["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0], rel=1e-9)
    fg_g, fg_p = gt > 0, pred > 0
    assert r["pixel_iou"] == pytest.approx((fg_g & fg_p).sum() / (fg_g | fg_p).sum())
    assert r["pixel_error"] == pytest.approx((fg_g != fg_p).mean())


def test_huge_ids_give_the_same_scores_as_small_ids():
    gt = squares(boxes=THREE)
    pred = squares(boxes=[(2, 12, 2, 8), (2, 12, 8, 12), *THREE[1:]])
    small = evaluate(gt, pred)
    big_gt = gt.astype(np.uint64) * np.uint64(2**40)
    big_pred = pred.astype(np.int64) * (2**50) + (pred > 0)
    assert evaluate(big_gt, big_pred) == small


def voronoi(rng, shape, n) -> np.ndarray:
    """Random touching cells: nearest of n random seeds, with some background."""
    seeds = rng.integers(0, shape, size=(n, 2))
    yy, xx = np.indices(shape)
    d = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    lab = d.argmin(-1) + 1
    lab[rng.random(shape) < 0.15] = 0
    return lab * 3  # gaps in the ids


@pytest.mark.parametrize("seed", range(12))
def test_random_crowded_images_match_the_brute_force_reference(seed):
    """Many ambiguous low-IoU candidates: the cluster-wise Hungarian equals the global one."""
    rng = np.random.default_rng(seed)
    gt, pred = voronoi(rng, (24, 24), 9), voronoi(rng, (24, 24), 11)
    thresholds = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
    m = match_instances(gt, pred, thresholds)
    n_gt, n_pred, tps = reference_match(gt, pred, thresholds)
    assert (m.n_gt, m.n_pred, list(m.tp)) == (n_gt, n_pred, tps)
    g_ids, p_ids, iou = instance_ious(gt, pred)
    assert set(np.unique(g_ids)) <= set(np.unique(gt)) - {0}
    assert np.all((iou > 0) & (iou <= 1))


def test_many_small_objects_use_the_sparse_path_and_agree_with_the_reference():
    # 400 objects of 2x2 pixels: a dense (gt x pred) table would be 100x the pixel list.
    gt = np.kron(np.arange(1, 401).reshape(20, 20), np.ones((2, 2), dtype=np.int64))
    pred = np.roll(gt, 1, axis=1) * 7
    pred[:, :1] = 0
    thresholds = (0.2, 0.3, 0.5)
    m = match_instances(gt, pred, thresholds)
    n_gt, n_pred, tps = reference_match(gt, pred, thresholds)
    assert (m.n_gt, m.n_pred, list(m.tp)) == (n_gt, n_pred, tps)
    assert m.tp[1] == 400 and m.tp[2] == 0  # every pair overlaps at IoU 2/6
    assert evaluate(gt, pred)["rand_error"] == pytest.approx(adapted_rand_error(gt, pred)[0])


def test_region_scores_only_objects_mostly_inside_and_keeps_them_whole():
    from napari_unet.core.metrics import restrict_to_region

    gt = np.zeros((20, 40), np.uint32)
    gt[2:8, 2:8] = 7  # inside the region (left half)
    gt[2:8, 17:23] = 4_000_000_000  # straddles the border, 3/6 columns inside: kept whole
    pred = gt.copy()
    pred[12:18, 30:36] = 9  # a predicted cell in the unannotated right half: not an FP
    pred[12:18, 2:8] = 5  # a predicted cell inside with no true cell: an FP
    region = np.zeros(gt.shape, bool)
    region[:, :20] = True
    g, p = restrict_to_region(gt, pred, region)
    assert g.dtype == gt.dtype and set(np.unique(g)) == {0, 7, 4_000_000_000}
    assert (g == 4_000_000_000).sum() == 36  # all of its pixels, outside ones too
    assert set(np.unique(p)) == {0, 5, 7, 4_000_000_000}
    scores = evaluate(g, p)["per_threshold"][0]
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 1, 0)
    unrestricted = evaluate(gt, pred)["per_threshold"][0]
    assert unrestricted["fp"] == 2  # the unannotated cell would count against the model


def test_region_bad_input():
    from napari_unet.core.metrics import restrict_to_region

    a = np.zeros((4, 4), np.uint16)
    with pytest.raises(InputError, match="region has shape"):
        restrict_to_region(a, a, np.ones((3, 4), bool))
    with pytest.raises(InputError, match="empty"):
        restrict_to_region(a, a, np.zeros((4, 4), bool))


def test_lazy_label_images_are_scored_like_arrays(tmp_path):
    """``read_image`` gives Zarr stores as dask arrays, which the metrics refused."""
    from napari_unet import evaluate, match_instances, restrict_to_region
    from napari_unet.core.images.io import read_image, write_image

    truth = np.zeros((64, 64), np.int32)
    truth[4:20, 4:20], truth[30:50, 30:50] = 1, 2
    write_image(tmp_path / "gt.zarr", truth)
    write_image(tmp_path / "pred.zarr", np.roll(truth, 2, axis=1))
    gt, pred = read_image(tmp_path / "gt.zarr"), read_image(tmp_path / "pred.zarr")
    expected = evaluate(np.asarray(gt), np.asarray(pred))["ap"]
    assert evaluate(gt, pred)["ap"] == expected
    assert match_instances(gt, pred).n_gt == 2
    assert restrict_to_region(gt, pred, np.ones((64, 64), bool))[0].max() == 2
