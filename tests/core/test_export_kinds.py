"""A brightfield model is shared as one: its tags, its test image, its name (bioimage.io)."""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.errors import InputError
from napari_unet.core.exchange import card
from napari_unet.core.images.contrast import background_level
from napari_unet.core.models.modelfile import read_metadata
from napari_unet.core.models.pretrained import pretrained_path


def _meta(name: str) -> dict:
    return read_metadata(pretrained_path(name))


def test_tags_say_which_kind_of_image_the_model_is_for():
    bright, fluo = _meta("nuclei-brightfield"), _meta("nuclei")
    assert card.dark_on_bright(bright) and not card.dark_on_bright(fluo)
    tags = card.tags(bright["config"], bright)
    assert "brightfield-microscopy" in tags and "fluorescence-light-microscopy" not in tags
    assert "fluorescence-light-microscopy" in card.tags(fluo["config"], fluo)
    assert bright["name"] == "nuclei-brightfield" and "bright background" in bright["description"]
    # a model fine-tuned from it says so in its provenance
    tuned = {"provenance": {"source": "fine-tuned from nuclei-brightfield.unet.safetensors"}}
    assert card.dark_on_bright(tuned) and not card.dark_on_bright({"provenance": {}})
    # what its training recorded of its images comes first: a fine-tune of a fine-tune
    # names no brightfield start, a histology model fine-tuned from nuclei neither
    assert card.dark_on_bright({"background": "bright", "provenance": {"source": "x.st"}})
    assert not card.dark_on_bright({"background": "dark", "provenance": tuned["provenance"]})


def test_a_brightfield_model_is_tested_on_dark_nuclei_on_a_bright_background(tmp_path):
    pytest.importorskip("torch")
    from napari_unet.core.exchange.export import _write_files

    net, meta = nu.pretrained("nuclei-brightfield")
    files = _write_files(tmp_path, net, dict(meta), None)
    assert "contrast inverted" in files["test_note"]
    x = np.load(files["input"])[0, 0]
    assert background_level(x) > 0.5  # a bright background
    y = np.load(files["output"])[0]
    assert 0.05 < float((y[1] > 0.5).mean()) < 0.6  # it marks nuclei, not the background
    (tmp_path / "f").mkdir()
    net, meta = nu.pretrained("nuclei")
    note = _write_files(tmp_path / "f", net, dict(meta), None)["test_note"]
    assert "contrast inverted" not in note


def test_auto_is_refused_by_export_with_what_to_do(tmp_path):
    pytest.importorskip("bioimageio.spec")
    with pytest.raises(InputError, match="a package holds one model"):
        nu.export_bioimageio("auto", tmp_path / "x.zip")
