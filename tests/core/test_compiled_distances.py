"""numba's compiled border distances: exact against the brute force where SciPy's windows are.

The weight-map tests in test_weightmap.py run on both paths; these cover what only the compiled
path has: its key layouts, thin images, the cut-off it hands to SciPy, and that it is used.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_weightmap import brute_distances, brute_weights, random_cells

from napari_unet.core.training import compiled, distances
from napari_unet.core.training import weightmap as wm

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _compiled_on(monkeypatch):
    monkeypatch.setenv("NAPARI_UNET_NUMBA", "1")


def _check_squared(labels, reach):
    sq1, sq2 = compiled.squared_border_distances(labels, reach)
    b1, b2 = brute_distances(labels)
    limit = reach * reach
    for fast, slow in ((sq1, b1), (sq2, b2)):
        exact = slow * slow <= limit + 0.5
        np.testing.assert_array_equal(fast[exact], np.rint(slow[exact] ** 2).astype(np.int32))
        assert np.all(fast[~exact] > limit)  # beyond the reach: never a false small value


@pytest.mark.parametrize("reach", [1, 4, 31])
def test_squared_distances_equal_brute_force(reach):
    labels = random_cells((120, 150), 60, seed=5)
    _check_squared(labels, reach)


def test_wide_keys_for_large_ids_equal_brute_force():
    """Ids that need more bits than int32 keys hold are packed into int64 keys."""
    labels = random_cells((100, 90), 40, seed=6)
    labels = np.where(labels > 0, labels + 2**22, 0).astype(np.int64)
    assert compiled._key_layout(31, int(labels.max()))[2] is np.int64
    assert compiled._key_layout(31, 4000)[2] is np.int32
    _check_squared(labels, 31)


@pytest.mark.parametrize("shape", [(1, 80), (80, 1), (3, 3), (40, 7)])
def test_thin_images_equal_brute_force(shape):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, shape).astype(np.int32) * (rng.random(shape) < 0.3)
    _check_squared(labels, 31)


def test_weight_map_uses_the_compiled_path(monkeypatch):
    """With numba installed the weight map never reaches SciPy's windows."""

    def refuse(*args, **kwargs):
        raise AssertionError("SciPy's windows were used")

    monkeypatch.setattr(distances, "border_distances", refuse)
    labels = random_cells(seed=8)
    np.testing.assert_allclose(wm.weight_map(labels), brute_weights(labels), rtol=1e-5)


def test_long_cutoff_falls_back_to_scipy(monkeypatch):
    """Beyond the longest reach served (a wide sigma), SciPy's windows take over, still exact."""
    labels = random_cells((96, 96), 20, seed=9)
    sigma = 30.0  # cut-off about 190 px
    assert not compiled.fits(190, int(labels.max()))
    used = []
    real = distances.border_distances
    monkeypatch.setattr(
        distances, "border_distances", lambda *a, **k: used.append(1) or real(*a, **k)
    )
    np.testing.assert_allclose(
        wm.weight_map(labels, sigma=sigma), brute_weights(labels, sigma=sigma), rtol=1e-5
    )
    assert used


@pytest.mark.parametrize("mode", ["binary", "3class"])
def test_compiled_and_scipy_weights_agree(monkeypatch, mode):
    from napari_unet import touching_cells

    _, labels = touching_cells((256, 256), n_cells=90, seed=2)
    mask = np.zeros(labels.shape, bool)
    mask[10:240, 30:250] = True
    target, fast = wm.target_and_weights(labels, mode=mode, mask=mask)
    monkeypatch.setenv("NAPARI_UNET_NUMBA", "0")
    assert not compiled.available()
    target_scipy, slow = wm.target_and_weights(labels, mode=mode, mask=mask)
    np.testing.assert_array_equal(target, target_scipy)
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=0)
    assert np.count_nonzero(fast > 4) > 500  # the border term is there, in the gaps


@pytest.mark.parametrize("cut", [9.7, 12.9, 31.3])
def test_border_term_covers_exactly_the_pixels_within_the_cutoff(cut):
    """With zero class weights the weight is the term alone: it must be set on every pixel
    outside the cells with ``d1 + d2 <= cut`` (brute force) and nowhere else, including
    pixels whose nearest cell lies between ``floor(cut / 2)`` and ``cut / 2`` away."""
    labels = random_cells((150, 170), 90, seed=11)
    outside = labels == 0
    target = (labels > 0).astype(np.uint8)
    weights = np.zeros(labels.shape, np.float32)
    sigma = 50.0  # a flat term, so every pixel within the cut-off gets a clearly non-zero one
    compiled.add_border_term(weights, labels, outside, target, np.zeros(2), 1.0, sigma, cut)
    d1, d2 = brute_distances(labels)
    total = d1 + d2
    within = outside & (total <= cut - 1e-9)
    edge = outside & (np.abs(total - cut) <= 1e-9)
    assert np.count_nonzero(within & (d1 > np.floor(cut / 2))) > 0  # the case is present
    np.testing.assert_array_equal((weights > 0) & ~edge, within)
    expected = np.exp(-(total[within] ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(weights[within], expected, rtol=1e-6)


def test_by_default_only_large_images_take_the_compiled_path(monkeypatch):
    """Unset, ``NAPARI_UNET_NUMBA`` leaves images under a megapixel to SciPy (faster than
    loading the compiled kernels) and gives larger ones to numba; 0 and 1 override."""
    monkeypatch.delenv("NAPARI_UNET_NUMBA")
    assert not compiled.wanted(compiled.MIN_PIXELS - 1)
    assert compiled.wanted(compiled.MIN_PIXELS)
    used = []
    real = distances.border_distances
    monkeypatch.setattr(
        distances, "border_distances", lambda *a, **k: used.append(a[0].size) or real(*a, **k)
    )
    small = random_cells((96, 96), 20, seed=12)
    wm.weight_map(small)
    assert used == [small.size]
    big = np.tile(small, (11, 11))  # 1056 x 1056: over a megapixel
    wm.weight_map(big)
    assert used == [small.size]  # numba, not SciPy
    monkeypatch.setenv("NAPARI_UNET_NUMBA", "0")
    wm.weight_map(big)
    assert used == [small.size, big.size]
    monkeypatch.setenv("NAPARI_UNET_NUMBA", "1")
    assert compiled.wanted(1)


def test_a_numba_that_cannot_compile_falls_back_to_scipy(monkeypatch):
    """A broken numba warns once and leaves the weight maps to SciPy, with the same result."""
    from napari_unet.core.training import kernels

    class BrokenNumba:
        @staticmethod
        def njit(**options):
            def decorate(function):
                def fail(*args):
                    raise RuntimeError("LLVM cannot target this CPU")

                return fail

            return decorate

    originals = {name: getattr(kernels, name) for name in compiled._KERNELS}
    monkeypatch.setattr(compiled, "_STATE", {"compiled": False, "broken": None})
    monkeypatch.setattr(compiled, "_numba", lambda: BrokenNumba)
    labels = random_cells(seed=13)
    with pytest.warns(RuntimeWarning, match="numba could not compile.*SciPy instead"):
        weights = wm.weight_map(labels)
    np.testing.assert_allclose(weights, brute_weights(labels), rtol=1e-5)
    assert not compiled.available() and not compiled.wanted(10**9)
    assert {name: getattr(kernels, name) for name in compiled._KERNELS} == originals
    with pytest.raises(RuntimeError, match="cannot run the weight-map kernels"):
        compiled.squared_border_distances(labels, 31)
