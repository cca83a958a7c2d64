"""The review warns, as Predict does, when a grey model averaged an image's channels.

Before, the Review dock's prefetch thread predicted a 2-channel ImageJ ``CYX`` TIFF (DAPI and
a membrane stain) with the channels averaged and said nothing, where the Predict dock, the
API and the command line warn. Now its item carries the same warning (with what to do in a
review); labels from disk (reviewed, a label file) carry none.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import napari_unet
from napari_unet.core.images.io import write_image
from napari_unet.core.review.session import Review

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")

AVERAGED = "averaged the image's 2 channels"


def _folder(path):
    """``two.tif`` (an ImageJ CYX file: the nuclei, and the nuclei inverted), ``grey.tif``."""
    import tifffile

    image, _ = napari_unet.nuclei_data()
    image = image[:96, :128]
    path.mkdir()
    tifffile.imwrite(path / "two.tif", np.stack([image, 255 - image]), imagej=True,
                     metadata={"axes": "CYX"})  # fmt: skip
    write_image(path / "grey.tif", image)
    return path


@pytest.fixture(scope="module")
def grey_model():
    from napari_unet.core.models import build_model
    from napari_unet.core.training.config import TrainConfig

    return build_model(TrainConfig(model="tiny").model), {}  # one input channel


def _items(review, model, names):
    from napari_unet.core.review.prefetch import Prefetcher

    pf = Prefetcher(review, *model, "tiny")
    try:
        pf.want(list(names))
        deadline = time.monotonic() + 60
        while any(pf.get(n) is None and pf.error(n) is None for n in names):
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)
        assert [pf.error(n) for n in names] == [None] * len(names)
        return {n: pf.get(n) for n in names}
    finally:
        pf.close()


def test_a_prediction_that_averaged_two_channels_carries_the_warning(tmp_path, grey_model):
    review = Review(_folder(tmp_path / "images"), tmp_path / "out")
    items = _items(review, grey_model, ["two.tif", "grey.tif"])
    two = items["two.tif"]
    assert two.source == "prediction (tiny)"
    (text,) = [t for t in two.notes if AVERAGED in t]
    assert "DAPI or Hoechst" in text and "--channel N" in text and "labels folder" in text
    assert not [t for t in items["grey.tif"].notes if "averaged" in t]  # one channel: none
    # Opened again: the cached prediction averaged the channels too, and still says so.
    again = _items(Review(tmp_path / "images", tmp_path / "out"), grey_model, ["two.tif"])
    assert again["two.tif"].source.startswith("prediction")
    assert [t for t in again["two.tif"].notes if AVERAGED in t]


def test_labels_from_disk_carry_no_warning(tmp_path, grey_model):
    images = _folder(tmp_path / "images")
    labels_in = tmp_path / "labels_in"
    labels_in.mkdir()
    cells = np.zeros((96, 128), np.int32)
    cells[10:20, 10:20] = 1
    write_image(labels_in / "two_labels.tif", cells)  # another tool's labels
    review = Review(images, tmp_path / "out", labels_in)
    item = _items(review, grey_model, ["two.tif"])["two.tif"]
    assert item.source == "file two_labels.tif" and item.notes == ()
    review = Review(images, tmp_path / "out2")
    review.save_labels("two.tif", cells)  # reviewed
    item = _items(review, grey_model, ["two.tif"])["two.tif"]
    assert item.source == "reviewed" and item.notes == ()
