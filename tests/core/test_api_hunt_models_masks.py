"""Python API hunt: save_model keeps a network's carried metadata; masks are named, not
trained or measured as one object; file names given to make_pairs are refused clearly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.models.carried import attach


def _cells():
    """Touching cells, a few of them apart: their mask is many separate pieces."""
    image, labels = nu.touching_cells((96, 96), 12, 0)
    for k in range(3):  # three lone cells in a row, away from the others
        labels[88:94, 4 + 10 * k : 10 + 10 * k] = labels.max() + 1
    return image, labels


def _fiji_mask(labels):
    return (labels > 0).astype(np.uint8) * 255  # 8-bit 0/255, as Fiji saves masks


# -- 1. save_model uses the metadata the network carries ------------------------------------


def _small_net():
    return nu.build_model({"arch": "unet", "base_channels": 4, "depth": 2})


def test_save_model_writes_the_carried_usage_metadata(tmp_path):
    net = _small_net()
    usage = {
        "normalization": {"method": "zscore"},
        "object_size": 17.5,
        "background": "bright",
        "postprocess": {"threshold": 0.6, "min_size": 20},
        "separation_gap": 3,
        "class_names": ["background", "nucleus"],
    }
    described = {"name": "nuclei", "description": "the built-in", "metrics": {"ap50": 0.9}}
    attach(net, usage | described | {"provenance": {"data": ["a"]}})
    saved = nu.read_metadata(nu.save_model(tmp_path / "m.safetensors", net))
    for key, value in usage.items():  # before: default percentile, no size/light/post/gap
        assert saved[key] == value, key
    for key in ("name", "description", "metrics"):  # claims about the weights it came with
        assert key not in saved
    assert "data" not in saved["provenance"]
    given = {"normalization": {"method": "minmax"}, "object_size": 30}
    saved = nu.read_metadata(nu.save_model(tmp_path / "k.safetensors", net, **given))
    assert {k: saved[k] for k in given} == given  # keywords given win


def test_save_model_of_the_builtin_model_keeps_how_to_use_it(tmp_path):
    model, meta = nu.pretrained("nuclei")
    saved = nu.read_metadata(nu.save_model(tmp_path / "copy.safetensors", model))
    for key in ("normalization", "object_size", "postprocess", "background", "class_names"):
        assert saved[key] == meta[key], key
    if "separation_gap" in meta:
        assert saved["separation_gap"] == meta["separation_gap"]


# -- 2. make_pairs refuses a mask -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["bool", "0/255"])
def test_make_pairs_refuses_a_binary_mask(kind):
    image, labels = _cells()
    mask = labels > 0 if kind == "bool" else _fiji_mask(labels)
    with pytest.raises(nu.InputError, match="label the mask first"):
        nu.make_pairs([image], [mask])  # before: trained as one giant cell, silently
    assert np.array_equal(nu.make_pairs([image], [labels])[0].labels, labels)
    one = np.zeros(image.shape, np.int32)
    one[10:20, 10:20] = one[40:50, 40:50] = 1  # one cell painted in two strokes: kept
    assert set(np.unique(nu.make_pairs([image], [one])[0].labels)) == {0, 1}
    painted = (labels > 0).astype(np.int32)  # a napari layer's first label over every cell
    assert len(nu.make_pairs([image], [painted])) == 1  # the docks train it as painted


# -- 3. evaluate warns of a mask ------------------------------------------------------------


def test_evaluate_warns_once_of_a_mask_ground_truth_and_keeps_pixel_scores():
    _, labels = _cells()
    with pytest.warns(UserWarning, match=r"binary mask.*scipy\.ndimage\.label") as caught:
        result = nu.evaluate(_fiji_mask(labels), labels)
    masks = [w for w in caught if "binary mask" in str(w.message)]
    assert len(masks) == 1
    assert "the ground truth" in str(masks[0].message)
    assert result["n_gt"] == 1  # scored, not refused
    assert result["pixel_iou"] == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # instance labels: nothing said
        assert nu.evaluate(labels, labels)["per_threshold"][0]["ap"] == 1.0


def test_evaluate_warns_of_a_mask_prediction():
    _, labels = _cells()
    with pytest.warns(UserWarning, match="the prediction looks like a binary mask"):
        nu.evaluate(labels, labels > 0)


def test_evaluate_many_names_each_image_whose_ground_truth_is_a_mask():
    """Before, one unnamed warning for several images (Python shows one text once)."""
    _, labels = _cells()
    items = [("a", _fiji_mask(labels), labels), ("b", labels, labels),
             ("c", _fiji_mask(labels), labels)]  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        nu.evaluate_many(items)
    texts = [str(w.message) for w in caught if "binary mask" in str(w.message)]
    assert [t.split(":")[0] for t in texts] == ["a", "c"]


def test_training_validation_says_nothing_of_masks():
    """Its matching cut an early model's one blob into pieces with the region: the warning
    said 'label it first' once per validation (a notification each in the Train dock)."""
    from napari_unet.core.metrics import match_instances

    _, labels = _cells()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        match_instances(labels, _fiji_mask(labels))


# -- 4. median_diameter ---------------------------------------------------------------------


def test_median_diameter_refuses_a_mask():
    _, labels = _cells()
    with pytest.raises(nu.InputError, match="label the mask first"):
        nu.median_diameter(_fiji_mask(labels))  # before: the whole mask as one object


def test_median_diameter_takes_one_mask_with_one_label_image():
    _, labels = _cells()
    region = np.zeros(labels.shape, bool)
    region[:48] = True
    assert nu.median_diameter(labels, masks=region) == nu.median_diameter([labels], [region])


def test_median_diameter_says_what_masks_to_pass():
    _, labels = _cells()
    with pytest.raises(nu.InputError, match="one mask .* per label image"):
        nu.median_diameter([labels, labels], masks=[labels > 0])


# -- 5. make_pairs given file names ---------------------------------------------------------


def test_make_pairs_refuses_file_names_clearly(tmp_path):
    image, labels = _cells()
    nu.write_image(tmp_path / "a.tif", image)
    nu.write_image(tmp_path / "a_labels.tif", labels)
    with pytest.raises(nu.InputError, match="not a file name.*read it first"):
        nu.make_pairs([str(tmp_path / "a.tif")], [str(tmp_path / "a_labels.tif")])
    with pytest.raises(nu.InputError, match="image's pixels, not a file name"):
        nu.make_pairs([tmp_path / "a.tif"], [labels])
