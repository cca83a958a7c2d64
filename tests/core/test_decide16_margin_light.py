"""A black border plus uneven-light flattening gives no false "choose another model" warning.

The light of a bordered image is fitted on the inside the network reads; stretched over the
whole padded plane, it made the black border read as a dark background, and the brightfield
model ``auto`` chose was warned against on its own kind of image.
"""

import warnings

import numpy as np
import pytest

import napari_unet as nu

CONTRAST = "this model was trained on"


def _contrast_warnings(model, meta, image, **kw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = nu.segment(model, image, metadata=meta, **kw)
    return labels, [str(w.message) for w in caught if CONTRAST in str(w.message)]


def _bordered_brightfield(border: int = 200, n: int = 320) -> np.ndarray:
    """Dark nuclei on a bright background whose light rises to the right, in a black border."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:n, :n]
    inside = 190 + 40 * (xx / n) + rng.normal(0, 3, (n, n))
    for _ in range(40):
        cy, cx = rng.integers(15, n - 15, 2)
        inside[(yy - cy) ** 2 + (xx - cx) ** 2 < 64] -= 110
    padded = np.zeros((n + 2 * border, n + 2 * border), np.uint8)
    padded[border:-border, border:-border] = np.clip(inside, 0, 255).astype(np.uint8)
    return padded


@pytest.fixture(scope="module")
def brightfield():
    return nu.pretrained("nuclei-brightfield")


@pytest.mark.parametrize("object_size", [None, 9.0])  # at its own scale, and rescaled
def test_flattened_bordered_brightfield_is_not_warned_about(brightfield, object_size):
    image = _bordered_brightfield()
    assert nu.choose_pretrained(image) == "nuclei-brightfield"
    model, meta = brightfield
    labels, found = _contrast_warnings(
        model, meta, image, background="flatten", object_size=object_size
    )
    assert labels.max() > 0
    assert found == []


def test_a_region_of_a_bordered_image_is_segmented(brightfield):
    """A region is predicted on the whole plane (no margin cut): the check still runs."""
    image = _bordered_brightfield()
    model, meta = brightfield
    labels, _ = _contrast_warnings(
        model, meta, image, background="flatten", region=((150, 450), (150, 450))
    )
    assert labels.shape == (300, 300) and labels.max() > 0


def test_fluorescence_under_a_border_still_warns_the_brightfield_model(brightfield):
    """The fix judges the inside: a fluorescence inside still reads the other way round."""
    image = 255 - _bordered_brightfield()
    image[:200], image[-200:], image[:, :200], image[:, -200:] = 0, 0, 0, 0
    model, meta = brightfield
    _, found = _contrast_warnings(model, meta, image, background="flatten")
    assert len(found) == 1 and "fluorescence" in found[0]


def test_real_bordered_brightfield_image(shared_data):
    """The hunter's case: DSB2018 image 067 in a 200 px black registration border."""
    from PIL import Image

    path = shared_data / "dsb2018_full" / "images" / "067_1b44d2264383.png"
    if not path.exists():
        pytest.skip(f"{path} not found")
    img = np.asarray(Image.open(path))[:512, :512]
    padded = np.zeros((912, 912), img.dtype)
    padded[200:712, 200:712] = img
    model, meta = nu.pretrained("auto", image=padded)
    assert meta.get("background") == "bright"
    for background in ("auto", "keep"):
        labels, found = _contrast_warnings(model, meta, padded, background=background)
        assert labels.max() > 0 and found == []


def test_the_check_leaves_a_float32_image_as_it_was(brightfield):
    """The sample the contrast check flattens is a copy, never the caller's image."""
    image = _bordered_brightfield().astype(np.float32)
    before = image.copy()
    model, meta = brightfield
    _contrast_warnings(model, meta, image, background="flatten")
    np.testing.assert_array_equal(image, before)
