"""The Predict dock's Save segmentation... suggests the name the folder tools pair.

Before, ``cells.labels.tif`` was suggested for ``cells.png``: ``predict`` on the folder
segmented it as an image, ``measure`` on the folder took the PNG for a label file, and the
Review dock listed it as an image. ``NAME_labels.tif`` is what they all know.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.widgets import _saving


def _layer(path: Path | None, shape=(4, 4), name="seg"):
    """A stand-in layer: the data size, the name and the file it was read from."""
    return SimpleNamespace(
        data=np.zeros(shape, np.int32), name=name, source=SimpleNamespace(path=path)
    )


def test_an_image_from_cells_png_is_saved_as_its_labels(make_napari_viewer, tmp_path):
    from napari_unet.cli import main
    from napari_unet.core.review.folders import collect_images, label_candidates, stem_of

    image, labels = nu.touching_cells((64, 64), n_cells=4, seed=3)
    source = tmp_path / "cells.png"
    nu.write_image(source, (image * 255).astype(np.uint8))
    viewer = make_napari_viewer()
    layer = viewer.open(source)[0]
    seg = viewer.add_labels(labels.astype(np.int32), name="cells segmented")
    suggested = _saving.suggested_labels_path(seg, layer)
    assert suggested == tmp_path / "cells_labels.tif"

    inputs = [_saving.layer_source(ly) for ly in (seg, layer)]
    saved = _saving.save_labels(np.asarray(seg.data), suggested, inputs)
    assert collect_images(tmp_path) == [source]  # the labels are not another image
    found = [tmp_path / n for n in label_candidates(stem_of(source))]
    assert next(p for p in found if p.exists()) == saved  # paired as the image's labels

    out = tmp_path / "objects.csv"  # measure pairs them too: before, the PNG was "labels"
    assert main(["measure", str(tmp_path), "-o", str(out)]) == 0
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["image"] for r in rows} == {"cells"}
    assert len(rows) == len(np.unique(labels)) - 1


def test_the_name_follows_the_folder_tools_stem(tmp_path, monkeypatch):
    seg = _layer(None)
    assert _saving.suggested_labels_path(seg, _layer(tmp_path / "a.ome.tif")) == (
        tmp_path / "a_labels.tif"
    )
    assert _saving.suggested_labels_path(seg, _layer(tmp_path / "b.tiff")) == (
        tmp_path / "b_labels.tif"
    )
    monkeypatch.setattr(_saving, "ZARR_PIXELS", 8)  # labels this large go to a Zarr store
    assert _saving.suggested_labels_path(seg, _layer(tmp_path / "a.ome.tif")) == (
        tmp_path / "a_labels.zarr"
    )


@pytest.mark.parametrize("name", ["cells.png", "a.ome.tif"])
def test_a_predict_run_on_the_folder_leaves_the_saved_labels_out(tmp_path, name):
    from napari_unet.cli.predict import collect_inputs

    source = tmp_path / name
    nu.write_image(source, np.zeros((16, 16), np.uint8))
    out = _saving.suggested_labels_path(_layer(None, (16, 16)), _layer(source))
    _saving.save_labels(np.zeros((16, 16), np.int32), out, [source])
    assert collect_inputs([tmp_path], images_only=True) == [source]
