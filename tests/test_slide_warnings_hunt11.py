"""Whole-slide labelling warns of a wrong input as ``predict`` and ``segment`` do.

Before, ``napari-unet slide`` and ``segment_slide`` said nothing of a two-channel
DAPI + membrane store averaged by a grey model, nor of an H&E store given a fluorescence
model (most of it called foreground, the contrast the other way round), where
``napari-unet predict`` and ``segment`` warn of each.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.cli import main
from napari_unet.core.inference.domain import DomainWarning

zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("one_thread")

SIDE = 512


def _nuclei() -> np.ndarray:
    """The bundled fluorescence nuclei, tiled to SIDE x SIDE (uint8)."""
    image = nu.nuclei_data()[0]
    reps = (-(-SIDE // image.shape[0]), -(-SIDE // image.shape[1]))
    return np.tile(image, reps)[:SIDE, :SIDE].copy()


def _ome(path, data, axes: str):
    """An NGFF 0.4 image of ``data`` (one level, 256 px chunks) with ``axes``."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    chunks = tuple(1 if a == "c" else 256 for a in axes)
    group.create_array("0", data=data, chunks=chunks)
    kinds = [{"name": a, "type": "channel" if a == "c" else "space"} for a in axes]
    scale = {"type": "scale", "scale": [1.0] * len(axes)}
    datasets = [{"path": "0", "coordinateTransformations": [scale]}]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": kinds, "datasets": datasets}]
    return path


def _domain(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, DomainWarning)]


def _warning_lines(err: str, command: str) -> list[str]:
    prefix = f"napari-unet {command}: warning: "
    return [line[len(prefix) :] for line in err.splitlines() if line.startswith(prefix)]


def test_slide_warns_of_averaged_channels_as_predict_does(tmp_path, capsys):
    dapi = _nuclei()
    membrane = (np.roll(dapi, 7, axis=1) // 2 + 60).astype(np.uint8)
    store = _ome(tmp_path / "two.zarr", np.stack([dapi, membrane]), "cyx")
    assert main(["predict", "nuclei", str(store), "-o", str(tmp_path / "out")]) == 0
    said = _warning_lines(capsys.readouterr().err, "predict")
    assert len(said) == 1 and "averaged the image's 2 channels" in said[0]
    assert main(["slide", "nuclei", str(store)]) == 0
    err = capsys.readouterr().err
    assert _warning_lines(err, "slide") == said, err  # the same line, the same words
    assert "choose that channel" in said[0] and "--channel" in said[0]
    assert main(["slide", "nuclei", str(store), "--channel", "0", "--overwrite"]) == 0
    assert _warning_lines(capsys.readouterr().err, "slide") == []  # the nuclei chosen


def test_segment_slide_issues_segments_domain_warnings(tmp_path):
    model, meta = nu.pretrained("nuclei")
    grey = 255 - _nuclei()  # dark nuclei on a bright, pink-tinted background, as H&E
    he = np.stack([grey, (grey * 0.75).astype(np.uint8), (grey * 0.9).astype(np.uint8)], -1)
    src = tmp_path / "he.zarr"
    zarr.create_array(str(src), data=he, chunks=(256, 256, 3), zarr_format=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nu.segment(model, nu.read_image(src), metadata=meta)
    expected = _domain(caught)
    assert any("called foreground" in t for t in expected)  # the signs the slide shows too
    assert any("dark objects on a bright background" in t for t in expected)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = nu.segment_slide(model, src, tmp_path / "he_labels.zarr", metadata=meta)
    # the same signs, but the slide's advice never asks for the object size (slide refuses one)
    ask = "give the object size (the typical cell diameter in pixels, or 'estimate')"
    level = "label a pyramid level or a resized copy whose objects are the model's size"
    expected = [t.replace(ask, level) for t in expected]
    assert _domain(caught) == expected and list(result.warnings) == expected
    assert not any("give the object size" in t for t in expected)
    fluorescence = _ome(tmp_path / "grey.zarr", _nuclei(), "yx")  # the model's own kind
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = nu.segment_slide(model, fluorescence, metadata=meta)
    assert _domain(caught) == [] and result.warnings == () and 0 < result.foreground < 0.6
