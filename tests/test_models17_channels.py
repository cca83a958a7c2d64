"""A model file whose config's ``in_channels`` was damaged or edited: ``train --init/--resume``
and the Train dock give the model file's own error, as ``load_model`` does, instead of a
traceback ("abc", null) or a message blaming the images (0, 5) (each failed before its fix)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet import build_model, load_model, save_model, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.images.synthetic import touching_cells  # noqa: E402
from napari_unet.core.models.filecheck import ModelFileError  # noqa: E402
from napari_unet.core.models.modelfile import input_channels  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

#: A value written over the config's in_channels, and what the error must name.
EDITS = {"text": ("abc", "in_channels"), "null": (None, "in_channels"),
         "zero": (0, "in_channels"), "five": (5, "shape")}  # fmt: skip


def _edited(tmp_path, value):
    """A small model file whose metadata says ``in_channels: value`` (tensors unchanged)."""
    net = build_model({"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2})
    path = save_model(tmp_path / "good.safetensors", net)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    table = json.loads(data[8 : 8 + n])
    info = json.loads(table["__metadata__"]["napari_unet"])
    info["config"]["in_channels"] = value
    table["__metadata__"]["napari_unet"] = json.dumps(info)
    header = json.dumps(table).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    edited = tmp_path / "edited.safetensors"
    edited.write_bytes(struct.pack("<Q", len(header)) + header + data[8 + n :])
    return edited


@pytest.mark.parametrize("kind", EDITS)
def test_input_channels_of_an_edited_file_is_the_error_load_model_gives(tmp_path, kind):
    value, named = EDITS[kind]
    edited = _edited(tmp_path, value)
    with pytest.raises(ModelFileError) as loading:
        load_model(edited)
    # before: a ValueError ("abc"), a TypeError (null), 0 or 5
    with pytest.raises(ModelFileError, match=named) as reading:
        input_channels(edited)
    assert str(reading.value) == str(loading.value)


def test_input_channels_of_a_good_file_and_a_builtin_model(tmp_path):
    from napari_unet.core.models.pretrained import resolve_model

    assert input_channels(_edited(tmp_path, 1)) == 1
    assert input_channels(resolve_model("nuclei")) == 1


@pytest.fixture()
def pair(tmp_path):
    img, lab = touching_cells((64, 64), n_cells=4, seed=0)
    image = write_image(tmp_path / "img.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    return image, labels


@pytest.mark.parametrize(("kind", "flag"), [("text", "--init"), ("null", "--init"),
                                            ("zero", "--init"), ("five", "--init"),
                                            ("text", "--resume")])  # fmt: skip
def test_train_from_an_edited_file_says_the_file_is_damaged(pair, tmp_path, capsys, kind, flag):
    image, labels = pair
    edited = _edited(tmp_path, EDITS[kind][0])
    out = tmp_path / "out.safetensors"
    code = main(["train", "--images", str(image), "--labels", str(labels), flag, str(edited),
                 "-o", str(out), "--steps", "1", "--device", "cpu", "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert str(edited) in err and EDITS[kind][1] in err
    assert "give images with" not in err  # before (0, 5): the images were blamed
    assert not out.exists()


def test_the_train_docks_start_channels_refuse_an_edited_file(tmp_path):
    pytest.importorskip("qtpy")
    from napari_unet.core.errors import InputError
    from napari_unet.widgets._train_helpers import model_channels

    with pytest.raises(InputError, match="in_channels"):  # the dock shows InputErrors
        model_channels(_edited(tmp_path, "abc"), None)  # before: a bare ValueError
