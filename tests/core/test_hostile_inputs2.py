"""Careless inputs to prediction, second audit: dark outliers, hot pixels, an RGBA TIFF's
alpha, tiny float64 values, an absurd gap, and an empty field judged for contrast."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.core.images import normalize  # noqa: E402
from napari_unet.core.images.contrast import background_kind, background_level  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def nuclei():
    model, meta = nu.pretrained("nuclei")
    image, truth = nu.nuclei_data()  # 260 x 347 uint8 fluorescence, 125 nuclei
    return model, meta, image, truth


def _segment(nuclei, image, **kw):
    model, meta = nuclei[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nu.segment(model, image, metadata=meta, device="cpu", **kw)


def _noise_field(shape=(160, 160), hot: float = 0.0, seed: int = 0) -> np.ndarray:
    """A camera's empty field (offset 100, read noise 3), ``hot`` of its pixels at 4000."""
    rng = np.random.default_rng(seed)
    field = 100 + rng.normal(0, 3, shape)
    return np.where(rng.random(shape) < hot, 4000, field).clip(0).astype(np.uint16)


# -- 1. dark outliers are clipped as bright specks are ---------------------------------------


def test_dark_outliers_are_clipped_where_prediction_clips():
    image = nu.nuclei_data()[0].astype(np.int16)
    image[::37, ::41] = -32768  # a NoData value
    spec = {"method": "percentile", "low": 1.0, "high": 99.8, "clip": normalize.PREDICTION_CLIP}
    out = normalize.normalize(image, spec)
    assert out.min() == pytest.approx(normalize.DARK_CLIP)  # before: about -5000
    # nothing but the outliers reaches the clip; training (no clip) reads them as they are
    assert np.count_nonzero(out <= normalize.DARK_CLIP) == image[::37, ::41].size
    assert normalize.normalize(image, {**spec, "clip": 0}).min() < -100
    # dark nuclei on a bright background are image: clipped only far below
    bright = normalize.normalize(image, {**spec, "background": "bright"})
    assert bright.min() == pytest.approx(normalize.DARK_CLIP_BRIGHT)


def test_dark_outliers_do_not_wreck_the_segmentation(nuclei):
    image, truth = nuclei[2], nuclei[3]
    dark = image.astype(np.int16)
    dark[np.random.default_rng(0).random(image.shape) < 5e-4] = -32768
    ap = [nu.evaluate(truth, _segment(nuclei, x, background="keep", object_size=None),
                      thresholds=0.5)["ap"] for x in (image, dark)]  # fmt: skip
    assert ap[1] > ap[0] - 0.05, ap  # before: 0.87 -> 0.1


# -- 3. hot pixels keep the noise floor on ----------------------------------------------------


def test_hot_pixels_do_not_switch_off_the_noise_floor(nuclei):
    clean, hot = _noise_field(), _noise_field(hot=1e-3)
    floors = [normalize.noise_range(f[None].astype(np.float64))[0] for f in (clean, hot)]
    assert floors[1] == pytest.approx(floors[0], rel=0.25)  # before: 0 with the hot pixels
    assert _segment(nuclei, hot).max() == 0  # before: hundreds of "nuclei"


def test_the_noise_estimate_of_images_with_cells_is_kept(nuclei):
    image = nuclei[2][None].astype(np.float64)
    lo, hi = np.percentile(image, [1.0, 99.8])
    assert hi - lo > normalize.NOISE_FLOOR * normalize.noise_range(image)[0]  # floor off


# -- 4. an RGBA TIFF's alpha is never image ---------------------------------------------------


def test_a_tiff_alpha_is_dropped(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    grey = nu.nuclei_data()[0]
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, : grey.shape[1] // 2] = 0  # the left half transparent
    rgb = np.stack([grey] * 3, -1)
    for extra in ("unassalpha", "assocalpha"):
        path = tmp_path / f"{extra}.tif"
        tifffile.imwrite(path, np.concatenate([rgb, alpha[..., None]], -1), photometric="rgb",
                         extrasamples=[extra])  # fmt: skip
        assert np.array_equal(nu.read_image(path), rgb)  # before: (H, W, 4), alpha averaged
        assert np.array_equal(np.asarray(nu.read_image(path, lazy=True)), rgb)
    tifffile.imwrite(tmp_path / "ga.tif", np.stack([grey, alpha], -1), photometric="minisblack",
                     extrasamples=["unassalpha"], planarconfig="contig")  # fmt: skip
    assert np.array_equal(nu.read_image(tmp_path / "ga.tif"), grey)
    tifffile.imwrite(tmp_path / "x.tif", np.concatenate([rgb, alpha[..., None]], -1),
                     photometric="rgb", extrasamples=["unspecified"])  # fmt: skip
    assert nu.read_image(tmp_path / "x.tif").shape == (*grey.shape, 4)  # not alpha: kept


def test_four_channels_napari_unet_writes_stay_four(tmp_path):
    four = np.random.default_rng(0).integers(0, 255, (24, 20, 4)).astype(np.uint8)
    assert np.array_equal(nu.read_image(nu.write_image(tmp_path / "four.tif", four)), four)


# -- 5. float64 pixels of tiny values ---------------------------------------------------------


def test_tiny_float64_values_normalise_to_finite_values():
    image = nu.nuclei_data()[0].astype(np.float64) * 1e-60
    out = normalize.normalize(image)
    assert np.isfinite(out).all()  # before: all NaN (a scale of 0 in float32)
    assert np.allclose(out, normalize.normalize(image * 1e60), atol=1e-6)


def test_tiny_float64_values_segment_as_the_image(nuclei):
    image = nuclei[2]
    labels, probs = _segment(nuclei, image.astype(np.float64) * 1e-60,
                             object_size=None, return_probabilities=True)  # fmt: skip
    assert np.isfinite(probs).all()  # before: every probability NaN, 0 objects
    assert np.array_equal(labels, _segment(nuclei, image, object_size=None))


# -- 6. an absurd gap -------------------------------------------------------------------------


def test_a_huge_gap_is_refused_with_a_message(nuclei, tmp_path):
    from napari_unet.core.inference.postprocess import MAX_GAP, Postprocess

    with pytest.raises(nu.InputError, match=f"gap must be at most {MAX_GAP}"):
        _segment(nuclei, nuclei[2][:64, :64], gap=10**6)  # before: MemoryError
    Postprocess(gap=MAX_GAP)  # the limit itself is accepted
    model, meta = nuclei[:2]
    meta = {k: v for k, v in meta.items() if k != "tensors_sha256"}
    with pytest.raises(nu.InputError, match="separation_gap"):  # load_model refuses it too
        nu.save_model(tmp_path / "m.safetensors", model, **{**meta, "separation_gap": 10**6})
    assert not (tmp_path / "m.safetensors").exists()  # before: written, then refused


def test_growing_over_gaps_never_builds_a_disc_beyond_the_image():
    from napari_unet.core.inference.postprocess import close_gaps

    labels = np.zeros((20, 30), np.int32)
    labels[2:8, 2:8], labels[12:18, 20:28] = 1, 2
    assert np.array_equal(close_gaps(labels, 10**6), close_gaps(labels, 40))  # before: MemoryError


# -- 7. an empty field has no contrast to judge -----------------------------------------------


def test_an_empty_field_is_not_judged_bright():
    for field in (_noise_field((512, 512)), _noise_field((512, 512), hot=1e-3)):
        assert background_level(field) is None  # before: 0.47, "bright"
        assert background_kind(field) is None
        assert nu.choose_pretrained(field) == "nuclei"  # before: nuclei-brightfield
    # dark nuclei on a bright, noisy background still read bright
    rng = np.random.default_rng(1)
    bright = 200 + rng.normal(0, 3, (256, 256))
    yy, xx = np.mgrid[:256, :256]
    for y, x in rng.integers(20, 236, (12, 2)):
        bright[(yy - y) ** 2 + (xx - x) ** 2 < 64] -= 80
    assert background_kind(bright) == "bright"
