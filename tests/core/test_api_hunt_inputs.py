"""Python API inputs a hunt found mishandled: an opaque alpha measured, raw tracebacks.

Each fixed one failed before its fix: an opaque alpha was measured as ``_c3`` columns (a
varying fourth channel stays data, 8-bit too), and a dict config, a ``channel_axis``
string, a file name as ``metadata``, a ragged list, an array given to ``segment_slide`` and
an unknown name given to ``Review.set_status`` raised AttributeError, TypeError, ValueError
or KeyError instead of an InputError saying what to pass.
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.images.layout import layout


@pytest.fixture(scope="module")
def cells():
    img, lab = nu.touching_cells((64, 64), n_cells=6, seed=0, cluster_size=1)
    grey = (255 * (img - img.min()) / np.ptp(img)).astype(np.uint8)
    return grey, lab


@pytest.fixture(scope="module")
def net():
    return nu.build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": 1})


def rgb_and_rgba(grey):
    rgb = np.stack([grey, grey // 2, grey // 3], -1)
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, : grey.shape[1] // 2] = 0  # a PNG export transparent in parts
    return rgb, np.concatenate([rgb, alpha[..., None]], -1)


# -- 1. an opaque alpha is dropped everywhere; a varying fourth channel is data ---------------


def _opaque(rgba):
    out = rgba.copy()
    out[..., 3] = 255
    return out


def test_an_opaque_alpha_is_dropped_and_a_varying_fourth_channel_is_read(cells, net):
    """A varying 8-bit fourth channel stays data: an ImageJ 8-bit composite of four channels
    reads channel-last like an RGBA array (a file's alpha is dropped on reading)."""
    rgb, rgba = rgb_and_rgba(cells[0])
    for n in (1, 3):
        np.testing.assert_array_equal(layout(_opaque(rgba), n).planes, layout(rgb, n).planes)
    got = nu.predict(net, _opaque(rgba), device="cpu", tile=64)
    np.testing.assert_array_equal(got, nu.predict(net, rgb, device="cpu", tile=64))
    assert layout(rgba, 4).planes.shape == (1, 4, *rgb.shape[:2])
    with pytest.raises(nu.InputError, match="fourth channel varies"):
        layout(rgba, 3)


def test_training_reads_an_opaque_alpha_as_no_channel(cells):
    rgb, rgba = rgb_and_rgba(cells[0])
    (pair,) = nu.make_pairs([_opaque(rgba)], [cells[1]])
    assert pair.image.shape[0] == 3
    np.testing.assert_array_equal(pair.raw, nu.make_pairs([rgb], [cells[1]])[0].raw)
    assert nu.make_pairs([rgba], [cells[1]])[0].image.shape[0] == 4  # data


def test_measure_objects_leaves_out_an_opaque_alpha(cells):
    """Before: a DSB2018 RGBA image measured its alpha as c3 (255 for every object)."""
    rgb, rgba = rgb_and_rgba(cells[0])
    table = nu.measure_objects(cells[1], _opaque(rgba))
    assert "mean_intensity_c3" not in table and "max_intensity_c3" not in table
    expected = nu.measure_objects(cells[1], rgb)
    assert table.keys() == expected.keys()
    np.testing.assert_array_equal(table["mean_intensity_c2"], expected["mean_intensity_c2"])
    assert "mean_intensity_c3" in nu.measure_objects(cells[1], rgba)  # a varying one: data
    assert "mean_intensity_c3" in nu.measure_objects(cells[1], rgba.astype(np.uint16))


# -- 2. a clear InputError, not a raw traceback ---------------------------------------------


def test_train_refuses_a_dict_config_with_what_to_pass(cells):
    pairs = nu.make_pairs([cells[0]], [cells[1]])
    with pytest.raises(nu.InputError, match=r"TrainConfig\(\*\*settings\)"):
        nu.train(pairs, {"steps": 2, "crop_size": 64})


def test_segment_refuses_a_channel_axis_name(cells, net):
    rgb, _ = rgb_and_rgba(cells[0])
    with pytest.raises(nu.InputError, match="channel_axis must be an axis index"):
        nu.segment(net, rgb, channel_axis="last", device="cpu")
    with pytest.raises(nu.InputError, match="channel_axis must be an axis index"):
        layout(rgb, 1, channel_axis=1.0)


def test_segment_refuses_a_model_file_as_metadata(cells, net):
    with pytest.raises(nu.InputError, match="metadata must be the dict load_model returns"):
        nu.segment(net, cells[0], metadata="model.safetensors", device="cpu")


def test_predict_refuses_a_ragged_list(net):
    with pytest.raises(nu.InputError, match="not a rectangular array"):
        nu.predict(net, [[1, 2], [3]], device="cpu")


def test_segment_slide_refuses_an_array_and_points_to_segment(cells, net):
    with pytest.raises(nu.InputError, match=r"Zarr.*segment\(model, image\)"):
        nu.segment_slide(net, cells[0], device="cpu")


def test_set_status_of_an_unknown_image_names_the_known_ones(cells, tmp_path):
    (tmp_path / "images").mkdir()
    nu.write_image(tmp_path / "images" / "a.png", cells[0])
    review = nu.Review(tmp_path / "images", tmp_path / "out")
    with pytest.raises(nu.InputError, match=r"'typo.png'.*a\.png"):
        review.set_status("typo.png", "accepted")
    review.set_status("a.png", "accepted")
    assert review.entries["a.png"].status == "accepted"
