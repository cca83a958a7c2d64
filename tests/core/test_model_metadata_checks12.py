"""Hand-edited model-file metadata is refused when loaded, naming the field, never a traceback.

Before, a model file whose ``background`` was ``[1]`` or whose ``object_size`` was ``1e300``
loaded and crashed prediction (TypeError, OverflowError; ``1e19`` said "out of memory"), and
a config ``head`` of ``["paper"]`` crashed the loader itself with a TypeError.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from napari_unet import InputError, build_model, load_model, read_metadata, save_model
from napari_unet.core.models.modelfile import ModelFileError

pytestmark = pytest.mark.usefixtures("one_thread")

MAX_OBJECT_SIZE = 100_000  # the largest object_size a model file may record (docs/models.md)
CONFIG = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2, "batch_norm": True}


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, build_model(CONFIG))
    return path


def _edited(source, target, change):
    """``source`` with its napari-unet metadata changed by ``change`` (tensors untouched)."""
    raw = source.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    info = json.loads(header["__metadata__"]["napari_unet"])
    change(info)
    header["__metadata__"]["napari_unet"] = json.dumps(info)
    text = json.dumps(header).encode()
    target.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    return target


def _set(key, value):
    return lambda info: info.__setitem__(key, value)


def _head(value):
    return lambda info: info["config"].__setitem__("head", value)


BAD = {
    "background_list": (_set("background", [1]), "'background' must be 'bright' or 'dark'"),
    "background_dict": (_set("background", {"a": 1}), "'background' must be 'bright' or 'dark'"),
    "background_word": (_set("background", "purple"), "'background' must be 'bright' or 'dark'"),
    "background_bool": (_set("background", True), "'background' must be 'bright' or 'dark'"),
    "object_size_1e300": (_set("object_size", 1e300), "object_size must be a positive number"),
    "object_size_1e19": (_set("object_size", 1e19), "object_size must be a positive number"),
    "object_size_over": (_set("object_size", MAX_OBJECT_SIZE + 1), "at most 100,000"),
    "head_list": (_head(["paper"]), r"unknown head \['paper'\]"),
    "head_dict": (_head({"a": 1}), "unknown head"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_edited_metadata_is_refused_when_loaded_naming_the_field(tiny_file, tmp_path, case):
    change, message = BAD[case]
    bad = _edited(tiny_file, tmp_path / f"{case}.safetensors", change)
    with pytest.raises(ModelFileError, match=message):
        load_model(bad)


@pytest.mark.parametrize(
    ("case", "field"),
    [("background_list", "'background'"), ("object_size_1e300", "object_size"),
     ("object_size_1e19", "object_size"), ("head_list", "head")],
)  # fmt: skip
def test_predict_says_what_is_wrong_with_an_edited_model_file(
    tiny_file, tmp_path, capsys, case, field
):
    import tifffile

    from napari_unet.cli import main

    bad = _edited(tiny_file, tmp_path / f"{case}.safetensors", BAD[case][0])
    image = tmp_path / "img.tif"
    tifffile.imwrite(image, np.random.default_rng(0).integers(0, 4000, (40, 40), np.uint16))
    assert main(["predict", str(bad), str(image), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "out of memory" not in err
    assert str(bad) in err and field in err
    assert not (tmp_path / "out" / "img_labels.tif").exists()


@pytest.mark.parametrize(
    "change",
    [_set("background", "bright"), _set("background", "dark"), _set("background", None),
     lambda info: info.pop("background", None), _set("object_size", MAX_OBJECT_SIZE),
     _set("object_size", 17.57), _head("paper"), _head(None)],
)  # fmt: skip
def test_the_values_napari_unet_writes_still_load(tiny_file, tmp_path, change):
    good = _edited(tiny_file, tmp_path / "good.safetensors", change)
    load_model(good)
    read_metadata(good)


@pytest.mark.parametrize(
    ("key", "value"), [("background", [1]), ("background", "grey"), ("object_size", 1e300)]
)
def test_save_model_refuses_what_the_loader_refuses(tmp_path, key, value):
    with pytest.raises(InputError, match=key):
        save_model(tmp_path / "m.safetensors", build_model(CONFIG), **{key: value})
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("head", [["paper"], {"paper": 1}, 2.5])
def test_a_head_that_is_not_a_name_is_an_input_error(head):
    with pytest.raises(InputError, match="unknown head"):
        build_model({**CONFIG, "head": head})


def test_a_metadata_dict_given_in_python_with_an_odd_background_predicts():
    """A dict built in Python is not a model file: an odd background is passed over, as an
    unknown word is (before, a list crashed the Predictor with "unhashable type")."""
    import numpy as np

    from napari_unet import predict
    from napari_unet.core.models import UNet

    net = UNet(1, 2, base_channels=4, depth=2, padding="same").eval()
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    odd = predict(net, image, metadata={"background": [1]})
    assert odd.shape == (2, 40, 40)
    np.testing.assert_array_equal(odd, predict(net, image, metadata={}))
