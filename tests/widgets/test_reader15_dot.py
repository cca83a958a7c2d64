"""An OME-Zarr store opened as ``.`` (from inside it): named as by its path, annotated beside it.

Before, napari's reader named the layers ``.`` and ``" cells"`` (the image's recorded name
empty, so the docks paired nothing), and the Annotate dock wrote its project in
``./.napari-unet``, inside the store.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_annotate_hunt5 import _settle, _widget

from napari_unet.core.annotation.project import ANNOTATIONS_FILE, project_folder_for

zarr = pytest.importorskip("zarr")


def _store(path):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 251)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    level = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level]}]
    return path


def test_annotating_a_store_opened_as_dot_writes_beside_it(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    store = _store(tmp_path / "cells.ome.zarr")
    monkeypatch.chdir(store)
    viewer = make_napari_viewer()
    image = viewer.open(".", plugin="napari-unet")[0]
    assert image.name == "cells"
    widget = _widget(viewer, image)
    viewer.layers["cells annotations"].paint((20, 20), 5)
    _settle(qtbot, widget)
    assert not (store / ".napari-unet").exists(), "nothing is written inside the store"
    folder = project_folder_for(store)
    assert folder.parent == tmp_path and (folder / ANNOTATIONS_FILE).is_file()
    assert not errors
    import json

    saved = json.loads((folder / "project.json").read_text(encoding="utf-8"))
    assert json.dumps(saved).count('"cells.ome.zarr"') >= 1, saved  # named, not ""
