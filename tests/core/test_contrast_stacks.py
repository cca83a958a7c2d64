"""The background of a stack is judged plane by plane, as the network normalises each plane.

Pooled into one set of percentiles, a fluorescence time-lapse whose background drifts up
read as a bright background (``auto`` chose nuclei-brightfield and found nothing), and a
flattened Z stack (each plane at its own offset) was warned about as dark on bright.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.images.contrast import (
    BRIGHT_BACKGROUND,
    background_kind,
    background_level,
    dark_on_bright,
)
from napari_unet.core.models.pretrained import choose_pretrained
from napari_unet.sample_data import nuclei_data


@pytest.fixture(scope="module")
def nuclei() -> np.ndarray:
    return nuclei_data()[0].astype(np.float32)


def _old_level(values: np.ndarray) -> float:
    """The level as it was measured on single images, where the thresholds come from."""
    values = np.asarray(values, np.float64).ravel()
    low, mid, high = np.percentile(values[np.isfinite(values)], (1.0, 50.0, 99.8))
    return float((mid - low) / (high - low))


def test_a_drifting_fluorescence_time_lapse_reads_dark(nuclei):
    span = float(np.ptp(nuclei))
    # 10 frames, the background rising to 0.8 of the nuclei's range (0.8 / 9 a frame)
    frames = np.stack([nuclei + k / 9 * 0.8 * span for k in range(10)])
    each = [background_level(f) for f in frames]
    assert max(each) < BRIGHT_BACKGROUND
    assert background_level(frames) == pytest.approx(np.median(each))
    assert background_kind(frames) == "dark" and not dark_on_bright(frames)
    assert choose_pretrained(frames) == "nuclei"
    assert {choose_pretrained(f) for f in frames} == {"nuclei"}


def test_a_stack_of_planes_at_very_different_offsets_reads_like_its_planes(nuclei):
    span = float(np.ptp(nuclei))
    for offsets in [(0, 1, 2, 3, 4), (0, 2, 0.5, 3), (0, 4, 1, 6, 2, 8)]:
        stack = np.stack([nuclei + o * span for o in offsets])  # flattened Z planes, say
        assert background_level(stack) == pytest.approx(background_level(nuclei))
        assert background_kind(stack) == "dark"
        assert background_kind(span - stack) == "bright"  # brightfield planes alike
    # the median of the planes' levels: one plane that reads otherwise does not decide
    bright = nuclei.max() - nuclei
    assert background_kind(np.stack([nuclei, bright, nuclei + span])) == "dark"
    assert background_kind(np.stack([bright, nuclei, bright + 3 * span])) == "bright"


def test_planes_of_one_value_are_left_out(nuclei):
    level = background_level(nuclei)
    assert background_level(np.stack([nuclei, np.zeros_like(nuclei), nuclei])) == level
    assert background_level(np.stack([nuclei, np.full_like(nuclei, np.nan), nuclei])) == level
    assert background_level(np.zeros((3, 32, 32))) is None
    assert background_kind(np.full((4, 32, 32), 5.0)) is None


def test_a_single_image_reads_as_before(nuclei):
    """The thresholds were measured on single images: their level must not move."""
    image = nuclei_data()[0]
    assert background_level(image) == _old_level(image)
    assert background_level(image[None]) == _old_level(image)
    rng = np.random.default_rng(3)
    for power in (0.3, 1.0, 4.0):
        noise = (rng.random((120, 90)) ** power * 4000).astype(np.uint16)
        assert background_level(noise) == _old_level(noise)
        with_nan = noise.astype(np.float32)
        with_nan[rng.random(with_nan.shape) < 0.1] = np.nan
        assert background_level(with_nan) == _old_level(with_nan)


def test_padding_is_judged_plane_by_plane(nuclei):
    """A stack of bright tiles in black mosaics, each tile at its own offset."""
    h, w = nuclei.shape
    span = float(np.ptp(nuclei))
    tile = nuclei.max() - nuclei  # dark nuclei on a bright background
    mosaics = np.zeros((3, 2 * h, 2 * w), np.float32)
    for k in range(3):
        mosaics[k, :h, :w] = tile + 3 * k * span
    inside = background_level(tile)
    assert background_level(mosaics[1], trim=True) == pytest.approx(inside)
    assert background_level(mosaics, trim=True) == pytest.approx(inside)
    assert background_level(mosaics) < BRIGHT_BACKGROUND  # the padding is the median
    assert background_kind(mosaics) == "bright"
    assert choose_pretrained(mosaics) == "nuclei-brightfield"


def test_a_lazy_stack_is_judged_on_its_middle_plane(nuclei):
    da = pytest.importorskip("dask.array")
    span = float(np.ptp(nuclei))
    frames = np.stack([nuclei + k * span for k in range(5)])
    assert not dark_on_bright(da.from_array(frames, chunks=(1, 64, 64)))
    assert dark_on_bright(da.from_array(frames.max() - frames, chunks=(1, 64, 64)))
