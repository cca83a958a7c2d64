"""Few photons: a photon-limited plane is found and blurred a little before prediction."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from PIL import Image

from napari_unet import (
    Predictor,
    UNet,
    drain,
    evaluate,
    predict,
    pretrained,
    segment,
    summarize,
    touching_cells,
)
from napari_unet.core.errors import InputError
from napari_unet.core.images.photons import (
    FEW_PHOTONS,
    SIGMA,
    SIGMA_FEWEST,
    denoised,
    describe_denoised,
    photon_count,
    sigma_for,
)


def caught(image: np.ndarray, peak: float, seed: int = 0) -> np.ndarray:
    """``image`` as a photon-counting detector records it: ``peak`` photons at its brightest."""
    lo, hi = np.percentile(image, (0.5, 99.5))
    scaled = np.clip(image - lo, 0, None) / max(hi - lo, 1e-6) * peak + 0.5
    return np.random.default_rng(seed).poisson(scaled).astype(np.uint16)


@pytest.fixture(scope="module")
def cells() -> tuple[np.ndarray, np.ndarray]:
    image, labels = touching_cells((256, 256), n_cells=30, seed=1)
    return image.astype(np.float32), labels


@pytest.mark.parametrize("peak", [3, 5, 10])
def test_few_photons_are_found(cells, peak):
    assert photon_count(caught(cells[0], peak)) < FEW_PHOTONS


def test_clean_images_and_read_out_noise_are_not_photon_limited(cells):
    image = cells[0] * 1000.0
    assert photon_count(image) >= FEW_PHOTONS
    # Gaussian noise of 15% of the range does not grow with the signal: no photon noise.
    noisy = image + np.random.default_rng(0).normal(0, 150.0, image.shape)
    assert photon_count(noisy) >= FEW_PHOTONS
    # Uniform random values (a hypothesis test's image) vary least at both ends: no photons.
    assert photon_count(np.random.default_rng(0).random((256, 256))) == float("inf")
    assert photon_count(np.zeros((256, 256))) == float("inf")  # flat: nothing to tell
    assert photon_count(np.ones((20, 20))) == float("inf")  # too small to tell


def test_the_blur_grows_as_the_photons_fall():
    assert sigma_for(1000.0) == 0 and sigma_for(float("inf")) == 0
    assert sigma_for(20.0) == SIGMA
    assert sigma_for(3.0) == SIGMA_FEWEST > SIGMA


def test_denoised_blurs_only_a_photon_limited_plane_in_memory(cells):
    clean = cells[0][None] * 1000.0
    same, blur = denoised(clean, "auto")
    assert same is clean and blur == 0
    dim = caught(cells[0], 5)[None]
    assert denoised(dim, "off") == (dim, 0.0)
    out, blur = denoised(dim, "auto")
    assert blur > 0 and out.dtype == np.float32 and out.shape == dim.shape
    assert out.std() < dim.std()  # the speckle is smoothed
    assert out.mean() == pytest.approx(dim.mean(), rel=1e-3)  # the light is kept
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(dim, chunks=64)
    assert denoised(lazy, "auto") == (lazy, 0.0)  # a lazy plane is read as it is


def test_the_note_names_what_was_done():
    assert describe_denoised({}) is None
    one = describe_denoised({0: 0.5})
    assert "few photons" in one and "0.5 px" in one and "denoise='off'" in one
    assert "2 of 5 planes" in describe_denoised({1: 0.5, 3: 1.0}, 5, "--denoise off")


def test_the_predictor_blurs_a_photon_limited_image_and_nothing_else(cells):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=3, padding="same").eval()
    clean = cells[0] * 1000.0
    on, off = Predictor(model, denoise="auto"), Predictor(model, denoise="off")
    np.testing.assert_array_equal(predict(model, clean), predict(model, clean, denoise="off"))
    dim = caught(cells[0], 5)
    with_blur = predict(model, dim)
    assert not np.array_equal(with_blur, predict(model, dim, denoise="off"))
    np.testing.assert_allclose(with_blur, predict(model, dim.astype(np.float32)), atol=1e-6)
    # A region is predicted exactly as in the whole image (the blur is the whole plane's).
    region = ((40, 150), (60, 200))
    part = predict(model, dim, region=region)
    np.testing.assert_allclose(part, with_blur[:, 40:150, 60:200], atol=1e-5)
    # Each plane of a stack is judged on its own, and the predictor records which.
    drain(on.iter_probabilities(np.stack([clean, dim])))
    assert list(on.denoised) == [1] and on.denoised[1] == SIGMA
    drain(off.iter_probabilities(np.stack([clean, dim])))
    assert off.denoised == {}
    with pytest.raises(InputError, match="denoise must be one of"):
        Predictor(model, denoise="on")


def _dsb(shared_data, split_is):
    folder = shared_data / "dsb2018_full"
    with open(folder / "index.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if split_is(r["split"])]
    return folder, rows


def test_no_recorded_dsb2018_image_counts_as_photon_limited(shared_data):
    """Every fourth train and val image of every kind, as recorded, is left as it is."""
    folder, rows = _dsb(shared_data, lambda split: split != "test")
    low = []
    for row in rows[::4]:
        image = np.asarray(Image.open(folder / "images" / f"{row['name']}.png"))
        plane = np.moveaxis(image, -1, 0) if image.ndim == 3 else image
        if photon_count(plane) < FEW_PHOTONS:
            low.append(row["name"])
    assert not low, low


def test_the_built_in_model_finds_the_nuclei_of_a_dim_recording(shared_data):
    """Four validation images at 5 photons: the blur brings the nuclei back (AP50 floor)."""
    folder, rows = _dsb(shared_data, lambda split: split == "val")
    model, meta = pretrained("nuclei")
    scores = {"auto": [], "off": []}
    for row in rows:
        image = np.asarray(Image.open(folder / "images" / f"{row['name']}.png"), np.float32)
        image = image.mean(axis=-1) if image.ndim == 3 else image
        truth = np.asarray(Image.open(folder / "masks" / f"{row['name']}.tif"))
        dim = caught(image, 5, seed=len(scores["auto"]))
        for mode, out in scores.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(evaluate(truth, segment(model, dim, metadata=meta, denoise=mode)))
    ap = {mode: summarize(e)["per_threshold"][0]["ap"] for mode, e in scores.items()}
    assert ap["auto"] >= ap["off"] + 0.1, ap
    assert ap["auto"] >= 0.4, ap


def test_training_reads_a_photon_limited_image_as_prediction_does(cells):
    """make_pairs and live training blur a photon-limited plane as prediction does (a model
    fine-tuned on the blurred planes scored AP50 0.67 against 0.62 on the raw ones); clean
    images are kept exactly."""
    from napari_unet import make_pairs
    from napari_unet.core.live.data import LiveData

    image, labels = cells
    clean = (image * 1000.0).astype(np.uint16)
    dim = caught(image, 5)
    kept, blurred = make_pairs([clean, dim], [labels, labels])
    np.testing.assert_array_equal(kept.raw[0], clean)
    expected, blur = denoised(dim[None], "auto")
    assert blur == SIGMA or blur == SIGMA_FEWEST
    np.testing.assert_array_equal(blurred.raw, expected)
    live = LiveData(dim[None])
    np.testing.assert_allclose(live.image, blurred.image, atol=1e-6)
    np.testing.assert_array_equal(live.raw, dim[None])  # the view is predicted from it
    np.testing.assert_allclose(LiveData(clean[None]).image, kept.image, atol=1e-6)


def test_hot_pixels_and_a_black_border_do_not_hide_few_photons(cells):
    """Before: 20 hot pixels in 90,000 (and a registration's black border) made a plane of
    5 photons count as hundreds, and it was predicted unblurred."""
    dim = caught(cells[0], 5)
    hot = dim.copy()
    rng = np.random.default_rng(1)
    hot.flat[rng.choice(hot.size, hot.size * 3 // 1000, replace=False)] = 4095
    assert photon_count(hot) < FEW_PHOTONS
    framed = np.pad(dim * 3 + 100, 20)  # a camera offset inside a border of zeros
    assert photon_count(framed) < FEW_PHOTONS
    clean = (cells[0] * 1000).astype(np.uint16)
    clean.flat[rng.choice(clean.size, clean.size // 100, replace=False)] = 65535
    assert photon_count(clean) >= FEW_PHOTONS


def test_a_dim_channel_beside_bright_ones_is_blurred_alone(cells):
    bright = cells[0] * 1000.0
    plane = np.stack([bright, caught(cells[0], 5).astype(np.float32), bright])
    out, blur = denoised(plane)
    assert blur == SIGMA
    np.testing.assert_array_equal(out[0], bright)
    np.testing.assert_array_equal(out[2], bright)
    assert out[1].std() < plane[1].std()


@pytest.fixture(scope="module")
def net():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return UNet(1, 2, base_channels=4, depth=3, padding="same").eval()


def test_dtype_normalisation_reads_a_blurred_plane_on_its_types_scale(cells, net):
    """A blurred uint8 plane is float32: before, it was read 0-255 where the network
    expects 0-1 (the type's maximum)."""
    dim = caught(cells[0], 5).astype(np.uint8)
    blurred, blur = denoised(dim)
    assert blur > 0
    got = predict(net, dim, normalization={"method": "dtype"})
    want = predict(net, blurred / 255.0, normalization={"method": "none"}, denoise="off")
    np.testing.assert_allclose(got, want, atol=1e-5)
    from napari_unet import make_pairs

    pair = make_pairs([dim], [cells[1]], normalization={"method": "dtype"})[0]
    np.testing.assert_allclose(pair.image[0], blurred / 255.0, atol=1e-6)


def test_a_network_in_training_mode_reads_few_photons_as_in_evaluation_mode(cells, net):
    """The training preview predicts with the network in training mode: before, it was
    never blurred, so it disagreed with Predict and with the pairs it trained on."""
    dim = caught(cells[0], 5)
    want = predict(net, dim)
    net.train()
    try:
        predictor = Predictor(net)
        got = drain(predictor.iter_probabilities(dim))
    finally:
        net.eval()
    assert predictor.denoised == {0: SIGMA}
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_rescaled_image_is_blurred_at_its_own_scale_and_said(cells, net):
    """Enlarged to the model's object size, the noise hid: the final pass was not blurred
    while the size estimate's was, and nothing was said."""
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.segment import iter_labels

    dim = caught(cells[0], 5)
    meta = {"object_size": 18.0}
    predictor = Predictor(net, metadata=meta)
    drain(iter_labels(predictor, Postprocess(), dim, None, object_size=9.0, metadata=meta))
    assert predictor.denoised == {0: SIGMA}
