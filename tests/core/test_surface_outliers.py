"""Dark outliers (NoData values, dead pixels) are not read as uneven light."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.core.images import surface
from napari_unet.core.images.background import UNEVEN, estimate, find, fit


def lit(image: np.ndarray, rise: float) -> np.ndarray:
    """``image`` with light rising by ``rise`` times its range along the diagonal."""
    span = float(image.max() - image.min())
    h, w = image.shape[-2:]
    ramp = rise / 2 * np.add.outer(np.linspace(0, 1, h), np.linspace(0, 1, w)) * span
    return (image + ramp).astype(np.float32)


def spoiled(image: np.ndarray, value: float, fraction: float = 2e-4, seed: int = 0):
    """``image`` with ``fraction`` of its pixels (at least 3) set to ``value``."""
    out = np.array(image, np.float32)
    flat = out.reshape(-1)
    k = max(3, round(fraction * flat.size))
    flat[np.random.default_rng(seed).choice(flat.size, k, replace=False)] = value
    return out


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    image, _ = touching_cells((256, 256), n_cells=30, seed=1)
    return image[None].astype(np.float32)  # (C, H, W), bright cells on a dark background


@pytest.mark.parametrize("value", [-32768.0, -9999.0])
def test_nodata_pixels_leave_an_evenly_lit_plane_even(cells, value):
    bad = spoiled(cells, value)
    span = np.ptp(cells)
    np.testing.assert_allclose(
        estimate(bad, bright=False), estimate(cells, bright=False), atol=0.02 * span
    )
    assert find(bad, bright=False).uneven < UNEVEN  # "auto" leaves it as it is


def test_nodata_pixels_do_not_bend_the_surface_of_uneven_light(cells):
    shaded = lit(cells, 1.5)
    bad = spoiled(shaded, -32768.0)
    span = np.ptp(shaded)
    np.testing.assert_allclose(
        estimate(bad, bright=False), estimate(shaded, bright=False), atol=0.02 * span
    )


def test_saturated_spots_do_not_lift_a_bright_background(cells):
    bright = cells.max() - lit(cells, 1.0)  # dark cells on a bright, unevenly lit field
    bad = spoiled(bright, 65535.0)
    span = np.ptp(bright)
    np.testing.assert_allclose(
        estimate(bad, bright=True), estimate(bright, bright=True), atol=0.02 * span
    )


@pytest.mark.parametrize("rise", [0.0, 1.5])
@pytest.mark.parametrize("bright", [False, True])
def test_a_plane_without_outliers_gets_exactly_the_same_surface(cells, monkeypatch, rise, bright):
    plane = lit(cells, rise) if not bright else cells.max() - lit(cells, rise)
    noisy = plane + np.random.default_rng(2).normal(0, 0.05 * np.ptp(plane), plane.shape)
    for image in (plane, noisy.astype(np.float32)):
        now = fit(image, bright)
        monkeypatch.setattr(surface, "_clipped", lambda small, bright: small)  # no clip
        np.testing.assert_array_equal(now, fit(image, bright))
        monkeypatch.undo()


def test_nodata_pixels_segment_as_with_the_light_kept():
    torch = pytest.importorskip("torch")
    from napari_unet import evaluate, pretrained, segment
    from napari_unet.sample_data import nuclei_data

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machines
    try:
        model, meta = pretrained("nuclei")
        image, truth = nuclei_data()
        bad = spoiled(image, -32768.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            auto = segment(model, bad, metadata=meta)  # background "auto", the default
            kept = segment(model, bad, metadata=meta, background="keep")
    finally:
        torch.set_num_threads(n)
    np.testing.assert_array_equal(auto, kept)
    assert evaluate(truth, auto)["per_threshold"][0]["ap"] > 0.6  # 0.65 on the clean image
