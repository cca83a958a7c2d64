"""Out-of-domain warnings: a brightfield image warns with the fluorescence model, nuclei don't."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import napari_unet as nu
from napari_unet import DomainWarning, domain_warnings

pytestmark = pytest.mark.usefixtures("one_thread")

#: A DSB2018 brightfield image (group brightfield_gray; dark nuclei on a bright background).
BRIGHTFIELD = "078_08275a5b1c2d"


@pytest.fixture(scope="module")
def starter():
    return nu.pretrained("nuclei")


@pytest.fixture(scope="module")
def brightfield(shared_data):
    from PIL import Image

    image = np.asarray(Image.open(shared_data / "dsb2018" / "images" / f"{BRIGHTFIELD}.png"))
    return image[:256, :256, 0]  # grey stored as RGBA; a crop keeps the test fast


def blobs(radius: int, shape=(120, 120), spacing=40):
    labels = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    k = 0
    for cy in range(spacing // 2, shape[0], spacing):
        for cx in range(spacing // 2, shape[1], spacing):
            k += 1
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = k
    return labels


def test_pure_function_flags_a_mostly_foreground_result():
    labels = np.ones((50, 50), np.int32)
    labels[:5] = 0  # 90% foreground
    (text,) = domain_warnings(labels)
    assert "90% of the image was called foreground" in text
    for advice in ("invert the contrast", "give the object size", "choose a model", "fine-tune"):
        assert advice in text
    fg = np.where(labels > 0, 0.2, 0.0)  # the probability says otherwise: it decides
    assert domain_warnings(labels, fg) == []


def test_pure_function_flags_objects_far_larger_than_expected():
    labels = blobs(radius=16)  # 32 px across, 9 objects, 45% foreground
    assert domain_warnings(labels, metadata={"object_size": 12.0}) == []  # 2.7 times
    (text,) = domain_warnings(labels, metadata={"object_size": 10.0})
    assert "3.2 times larger than the model's training object size" in text
    assert "expected about 10 px" in text
    # A given (or estimated) object size is what counts, not the model's.
    assert domain_warnings(labels, metadata={"object_size": 10.0}, object_size=30.0) == []
    (text,) = domain_warnings(labels, metadata={"object_size": 30.0}, object_size=8.0)
    assert "than the object size given" in text
    assert domain_warnings(labels, metadata={}) == []  # nothing to compare with


def test_advice_mentions_inverting_a_mostly_bright_image():
    labels = np.ones((40, 40), np.int32)
    bright = np.full((40, 40), 220, np.uint8)
    bright[::7, ::7] = 30
    dark = 255 - bright
    assert "the image is mostly bright" in domain_warnings(labels, image=bright)[0]
    assert "the image is mostly bright" not in domain_warnings(labels, image=dark)[0]


def test_brightfield_image_warns_with_the_fluorescence_model(starter, brightfield):
    model, meta = starter
    with pytest.warns(DomainWarning) as record:
        labels = nu.segment(model, brightfield, metadata=meta)
    assert labels.shape == brightfield.shape
    texts = [str(w.message) for w in record if w.category is DomainWarning]
    assert any("called foreground" in t and "invert its contrast" in t for t in texts), texts
    assert any("trained on bright objects on a dark background" in t for t in texts), texts
    assert all(w.filename == __file__ for w in record)  # points at the caller's line
    # The generator twin warns too, when it returns.
    with pytest.warns(DomainWarning):
        nu.drain(nu.iter_segment(model, brightfield, metadata=meta))


def test_the_shipped_fluorescence_sample_does_not_warn(starter):
    model, meta = starter
    image, _ = nu.nuclei_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels, probs = nu.segment(model, image, metadata=meta, return_probabilities=True)
    assert not [w for w in caught if issubclass(w.category, DomainWarning)]
    assert domain_warnings(labels, probs[1], meta, image) == []
    assert labels.max() > 50


def test_a_model_for_the_other_contrast_warns_where_it_finds_nothing():
    """nuclei-brightfield on fluorescence found no object and said nothing."""
    model, meta = nu.pretrained("nuclei-brightfield")
    assert meta["background"] == "bright" and nu.pretrained("nuclei")[1]["background"] == "dark"
    image, _ = nu.nuclei_data()
    with pytest.warns(DomainWarning, match="trained on dark objects on a bright background"):
        nu.segment(model, image, metadata=meta)


def test_the_contrast_is_judged_on_the_channel_the_model_reads():
    bright = np.full((96, 96), 200, np.uint8)
    bright[blobs(8, (96, 96)) > 0] = 40  # dark cells on a bright background
    dark = 255 - bright
    labels = blobs(8, (96, 96))
    meta = {"background": "dark"}
    assert domain_warnings(labels, None, meta, dark) == []
    assert "trained on bright objects" in domain_warnings(labels, None, meta, bright)[0]
    both = np.stack([dark, bright])  # channel first: 0 is fluorescence-like
    assert domain_warnings(labels, None, meta, both, channel_axis=0, channel=0) == []
    assert domain_warnings(labels, None, meta, both, channel_axis=0, channel=1) != []
    flat = np.full((96, 96), 7, np.uint8)  # one value: no contrast to judge
    assert domain_warnings(np.zeros_like(labels), None, meta, flat) == []
    assert domain_warnings(labels, None, {"background": "other"}, bright) == []
    for odd in (["dark"], {"dark": 1}, 3, None):  # an edited file: no check, never a failure
        assert domain_warnings(labels, None, {"background": odd}, bright) == []


def test_training_records_the_background_of_its_images():
    from napari_unet.core.training.pairs import make_pairs
    from napari_unet.core.training.setup import data_facts

    image, labels = nu.touching_cells((96, 96), n_cells=8, seed=1)
    inverted = image.max() - image
    pairs = make_pairs([image], [labels])
    assert data_facts(pairs)["background"] == "dark"
    assert data_facts(make_pairs([inverted], [labels]))["background"] == "bright"
    assert "background" not in data_facts(make_pairs([image, inverted], [labels, labels]))


def test_prediction_judges_the_contrast_as_training_recorded_it():
    """A 3-channel model warned that its own training image ran the other way: training
    averaged the channels it was given, the check read the three channels as planes."""
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.segment import result_warnings
    from napari_unet.core.models import build_model
    from napari_unet.core.training.pairs import make_pairs
    from napari_unet.core.training.setup import data_facts

    grey, labels = nu.touching_cells((96, 96), n_cells=8, seed=1)
    image = np.stack([grey, grey, grey.max() - grey])  # one channel the other way round
    facts = data_facts(make_pairs([image], [labels]))
    net = build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": 3})
    found = result_warnings(labels, None, facts, image, None, 0.5, Predictor(net.eval()))
    assert not [t for t in found if "trained on" in t]
    flipped = image.max() - image
    found = result_warnings(labels, None, facts, flipped, None, 0.5, Predictor(net.eval()))
    assert [t for t in found if "trained on" in t]
