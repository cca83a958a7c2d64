"""A constant margin (a black border of padding) is no part of the image: its inside is predicted.

A 16 px black border from registration or stitching took a DSB2018 image from AP50 0.80 to
0.00: the step at its edge made false objects and it dragged the normalisation down. The
inside of such a margin must be segmented as the image itself, with 0 in the margin.
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu

PAD = 16


@pytest.fixture(scope="module")
def nuclei():
    return nu.pretrained("nuclei")


@pytest.fixture(scope="module")
def cells():
    image, truth = nu.touching_cells((128, 128), n_cells=14, seed=4)
    return (image * 1000 + 100).astype(np.uint16), truth


def _segment(model_meta, image, **kwargs):
    model, meta = model_meta
    return nu.segment(model, image, metadata=meta, device="cpu", tile=128, **kwargs)


@pytest.mark.parametrize("where", ["all", "left", "top-right"])
@pytest.mark.parametrize("value", ["black", "white"])
def test_the_inside_of_a_border_is_segmented_as_the_image(nuclei, cells, one_thread, where, value):
    image, _ = cells
    pads = {"all": ((PAD, PAD), (PAD, PAD)), "left": ((0, 0), (PAD, 0)),
            "top-right": ((PAD, 0), (0, PAD))}[where]  # fmt: skip
    fill = 0 if value == "black" else int(image.max())
    padded = np.pad(image, pads, constant_values=fill)
    plain = _segment(nuclei, image)
    labels = _segment(nuclei, padded)
    assert labels.shape == padded.shape
    (top, bottom), (left, right) = pads
    inside = labels[top : labels.shape[0] - bottom, left : labels.shape[1] - right]
    np.testing.assert_array_equal(inside, plain)
    assert np.count_nonzero(labels) == np.count_nonzero(inside)  # nothing in the margin


def test_a_black_border_costs_no_accuracy_on_real_nuclei(nuclei, shared_data, one_thread):
    import tifffile

    image = tifffile.imread(shared_data / "stardist_nuclei2d" / "img2d.tif")[:192, :192]
    truth = tifffile.imread(shared_data / "stardist_nuclei2d" / "mask2d.tif")[:192, :192]
    plain = nu.evaluate(truth, _segment(nuclei, image), thresholds=0.5)["ap"]
    labels = _segment(nuclei, np.pad(image, PAD))[PAD:-PAD, PAD:-PAD]
    assert nu.evaluate(truth, labels, thresholds=0.5)["ap"] == pytest.approx(plain, abs=1e-9)


def test_probabilities_are_background_in_the_margin(nuclei, cells, one_thread):
    model, meta = nuclei
    image, _ = cells
    plain = nu.predict(model, image, metadata=meta, device="cpu", tile=128)
    probs = nu.predict(model, np.pad(image, PAD), metadata=meta, device="cpu", tile=128)
    assert probs.shape == (2, 128 + 2 * PAD, 128 + 2 * PAD)
    np.testing.assert_array_equal(probs[:, PAD:-PAD, PAD:-PAD], plain)
    margin = np.ones(probs.shape[1:], bool)
    margin[PAD:-PAD, PAD:-PAD] = False
    assert np.all(probs[0][margin] == 1) and np.all(probs[1][margin] == 0)


def test_a_stack_with_a_shared_border(nuclei, cells, one_thread):
    image, _ = cells
    stack = np.stack([image, image[::-1]])
    plain = _segment(nuclei, stack, object_size=None)
    labels = _segment(nuclei, np.pad(stack, ((0, 0), (PAD, PAD), (0, PAD))), object_size=None)
    assert labels.shape == (2, 128 + 2 * PAD, 128 + PAD)
    np.testing.assert_array_equal(labels[:, PAD:-PAD, :-PAD], plain)
    assert np.count_nonzero(labels) == np.count_nonzero(plain)


class _Grey:
    """What inside_box needs of a predictor: the layout of a grey image."""

    def layout(self, image):
        from napari_unet.core.images.layout import layout

        return layout(image, 1)


@pytest.mark.parametrize(
    "case",
    ["no margin", "one flat row", "background value", "one value", "region", "stack differs"],
)
def test_images_without_padding_are_left_as_they_are(cells, case):
    from napari_unet.core.inference import margins

    image, _ = cells
    region = None
    if case == "one flat row":  # a genuine flat edge row (8-bit black background): no margin
        image = image.copy()
        image[0] = 0
        image[:, -1] = 7
    elif case == "background value":  # black between the nuclei too: background, not padding
        image = np.pad(np.where(image > np.percentile(image, 60), image, 0), PAD)
    elif case == "one value":
        image = np.full((64, 64), 3, np.uint8)
    elif case == "region":  # a region (the current view) is predicted as it was
        image, region = np.pad(image, PAD), ((0, 32), (0, 32))
    elif case == "stack differs":  # no margin all planes share
        image = np.stack([np.pad(image, PAD), np.pad(image, PAD, mode="reflect")])
    assert margins.inside_box(_Grey(), image, region) is None


def test_the_margin_is_found_per_side(cells):
    from napari_unet.core.inference import margins

    image, _ = cells
    padded = np.pad(image, ((3, 0), (0, 20)), constant_values=5)
    assert margins.inside_box(_Grey(), padded) == ((3, 131), (0, 128))
    rgb = np.repeat(np.pad(image, ((2, 4), (6, 0)))[..., None], 3, axis=-1)
    assert margins.plane_margin(np.moveaxis(rgb, -1, 0)) == (2, 4, 6, 0)
