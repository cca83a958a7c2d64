"""save_model refuses the metadata load_model would refuse, before writing over a good file.

Before, ``save_model(path, model, separation_gap=-4)`` (or 3.0, 500, ``metrics=0.81``,
``training="500 steps"``) wrote a file load_model then refused (ModelFileError): with the
default ``overwrite=True`` the good model at ``path`` was gone. And ``load_model(None)``,
``load_model(5)`` or ``load_model(b"m")`` raised pathlib's TypeError.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, build_model, load_model, save_model

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2, "batch_norm": True}


@pytest.fixture(scope="module")
def model():
    return build_model(CONFIG)


def _nested(levels: int):
    value = [1]
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"separation_gap": -4}, "'separation_gap' must be 0 to 100"),
        ({"separation_gap": 500}, "'separation_gap' must be 0 to 100"),
        ({"separation_gap": 3.0}, "'separation_gap' must be a int"),
        ({"metrics": 0.81}, "'metrics' must be a dict"),
        ({"metrics": [0.8]}, "'metrics' must be a dict"),
        ({"training": "500 steps"}, "'training' must be a dict"),
        ({"notes": _nested(80)}, "nested more than 64 levels"),
    ],
    ids=["gap_negative", "gap_huge", "gap_float", "metrics_number", "metrics_list",
         "training_text", "too_deep"],  # fmt: skip
)
def test_save_refuses_what_load_refuses_and_keeps_the_good_file(tmp_path, model, metadata, words):
    path = tmp_path / "my_model.safetensors"
    save_model(path, model, separation_gap=2)
    good = path.read_bytes()
    with pytest.raises(InputError, match=words):
        save_model(path, model, **metadata)
    assert path.read_bytes() == good  # the good model is still there, and loads
    assert load_model(path)[1]["separation_gap"] == 2


def test_save_still_takes_numpy_values_the_file_stores_as_json(tmp_path, model):
    path = save_model(
        tmp_path / "m.safetensors", model, separation_gap=np.int64(3),
        metrics={"best": {"ap50": np.float32(0.5)}}, training={"steps": 10},
    )  # fmt: skip
    info = load_model(path)[1]
    assert info["separation_gap"] == 3 and info["training"] == {"steps": 10}


@pytest.mark.parametrize("path", [None, 5, b"model.safetensors"], ids=["none", "int", "bytes"])
def test_load_model_of_a_non_path_says_what_it_takes(path):
    with pytest.raises(InputError, match="a model file's path must be a string or a Path"):
        load_model(path)
