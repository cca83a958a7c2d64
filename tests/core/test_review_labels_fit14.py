"""Review.save_labels refuses labels that do not fit the image, before writing anything.

Before, labels of a crop (32 x 64 for a 64 x 64 image), float probabilities and negative ids
were written over the image's good reviewed labels without a word; the export then skipped
the image, and the good labels were gone.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review

SHAPE = (64, 64)


@pytest.fixture
def saved(tmp_path):
    """A review of one grey and one colour image, the grey one with good saved labels."""
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.tif", np.full(SHAPE, 100, np.uint16))
    write_image(images / "rgb.tif", np.full((*SHAPE, 3), 100, np.uint8))
    review = Review(images, tmp_path / "out")
    good = np.zeros(SHAPE, np.int32)
    good[4:20, 4:20] = 1
    good[30:40, 30:50] = 2
    path = review.save_labels("a.tif", good)
    return review, path, good


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (np.ones((32, 64), np.int32), r"shape \(32, 64\) does not fit the image, of shape"),
        (np.ones((64, 64, 2), np.int32), "does not fit the image"),
        (np.full(SHAPE, 0.4, np.float32), "not probabilities or floats"),
        (-np.ones(SHAPE, np.int16), "negative labels"),
    ],
    ids=["crop", "extra_axis", "probabilities", "negative"],
)
def test_labels_not_fitting_the_image_are_refused_and_the_good_ones_kept(saved, labels, words):
    review, path, good = saved
    with pytest.raises(InputError, match=words):
        review.save_labels("a.tif", labels)
    assert np.array_equal(read_image(path, labels=True), good)
    assert review.entries["a.tif"].objects == 2


def test_labels_of_the_image_shape_save_for_grey_and_colour_images(saved):
    review, _, _ = saved
    labels = np.zeros(SHAPE, np.uint16)
    labels[1:5, 1:5] = 7
    for name in ("a.tif", "rgb.tif"):  # a colour image's labels: its shape, no channels
        path = review.save_labels(name, labels)
        assert np.array_equal(read_image(path, labels=True), labels)
        assert review.entries[name].objects == 1
