"""The auto model choice under uneven light.

Light that rises across the field lifts a fluorescence image's median: judged as recorded,
137 of the 426 DSB2018 fluorescence train and val images read as brightfield at a rise of their
whole range, and ``auto`` chose nuclei-brightfield, which finds nothing in them. A plane that
reads bright is now judged again with the light taken out
(:func:`napari_unet.core.images.contrast._unlit_level`).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from napari_unet.core.images.background import background_for
from napari_unet.core.images.contrast import (
    BRIGHT_BACKGROUND,
    background_kind,
    background_level,
    dark_on_bright,
)
from napari_unet.core.models.pretrained import choose_pretrained
from napari_unet.sample_data import nuclei_data


def _span(image: np.ndarray) -> float:
    low, high = np.percentile(image, (0.5, 99.5))
    return float(high - low)


def _ramp(image: np.ndarray, rise: float) -> np.ndarray:
    """Light rising along the diagonal by ``rise`` times the image's range."""
    rows, cols = (np.linspace(0.0, 1.0, n) for n in image.shape[:2])
    light = 0.5 * rise * (rows[:, None] + cols[None, :]) * _span(image)
    return image + (light[..., None] if image.ndim == 3 else light)


def _vignetting(image: np.ndarray, fall: float) -> np.ndarray:
    """Light brightest in the centre, falling by ``fall`` times the range to the corners."""
    rows, cols = (np.linspace(-1.0, 1.0, n) for n in image.shape[:2])
    light = fall * _span(image) * (1 - (rows[:, None] ** 2 + cols[None, :] ** 2) / 2)
    return image + (light[..., None] if image.ndim == 3 else light)


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_data()[0].astype(np.float32)


@pytest.mark.parametrize("light", [(_ramp, 1.5), (_ramp, 2.0), (_vignetting, 1.0)])
def test_fluorescence_under_uneven_light_reads_dark(nuclei, light):
    shade, strength = light
    lit = shade(nuclei, strength)
    assert choose_pretrained(lit) == "nuclei"
    assert background_kind(lit) == "dark"
    assert background_level(lit) < BRIGHT_BACKGROUND
    # brightfield under the same light stays brightfield
    assert choose_pretrained(shade(255.0 - nuclei, strength)) == "nuclei-brightfield"
    # a stack of such planes, and its colour version, alike
    assert choose_pretrained(np.stack([lit, nuclei, lit])) == "nuclei"
    assert not dark_on_bright(np.stack([lit] * 3, axis=-1))


def test_an_old_model_file_flattens_it_as_fluorescence(nuclei):
    """A model that records no background judged the plane itself: a closing was fitted."""
    lit = _ramp(nuclei, 1.5)[None]
    found = background_for(lit, "auto", bright=None)
    assert found is not None
    flat = found.subtract(lit)[0]
    # the opening's surface lies under the nuclei: the background is even and dark again
    corners = [flat[:40, :40], flat[-40:, -40:]]
    assert abs(np.median(corners[0]) - np.median(corners[1])) < 0.1 * _span(nuclei)
    assert background_level(flat) < 0.1


def test_images_too_small_to_fit_light_and_lazy_images_read_as_in_memory(nuclei):
    """No surface along a side under two windows; a lazy image of at most 4096 x 4096
    pixels is read whole and judged as in memory (over that, on its windows)."""
    small = _ramp(nuclei[:120, :120], 1.5)
    lo, mid, hi = np.percentile(small, (1.0, 50.0, 99.8))
    assert background_level(small) == pytest.approx((mid - lo) / (hi - lo))
    da = pytest.importorskip("dask.array")
    lit = _ramp(nuclei, 1.5)
    assert background_level(da.from_array(lit, chunks=64)) == pytest.approx(background_level(lit))


def test_auto_is_right_under_uneven_light_on_dsb2018_train_images(shared_data):
    """Every eighth train and val image (66, every kind), lit three ways, is read right."""
    folder = shared_data / "dsb2018_full"
    with open(folder / "index.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] != "test"][1::8]
    wrong = []
    for row in rows:
        image = np.asarray(Image.open(folder / "images" / f"{row['name']}.png"), np.float32)
        want = "nuclei" if row["group"].startswith("fluo") else "nuclei-brightfield"
        for shade, strength in [(_ramp, 1.0), (_ramp, 1.5), (_vignetting, 1.0)]:
            if choose_pretrained(shade(image, strength)) != want:
                wrong.append((row["name"], shade.__name__, strength))
    assert not wrong, wrong


@pytest.mark.parametrize("border", [8, 24])
def test_a_black_border_does_not_hide_the_light(nuclei, border):
    """The light is fitted inside a margin of padding: a border bent the fit (read bright)."""
    lit = np.pad(_ramp(nuclei, 1.5), border)  # a registration's black border
    assert choose_pretrained(lit) == "nuclei"
    assert choose_pretrained(np.pad(_ramp(255.0 - nuclei, 1.5), border)) == "nuclei-brightfield"
