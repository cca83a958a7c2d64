"""The pixel error inside an annotated region counts the region's pixels, not the image's."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.metrics import evaluate, evaluate_many, pixel_metrics


def cell_and_blob(size: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One annotated cell found, plus a false 16 x 4 blob, all in a 20 x 20 region."""
    gt = np.zeros((size, size), np.int32)
    gt[2:12, 2:12] = 1
    pred = gt.copy()
    pred[2:18, 14:18] = 2  # 64 wrong pixels
    region = np.zeros(gt.shape, bool)
    region[:20, :20] = True  # 400 annotated pixels
    return gt, pred, region


def test_pixel_error_is_the_fraction_of_the_region_that_is_wrong():
    gt, pred, region = cell_and_blob()
    result = evaluate(gt, pred, region=region)
    assert result["pixel_error"] == pytest.approx(64 / 400)
    assert result["counts"]["pixels"] == 400 and result["counts"]["wrong"] == 64
    assert pixel_metrics(gt, pred, region=region)["pixel_error"] == pytest.approx(64 / 400)
    assert result["n_gt"] == 1 and result["n_pred"] == 2  # the objects inside, as before


def test_objects_outside_the_region_are_left_out_of_the_pixel_error():
    gt, pred, region = cell_and_blob()
    pred[100:140, 100:140] = 3  # unannotated: outside the region
    assert evaluate(gt, pred, region=region)["pixel_error"] == pytest.approx(64 / 400)
    assert evaluate(gt, pred)["pixel_error"] == pytest.approx((64 + 1600) / gt.size)


def test_pooled_pixel_error_sums_wrong_pixels_over_the_regions_pixels():
    gt, pred, region = cell_and_blob()
    small = np.zeros_like(region)
    small[:20, :10] = True  # 200 pixels; the blob (columns 14..17) lies outside
    _, total = evaluate_many([("a", gt, pred, region), ("b", gt, pred, small)])
    assert total["pixel_error"] == pytest.approx((64 + 0) / (400 + 200))


def test_the_evaluate_dock_scores_pixels_inside_its_region():
    from napari_unet.core.progress import drain
    from napari_unet.widgets._workers import evaluate_job

    gt, pred, region = cell_and_blob()
    per_image, total = drain(evaluate_job([("img", gt, pred, region)], (0.5,), 1))
    assert per_image[0]["pixel_error"] == pytest.approx(64 / 400)
    assert total["pixel_error"] == pytest.approx(64 / 400)
