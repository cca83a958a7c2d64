"""Normalisation as the model file records it; per plane, identical for numpy and dask."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError
from napari_unet.core.images.normalize import compute_stats, normalize


def test_percentile_maps_low_and_high_percentiles_to_0_and_1():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, (64, 80)).astype(np.uint16)
    out = normalize(img, {"method": "percentile", "low": 1, "high": 99})
    assert out.dtype == np.float32
    assert np.percentile(out, 1) == pytest.approx(0, abs=1e-5)
    assert np.percentile(out, 99) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_same_image_in_any_dtype_normalises_alike(dtype):
    base = np.linspace(0, 1, 50 * 40).reshape(50, 40)
    scale = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}[dtype]
    img = (base * scale).astype(dtype)
    np.testing.assert_allclose(normalize(img), normalize(base.astype(np.float32)), atol=0.02)


def test_dtype_method_divides_by_the_type_maximum():
    img = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(normalize(img, {"method": "dtype"}), [[0, 1]])


def test_per_channel_statistics():
    img = np.stack([np.arange(100.0).reshape(10, 10), 1000 + 10 * np.arange(100.0).reshape(10, 10)])
    out = normalize(img, {"method": "minmax"})
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)


def test_dask_plane_gives_the_same_statistics():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(1)
    img = rng.random((1, 3000, 1500)).astype(np.float32)  # big enough to be subsampled
    assert compute_stats(img) == compute_stats(da.from_array(img, chunks=(1, 700, 700)))


def test_nan_and_unknown_method_are_clear_errors():
    img = np.ones((1, 8, 8), np.float32)
    img[0, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        compute_stats(img)
    with pytest.raises(InputError, match="method"):
        compute_stats(np.ones((1, 4, 4)), {"method": "magic"})
