"""bioimage.io export: the README of a one-class (sigmoid) model names its one channel and its
sigmoid, and ``Path("nuclei")`` is exported as the built-in model, signed by its developers
(each failed before its fix)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from napari_unet import build_model, export_bioimageio, save_model  # noqa: E402

STATE_DICT = ("pytorch_state_dict",)
SMALL = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2}

pytestmark = pytest.mark.usefixtures("one_thread")


def _readme(package) -> str:
    with zipfile.ZipFile(package) as z:
        return z.read("README.md").decode()


def _image():
    rng = np.random.default_rng(0)
    return (rng.random((64, 64)) * 1000).astype(np.float32)


@pytest.mark.parametrize(("n_classes", "channel"), [(1, 0), (2, 1)])
def test_the_readme_names_the_channel_of_the_cell_probability(tmp_path, n_classes, channel):
    net = build_model(SMALL | {"n_classes": n_classes})
    model = save_model(tmp_path / "m.safetensors", net)
    package = export_bioimageio(model, tmp_path / "m.zip", weight_formats=STATE_DICT,
                                image=_image())  # fmt: skip
    text = " ".join(_readme(package).split())  # the lines joined
    assert f"threshold the cell probability (channel {channel})" in text
    if n_classes == 1:  # before: channel 1, which a one-class network has not; "softmax"
        assert "softmax" not in text and "two classes" not in text
        assert "the network applies the sigmoid itself" in text
        assert "one class (cell)" in text
    else:
        assert "the network applies the softmax" in text


def test_a_builtin_model_given_as_a_path_is_signed_as_the_builtin_one(tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)  # no file "nuclei" here: the name is the built-in model
    authors = []
    for model in ("nuclei", Path("nuclei")):
        out = export_bioimageio(model, tmp_path / f"{type(model).__name__}.zip",
                                weight_formats=STATE_DICT, image=_image())  # fmt: skip
        with zipfile.ZipFile(out) as z:
            authors.append(yaml.safe_load(z.read("rdf.yaml"))["authors"])
    assert authors[0] == authors[1]  # before: "unknown (exported by napari-unet)" for the Path
    assert "unknown" not in str(authors[1])
