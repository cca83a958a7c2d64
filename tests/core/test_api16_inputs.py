"""Python API careless input (hunt 16): each raised the wrong error, or none, before its fix.

A varying fourth channel written as PNG (read back, it was dropped as alpha), a float64
image beyond 1e154 (an OverflowError), probabilities not class-first (a row of the map came
back as "the foreground"), an inf band at an edge (cut off as a margin, the rest segmented),
``segment(channel_axis="none")`` of a ``(Y, X, 3)`` stack (its own labels refused as "a
colour image"), ``segment_slide``'s "--overwrite" to a Python user, one string as
``shape_types`` ("9 shape types") and a misspelt setting (a TypeError naming the Predictor).
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu


@pytest.fixture(scope="module")
def net():
    return nu.build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": 1})


@pytest.fixture(scope="module")
def image():
    img, _ = nu.touching_cells((96, 96), n_cells=8, seed=1, cluster_size=1)
    return (255 * (img - img.min()) / np.ptp(img)).astype(np.float64)


FAST = {"device": "cpu", "tile": 64}


# -- 1. a PNG keeps no fourth channel: a varying one is refused before writing -------------


def test_a_varying_fourth_channel_is_not_written_to_png(tmp_path):
    four = np.random.default_rng(0).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    with pytest.raises(nu.InputError, match=r"fourth channel varies.*\.tif"):
        nu.write_image(tmp_path / "four.png", four)
    assert not (tmp_path / "four.png").exists()
    nu.write_image(tmp_path / "four.tif", four)  # a TIFF keeps all four
    np.testing.assert_array_equal(nu.read_image(tmp_path / "four.tif"), four)
    opaque = four.copy()
    opaque[..., 3] = 255  # an opaque alpha: written, read back as the RGB it shows
    nu.write_image(tmp_path / "opaque.png", opaque)
    np.testing.assert_array_equal(nu.read_image(tmp_path / "opaque.png"), four[..., :3])


# -- 2. values beyond 1e154: the float32 range message, not an OverflowError -------------


def test_a_huge_float64_image_gets_the_float32_range_message(net, image):
    for call in (nu.predict, nu.segment):
        with pytest.raises(nu.InputError, match="beyond the float32 range"):
            call(net, image * 1e200, **FAST)


# -- 3. probabilities must be class-first --------------------------------------------------


def test_the_foreground_of_probabilities_not_class_first_is_refused(net, image):
    predictor = nu.Predictor(net, **FAST)
    probs = nu.predict(net, image, **FAST)
    assert predictor.foreground(probs).shape == image.shape
    for wrong in (probs[1], np.moveaxis(probs, 0, -1)):
        with pytest.raises(nu.InputError, match=r"class axis first \(2 classes"):
            predictor.foreground(wrong)
        with pytest.raises(nu.InputError, match="class axis first"):
            predictor.instances(wrong, nu.Postprocess())


# -- 4. an inf band at an edge is no margin: refused as any non-finite image ---------------


def test_an_inf_band_at_an_edge_is_refused_and_a_zero_margin_still_works(net, image):
    for value in (np.inf, -np.inf):
        banded = image.copy()
        banded[:10] = value
        for call in (nu.predict, nu.segment):
            with pytest.raises(nu.InputError, match="NaN or infinite"):
                call(net, banded, **FAST)
    zeros = image.copy()
    zeros[:10] = 0  # a black border of padding: its inside segmented, labels 0 in it
    labels = nu.segment(net, zeros, **FAST)
    assert labels.shape == image.shape and not labels[:10].any()


# -- 5. channel_axis="none": segment reads the stack as predict does -----------------------


def test_segment_reads_a_channel_axis_none_stack_as_predict_does(net, image):
    stack = np.dstack([image[:24]] * 3)  # (24, 96, 3) told to be 24 planes of 96 x 3
    probs = nu.predict(net, stack, channel_axis="none", **FAST)
    assert probs.shape == (2, *stack.shape)
    meta = {"object_size": 12.0}  # object size "auto" estimates on the first pass's labels
    for metadata in (None, meta):
        labels = nu.segment(net, stack, channel_axis="none", metadata=metadata, **FAST)
        assert labels.shape == stack.shape
    native = nu.segment(net, stack, channel_axis="none", object_size=None, **FAST)
    expected = nu.Predictor(net, channel_axis="none", **FAST).instances(probs, nu.Postprocess())
    np.testing.assert_array_equal(native, expected)


# -- 6. segment_slide names overwrite=True ------------------------------------------------


def test_segment_slide_names_the_python_keyword_for_an_existing_output(net, image, tmp_path):
    src = nu.write_image(tmp_path / "img.zarr", image.astype(np.uint8))
    out = tmp_path / "lab.zarr"
    out.mkdir()
    with pytest.raises(nu.InputError, match=r"--overwrite \(overwrite=True\)"):
        nu.segment_slide(net, src, out=out, **FAST)


# -- 7. shape_types given as one string ----------------------------------------------------


def test_one_string_as_shape_types_says_to_pass_a_list():
    square = np.array([[0, 0], [0, 10], [10, 10], [10, 0]])
    with pytest.raises(nu.InputError, match=r"list of types.*\['rectangle'\]") as err:
        nu.region_mask([square], "rectangle", (32, 32))
    assert "9 shape types" not in str(err.value)
    assert nu.region_mask([square], ["rectangle"], (32, 32)).sum() == 121


# -- 8. a misspelt setting is an InputError naming the setting ---------------------------


def test_a_misspelt_setting_is_an_input_error_with_a_suggestion(net, image):
    with pytest.raises(nu.InputError, match=r"unknown segment setting.*treshold \(did you mean "
                                            r"threshold\?\)"):  # fmt: skip
        nu.segment(net, image, treshold=0.3, **FAST)
    with pytest.raises(nu.InputError, match=r"tiel \(did you mean tile\?\)"):
        nu.predict(net, image, device="cpu", tiel=64)
    with pytest.raises(nu.InputError, match="unknown prediction setting"):
        nu.Predictor(net, chanel_axis=0)
