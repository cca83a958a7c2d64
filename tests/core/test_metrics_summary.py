"""Totals over images (empty images left out of image means), colour labels, progress inside
a large image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_unet import InputError, evaluate, iter_evaluate_many, summarize
from napari_unet.core.metrics import EvaluateProgress, summary_row
from napari_unet.core.metrics import contingency as contingency_module

THREE = [(2, 12, 2, 12), (2, 12, 20, 30), (20, 30, 5, 15)]


def squares(shape=(40, 60), boxes=()) -> np.ndarray:
    lab = np.zeros(shape, dtype=np.int32)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        lab[r0:r1, c0:c1] = k + 1
    return lab


def ten_planes() -> tuple[np.ndarray, np.ndarray]:
    """Nuclei on planes 4 and 5 of 10; a prediction that finds nothing at all."""
    gt = np.zeros((10, 40, 60), np.int32)
    gt[4], gt[5] = squares(boxes=THREE), squares(boxes=THREE[:2])
    return gt, np.zeros_like(gt)


def test_planes_empty_on_both_sides_are_left_out_of_the_image_means():
    gt, pred = ten_planes()
    results = [evaluate(g, p) for g, p in zip(gt, pred, strict=True)]
    s = summarize(results)
    # A prediction that found nothing scores 0, not 0.8 (8 empty planes counted as 1.0).
    assert s["dataset_ap"] == 0.0
    assert [p["dataset_ap"] for p in s["per_threshold"]] == [0.0] * 10
    assert s["n_images"] == 10 and s["n_empty"] == 8
    assert s["rand_error"] == pytest.approx(
        np.mean([results[4]["rand_error"], results[5]["rand_error"]])
    )
    # The per-image rows and the pooled numbers are as before.
    assert results[0]["ap"] == 1.0 and s["ap"] == 0.0


def test_a_good_image_beside_empty_ones_scores_as_itself():
    gt = squares(boxes=THREE)
    half = squares(boxes=THREE[:1])
    z = np.zeros_like(gt)
    s = summarize([evaluate(z, z), evaluate(gt, half), evaluate(z, z)])
    alone = evaluate(gt, half)
    assert s["dataset_ap"] == pytest.approx(alone["ap"])
    assert s["per_threshold"][0]["dataset_ap"] == pytest.approx(1 / 3)
    assert s["rand_error"] == pytest.approx(alone["rand_error"])
    assert s["n_empty"] == 2
    # An image empty on one side only is scored: a false cell, or a missed one.
    s2 = summarize([evaluate(z, half), evaluate(gt, gt)])
    assert s2["dataset_ap"] == pytest.approx(0.5) and s2["n_empty"] == 0


def test_when_every_image_is_empty_there_is_no_image_mean():
    z = np.zeros((8, 8), np.int32)
    s = summarize([evaluate(z, z), evaluate(z, z)])
    assert s["n_empty"] == 2
    assert s["dataset_ap"] is None and s["rand_error"] is None
    assert all(p["dataset_ap"] is None for p in s["per_threshold"])
    json.dumps(s, allow_nan=False)  # no NaN in the JSON file
    assert summary_row(s)["Rand err"] is None


def test_colour_label_arrays_are_refused_but_stacks_of_three_planes_are_not():
    gt = squares(boxes=THREE)
    lut = np.array([[0, 0, 0], [200, 10, 10], [10, 200, 10], [10, 10, 200]], np.uint8)
    with pytest.raises(InputError, match="colour"):
        evaluate(lut[gt], lut[gt])
    rgba = np.concatenate([lut[gt], np.full((*gt.shape, 1), 255, np.uint8)], axis=-1)
    with pytest.raises(InputError, match="colour"):
        evaluate(rgba, rgba)
    # A genuine (Z, Y, X) stack of 3 or 4 planes is a volume, as before.
    for z in (3, 4):
        stack = np.stack([gt] * z)
        assert evaluate(stack, stack)["ap"] == 1.0
    # So is a small volume whose last axis is not much smaller than the others.
    cube = np.zeros((4, 4, 4), np.int32)
    cube[1:3, 1:3, 1:3] = 1
    assert evaluate(cube, cube)["n_gt"] == 1


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dense", [True, False])
def test_chunked_counting_gives_the_same_scores(monkeypatch, seed, dense):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 40, (64, 80)).repeat(3, axis=1)  # runs of equal ids
    pred = np.roll(gt, 1, axis=0)
    pred[rng.random(pred.shape) < 0.05] = 0
    whole = evaluate(gt, pred, thresholds=(0.1, 0.3, 0.5))
    monkeypatch.setattr(contingency_module, "CHUNK", 1000)
    if not dense:  # the overlaps as a sorted list of pairs, not a dense table
        monkeypatch.setattr(contingency_module, "DENSE_TABLE", 0)
    chunked = evaluate(gt, pred, thresholds=(0.1, 0.3, 0.5))
    assert chunked == whole


def test_a_large_image_reports_progress_within_itself(monkeypatch):
    from napari_unet.core.metrics import EvaluateStep

    monkeypatch.setattr(contingency_module, "CHUNK", 1000)  # 40 x 60 pixels: 3 chunks
    gt = squares(boxes=THREE)
    gen = iter_evaluate_many([("big", gt, squares(boxes=THREE[1:]))], total=1)
    events = []
    with pytest.raises(StopIteration) as stop:
        while True:
            events.append(next(gen))
    steps = [e for e in events if isinstance(e, EvaluateStep)]
    assert len(steps) >= 3 and all(e.name == "big" for e in steps)
    fractions = [e.fraction for e in steps]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1
    assert events[-1] == EvaluateProgress(1, 1, "big")
    assert stop.value.value[1]["n_gt"] == 3
    # Images of one chunk report once, when done, as before.
    small = list(iter_evaluate_many([("s", gt[:10, :10], gt[:10, :10])], total=1))
    assert small == [EvaluateProgress(1, 1, "s")]
