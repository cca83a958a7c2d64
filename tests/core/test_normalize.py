"""Normalisation as the model file records it; per plane, identical for numpy and dask."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError
from napari_unet.core.images.normalize import compute_stats, normalize


def test_percentile_maps_low_and_high_percentiles_to_0_and_1():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 4000, (64, 80)).astype(np.uint16)
    spec = {"method": "percentile", "low": 1, "high": 99, "noise_floor": 0}  # noise alone
    out = normalize(img, spec)
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


# -- the noise floor of percentile normalisation ----------------------------------------------


def _noise_field(level=100.0, sd=5.0, shape=(160, 160), seed=0):
    return (level + np.random.default_rng(seed).normal(0, sd, shape)).astype(np.float32)[None]


def test_a_field_of_noise_alone_is_not_stretched_to_the_whole_range():
    from napari_unet.core.images.normalize import NOISE_FLOOR, noise_range

    field = _noise_field()
    noise = noise_range(field)[0]
    assert 20 < noise < 35  # about the 1-99.8 span of the noise (5.2 sd)
    stretched = compute_stats(field, {"method": "percentile", "noise_floor": 0})
    floored = compute_stats(field)
    assert floored.offset == stretched.offset  # the dark end stays where it is
    assert floored.scale[0] >= NOISE_FLOOR * noise - 1e-6 > 2 * stretched.scale[0]


def test_the_builtin_model_finds_no_cells_in_a_field_of_noise():
    pytest.importorskip("torch")
    import warnings

    from napari_unet import pretrained, segment

    model, meta = pretrained("nuclei")
    field = _noise_field()[0]
    spec = {**meta["normalization"], "noise_floor": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert segment(model, field, metadata={**meta, "normalization": spec}).max() > 10
        assert segment(model, field, metadata=meta).max() == 0


def test_images_with_cells_are_normalised_as_before():
    from napari_unet.sample_data import nuclei_data

    image = nuclei_data()[0][None]
    assert compute_stats(image) == compute_stats(image, {"method": "percentile", "noise_floor": 0})
    noisy = image + np.random.default_rng(1).normal(0, 10, image.shape)  # noisy, but cells
    assert compute_stats(noisy) == compute_stats(noisy, {"method": "percentile", "noise_floor": 0})


def test_a_bright_background_grows_the_range_downward():
    field = _noise_field(level=200.0)
    plain = compute_stats(field, {"method": "percentile", "noise_floor": 0})
    floored = compute_stats(field, {"method": "percentile", "background": "bright"})
    top = plain.offset[0] + plain.scale[0]
    assert floored.offset[0] < plain.offset[0]
    assert floored.offset[0] + floored.scale[0] == pytest.approx(top)  # dark cells go below


def test_numpy_and_dask_planes_get_the_same_floor():
    da = pytest.importorskip("dask.array")
    field = _noise_field(shape=(300, 260))
    assert compute_stats(da.from_array(field, chunks=(1, 64, 64))) == compute_stats(field)


def test_the_noise_floor_setting_is_checked():
    with pytest.raises(InputError, match="noise_floor"):
        compute_stats(_noise_field(), {"method": "percentile", "noise_floor": -1})
    with pytest.raises(InputError, match="noise_floor"):
        compute_stats(_noise_field(), {"method": "percentile", "noise_floor": "high"})
    with pytest.raises(InputError, match="background must be"):
        compute_stats(_noise_field(), {"method": "percentile", "background": "grey"})


def test_the_predictor_grows_the_range_away_from_its_models_background():
    pytest.importorskip("torch")
    import warnings

    from napari_unet import Predictor, pretrained, segment

    model, meta = pretrained("nuclei-brightfield")
    assert Predictor(model, metadata=meta).spec["background"] == "bright"
    field = _noise_field(level=200.0)[0]  # an empty brightfield field
    spec = {**meta["normalization"], "noise_floor": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stretched = segment(model, field, metadata={**meta, "normalization": spec}).max()
        assert segment(model, field, metadata=meta).max() < max(stretched, 1)
