"""A grey model that averages an image's channels that differ says so (a DomainWarning).

A DAPI channel merged with a membrane or cytoplasm stain (an RGB merge, or an ImageJ ``CYX``
hyperstack read as ``(H, W, 2)``) was averaged without a word by the built-in grey models,
and AP50 fell from 0.815 to 0.12-0.33 on DSB2018 train images; choosing the nuclear channel
gives 0.815 again. Grey stored as RGB, a single channel and a channel the user chose (an
index, or "mean") are not warned about, and the labels never change.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import napari_unet as nu
from napari_unet import DomainWarning, domain_warnings

pytestmark = pytest.mark.usefixtures("one_thread")

SIDE = 128
BRIGHT = {"background": "bright"}


def nuclei_and_membrane() -> tuple[np.ndarray, np.ndarray]:
    """``(dapi, membrane)`` uint8 planes: bright discs, and rings around them."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    dapi = np.full((SIDE, SIDE), 10.0)
    membrane = np.full((SIDE, SIDE), 20.0)
    for cy in range(20, SIDE, 32):
        for cx in range(20, SIDE, 32):
            r = np.hypot(yy - cy, xx - cx)
            dapi[r <= 7] = 200
            membrane[(r > 9) & (r <= 12)] = 180
    noise = np.random.default_rng(0).normal(0, 3, (2, SIDE, SIDE))
    return tuple(
        np.clip(p + e, 0, 255).astype(np.uint8)
        for p, e in zip((dapi, membrane), noise, strict=True)
    )


def two_channels() -> np.ndarray:
    return np.stack(nuclei_and_membrane(), axis=-1)  # (H, W, 2), as an ImageJ CYX file reads


def rgb_merge() -> np.ndarray:
    dapi, membrane = nuclei_and_membrane()
    return np.stack([np.zeros_like(dapi), membrane, dapi], axis=-1)  # DAPI blue, membrane green


def averaged(texts) -> list[str]:
    return [t for t in texts if "averaged the image's" in t]


def test_a_grey_model_warns_when_it_averages_channels_that_differ():
    labels = np.zeros((SIDE, SIDE), np.int32)
    (text,) = domain_warnings(labels, image=two_channels(), in_channels=1)
    assert "reads one channel and averaged the image's 2 channels" in text
    for advice in ("DAPI or Hoechst", "channel=", "--channel", "Predict dock's channel setting"):
        assert advice in text
    (text,) = domain_warnings(labels, image=rgb_merge(), in_channels=1)
    assert "the image's 3 channels" in text
    rgba = np.concatenate([rgb_merge(), np.full((SIDE, SIDE, 1), 255, np.uint8)], axis=-1)
    (text,) = domain_warnings(labels, image=rgba, in_channels=1)
    assert "the image's 3 channels" in text  # the alpha is dropped, as the model reads it
    stack = np.stack([two_channels()] * 3)  # (Z, H, W, 2)
    assert averaged(domain_warnings(labels, image=stack, in_channels=1))


def test_no_warning_where_nothing_different_is_averaged():
    labels = np.zeros((SIDE, SIDE), np.int32)
    dapi, _ = nuclei_and_membrane()
    grey_rgb = np.repeat(dapi[..., None], 3, axis=-1)  # grey stored as RGB (DSB2018 PNGs)
    grey_rgba = np.concatenate([grey_rgb, np.full((SIDE, SIDE, 1), 255, np.uint8)], axis=-1)
    for image in (dapi, grey_rgb, grey_rgba, dapi[None].repeat(3, 0)):  # last: a (Z, H, W) stack
        assert domain_warnings(labels, image=image, in_channels=1) == []
    for channel in (0, 1, "mean"):  # the user chose
        found = domain_warnings(labels, image=two_channels(), in_channels=1, channel=channel)
        assert found == []
    assert domain_warnings(labels, image=rgb_merge(), in_channels=3) == []  # a colour model
    assert domain_warnings(labels, image=rgb_merge()) == []  # the model is not known
    # A brightfield or H&E model (nuclei-brightfield) was trained on the mean of colour images.
    bright = domain_warnings(labels, image=rgb_merge(), in_channels=1, metadata=BRIGHT)
    assert averaged(bright) == [], bright
    dark = domain_warnings(
        labels, image=rgb_merge(), in_channels=1, metadata={"background": "dark"}
    )
    assert len(averaged(dark)) == 1


@pytest.fixture(scope="module")
def nuclei():
    return nu.pretrained("nuclei")


def _segment(model, metadata, image, **kwargs):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", DomainWarning)
        labels = nu.segment(model, image, metadata=metadata, object_size=None, **kwargs)
    texts = [str(w.message) for w in seen if issubclass(w.category, DomainWarning)]
    return labels, texts


def test_segment_warns_and_the_labels_stay_the_same(nuclei):
    model, metadata = nuclei
    image = two_channels()
    labels, texts = _segment(model, metadata, image)
    assert len(averaged(texts)) == 1, texts
    mean, texts = _segment(model, metadata, image, channel="mean")
    assert averaged(texts) == []
    np.testing.assert_array_equal(labels, mean)  # the warning changes no result
    for image, channel in ((two_channels(), 0), (rgb_merge(), 2)):
        _, texts = _segment(model, metadata, image, channel=channel)
        assert averaged(texts) == [], texts
    dapi, _ = nuclei_and_membrane()
    _, texts = _segment(model, metadata, np.repeat(dapi[..., None], 3, axis=-1))
    assert averaged(texts) == [], texts


def test_the_command_line_prints_it_on_one_line(tmp_path, capsys):
    import tifffile

    from napari_unet.cli import main

    path = tmp_path / "dapi_membrane.tif"  # an ImageJ CYX hyperstack, read as (Y, X, 2)
    tifffile.imwrite(
        path, np.moveaxis(two_channels(), -1, 0), imagej=True, metadata={"axes": "CYX"}
    )
    assert main(["predict", "nuclei", str(path), "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "averaged the image's 2 channels" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("napari-unet predict: warning: ") and "--channel" in lines[0]
    assert main(["predict", "nuclei", str(path), "-o", str(tmp_path / "b"), "--channel", "0"]) == 0
    assert "averaged the image's" not in capsys.readouterr().err
