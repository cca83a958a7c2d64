"""Tile arithmetic: mirroring, grids that cover every pixel once, windows that sum to one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_unet import InputError
from napari_unet.core.inference import tiling
from napari_unet.core.models import TileGeometry

VALID = TileGeometry(n_pools=3, padding="valid")
SAME = TileGeometry(n_pools=3, padding="same")


def test_mirror_indices_match_numpy_reflect_and_do_not_depend_on_pad_width():
    x = np.arange(7)
    for pad in (1, 3, 6):
        np.testing.assert_array_equal(
            x[tiling.mirror_indices(-pad, 7 + pad, 7)], np.pad(x, pad, mode="reflect")
        )
    # Any coordinate maps to the same pixel however far the padding reaches.
    wide = tiling.mirror_indices(-40, 50, 7)
    np.testing.assert_array_equal(wide[40 - 3 : 40 + 10], tiling.mirror_indices(-3, 10, 7))


def test_mirror_of_a_one_pixel_strip_repeats_it():
    np.testing.assert_array_equal(tiling.mirror_indices(-5, 6, 1), np.zeros(11, int))
    with pytest.raises(InputError):
        tiling.mirror_indices(0, 3, 0)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 700), tile=st.one_of(st.none(), st.integers(1, 400)))
def test_valid_tiles_abut_and_cover_every_pixel_once(length, tile):
    plan = tiling.plan_axis(length, VALID, tile)
    count = np.zeros(length, int)
    for t in plan.tiles():
        assert VALID.is_legal(t.in_stop - t.in_start)
        # Output tiles start on the pooling grid, so each tile sees a whole-image's pooling.
        assert (t.out_start - t.offset) % VALID.divisor == 0
        assert t.in_start == t.out_start - t.offset - VALID.halo
        assert t.offset + t.out_stop - t.out_start <= VALID.output_size(plan.tile_in)
        count[t.out_start : t.out_stop] += 1
    np.testing.assert_array_equal(count, 1)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 700), tile=st.one_of(st.none(), st.integers(8, 400)))
def test_blended_weights_sum_to_one(length, tile):
    plan = tiling.plan_axis(length, SAME, tile)
    total = np.zeros(length)
    for t in plan.tiles():
        assert SAME.is_legal(t.in_stop - t.in_start) and t.in_start % SAME.divisor == 0
        total[t.out_start : t.out_stop] += t.weights
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_region_tiles_are_the_global_tiles_of_that_region():
    plan = tiling.plan_axis(500, VALID, 100)
    region = plan.tiles(130, 333)
    assert region[0].out_start == 130 and region[-1].out_stop == 333
    starts = {t.in_start for t in plan.tiles()}
    assert {t.in_start for t in region} <= starts


def test_fade_window_is_zero_at_inner_edges_and_one_at_the_border():
    w = tiling.fade_window(64, 0, 20)
    assert w[0] == 1 and w[40] == 1 and w[-1] == 0
    assert np.all(np.diff(w) <= 0)


def test_default_valid_tiles_keep_computed_pixels_low():
    # Balanced tiles of ~1000 px for the 3-pooling net: computed input / output <= 1.35.
    plans = [tiling.plan_axis(n, VALID, 1000) for n in (4096, 4096)]
    assert tiling.computed_ratio(plans) <= 1.35


def test_empty_axis_and_bad_region_are_refused():
    with pytest.raises(InputError):
        tiling.plan_axis(0, VALID, 100)
    with pytest.raises(InputError):
        tiling.plan_axis(10, VALID, 100).tiles(5, 20)
