"""Weight maps and targets, second hunt: gap checks, stacks and (Y, X, 1) arrays given to
the 2D functions, float32 overflow of the weights, and distances beyond 32767 px."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, drain
from napari_unet.core.training import distances, targets
from napari_unet.core.training import weightmap as wm
from napari_unet.core.training.pairs import make_pairs


def two_cells(shape=(10, 12)) -> np.ndarray:
    labels = np.zeros(shape, np.int32)
    labels[2:5, 2:5] = 1
    labels[2:5, 5:8] = 2
    return labels


# --------------------------------------------------------------------------- gap


BAD_GAPS = [None, float("nan"), float("inf"), [2], "2", True, -1, 1.5]

CALLS = {
    "separate_touching": lambda lab, gap: targets.separate_touching(lab, gap),
    "separated_labels": lambda lab, gap: targets.separated_labels(lab, gap),
    "weight_map": lambda lab, gap: wm.weight_map(lab, gap=gap),
    "target_and_weights": lambda lab, gap: wm.target_and_weights(lab, gap=gap),
    "iter_target_and_weights": lambda lab, gap: drain(wm.iter_target_and_weights(lab, gap=gap)),
    "make_pairs": lambda lab, gap: make_pairs([lab.astype(float)], [lab], gap=gap),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_gap_that_is_no_whole_number_is_an_input_error(call):
    # None, NaN, infinity and a list raised TypeError, ValueError or OverflowError (int(gap)
    # before any check; make_pairs in its cache key).
    for gap in BAD_GAPS:
        with pytest.raises(InputError, match="gap must be a whole number"):
            CALLS[call](two_cells(), gap)
    assert targets.check_gap(np.int64(2)) == 2 and targets.check_gap(2.0) == 2


# --------------------------------------------------------------------------- 2D functions


def test_separate_touching_reads_a_sample_axis_and_refuses_stacks_whatever_the_gap():
    lab = two_cells()
    for mode in targets.MODES:
        for gap in (0, 2):
            expected = targets.separate_touching(lab, gap, mode)
            assert np.array_equal(targets.separate_touching(lab[..., None], gap, mode), expected)
            for func in (targets.separate_touching, targets.separated_labels):
                args = (gap, mode) if func is targets.separate_touching else (gap,)
                with pytest.raises(InputError, match=r"2D image.*\(2, 10, 12\)"):
                    func(np.stack([lab, lab]), *args)


# --------------------------------------------------------------------------- mask


def test_a_mask_with_a_sample_axis_is_read_as_its_plane():
    lab = two_cells()
    mask = np.ones(lab.shape, bool)
    mask[:, 8:] = False
    t2, w2 = wm.target_and_weights(lab, mask=mask)
    for labels in (lab, lab[..., None]):
        t, w = wm.target_and_weights(labels, mask=mask[..., None])
        assert np.array_equal(t, t2) and np.array_equal(w, w2)
        t, w = drain(wm.iter_target_and_weights(labels, mask=mask[..., None]))
        assert np.array_equal(w, w2)
    # The message names the labels' shape as given, not the plane read from them.
    with pytest.raises(InputError, match=r"\(10, 12, 2\).*labels have shape \(10, 12, 1\)"):
        wm.target_and_weights(lab[..., None], mask=np.ones((10, 12, 2), bool))


# --------------------------------------------------------------------------- overflow


@pytest.mark.parametrize(
    "kwargs",
    [
        {"w0": 1e39},
        {"w0": 1e300},
        {"class_weights": (1e39, 1.0)},
        {"w0": 3e38, "class_weights": (1.0, 1e38)},
    ],
)
def test_weights_that_would_overflow_float32_are_refused(kwargs):
    # They gave inf weights with only a numpy RuntimeWarning.
    lab = np.zeros((20, 20), np.int32)
    lab[2:8, 2:8] = 1
    lab[2:8, 8:14] = 2
    with pytest.raises(InputError, match="at most 3.4"):
        wm.weight_map(lab, **kwargs)
    with pytest.raises(InputError, match="at most 3.4"):
        drain(wm.iter_target_and_weights(lab, **kwargs))
    for w0 in (1e38, float(np.finfo(np.float32).max)):  # the largest that fit
        assert np.isfinite(wm.weight_map(lab, w0=w0, class_weights="none")).all()


# --------------------------------------------------------------------------- long distances


def test_distances_beyond_32767_px_are_exact():
    # Offsets were clipped to 32767 px: d2 came out too small and the weight 27% too high.
    lab = np.zeros((1, 50000), np.int32)
    lab[0, 0] = 1
    lab[0, 40001] = 2
    x = np.arange(50000, dtype=np.float64)
    d1 = np.minimum(x, np.abs(x - 40001))
    d2 = np.maximum(x, np.abs(x - 40001))
    for sigma in (3e4, 1e5):
        w = wm.weight_map(lab, sigma=sigma, class_weights="none", gap=0)[0]
        expected = 1.0 + 10.0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
        expected[[0, 40001]] = 1.0
        np.testing.assert_allclose(w, expected, rtol=1e-5)
    got1, got2 = distances.border_distances(lab)  # an infinite cut-off raised OverflowError
    np.testing.assert_allclose(got1[0], np.where(lab[0] > 0, 0, d1), rtol=1e-6)
    np.testing.assert_allclose(got2[0], np.where(lab[0] == 1, 40001, d2), rtol=1e-6)
    # A cell longer than 32768 px with a short reach: far pixels get no term, near ones do.
    long = np.zeros((1, 40000), np.int32)
    long[0, :35000] = 1
    long[0, 35002:] = 2
    w = wm.weight_map(long, class_weights="none", gap=0)[0]
    assert np.all(w[:34000] == 1.0) and np.all(w[35010:] == 1.0)
    np.testing.assert_allclose(w[35000:35002], 1.0 + 10.0 * np.exp(-9 / 50), rtol=1e-6)
