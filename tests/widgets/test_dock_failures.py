"""Every dock action completes or leaves the viewer as it was, with a notification."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")

from napari_unet import build_model, save_model, touching_cells  # noqa: E402
from napari_unet.core.annotation.project import REGION_FILE, project_folder_for  # noqa: E402
from napari_unet.widgets.annotate import AnnotateWidget  # noqa: E402
from napari_unet.widgets.predict import OTHER, PredictWidget  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "region",
    [
        [1, 2, 3],
        {"shapes": [{"type": "blob", "data": [[0, 0], [5, 5]]}]},
        {"shapes": [{"type": "rectangle", "data": [[0, 0, 0, 0], [1, 1, 1, 1]]}]},
        {"shapes": "all of it"},
    ],
    ids=["list", "unknown-type", "4d-vertices", "not-a-list"],
)
def test_a_damaged_region_file_is_reported_and_left_alone(
    make_napari_viewer, tmp_path, messages, region
):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, (np.random.default_rng(0).random((48, 64)) * 200).astype(np.uint8))
    folder = project_folder_for(path)
    folder.mkdir()
    (folder / REGION_FILE).write_text(json.dumps(region))
    before = (folder / REGION_FILE).read_bytes()
    viewer = make_napari_viewer()
    layer = viewer.open(path)[0]
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = layer
    widget._start_btn.native.click()  # no exception escapes
    assert any("damaged" in m for m in messages), messages
    assert "cells annotations" in viewer.layers  # the session works, autosave is off
    assert not widget._saver.enabled
    assert (folder / REGION_FILE).read_bytes() == before


def test_a_failed_run_does_not_break_the_next(make_napari_viewer, qtbot, tmp_path, errors):
    viewer = make_napari_viewer()
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    viewer.add_image(img, name="cells")
    viewer.add_labels(lab, name="cells labels")
    # A layer of the preview's name and another size (not the dock's: it is left alone).
    viewer.add_labels(np.zeros((40, 40), np.int32), name="cells preview")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._preset.value = "tiny"
    for name, value in (("_steps", 3), ("_batch", 2), ("_crop", 48)):
        getattr(widget, name).value = value
    widget._device.value = "cpu"
    widget._save_path.value = tmp_path / "m.safetensors"
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=60_000)
    assert not errors, errors
    assert viewer.layers["cells preview"].data.shape == (40, 40)
    previews = [ly for ly in viewer.layers if ly.name.startswith("cells preview ")]
    assert [ly.data.shape for ly in previews] == [(96, 96)]  # the dock's own preview
    assert widget._result.saved_to == tmp_path / "m.safetensors"


def test_a_model_file_with_invalid_metadata_is_a_notification(make_napari_viewer, tmp_path, errors):
    net = build_model({"arch": "unet", "in_channels": 1, "base_channels": 4, "depth": 2,
                       "padding": "same"})  # fmt: skip
    import struct

    # save_model refuses such a threshold now; a file edited by hand still has it
    path = save_model(tmp_path / "odd.safetensors", net)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    table = json.loads(data[8 : 8 + n])
    meta = json.loads(table["__metadata__"]["napari_unet"])
    meta["postprocess"] = {"threshold": "high"}
    table["__metadata__"]["napari_unet"] = json.dumps(meta)
    header = json.dumps(table).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + data[8 + n :])
    viewer = make_napari_viewer()
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._source.value = OTHER
    widget._model_file.value = path  # no exception escapes the signal
    assert errors and "'threshold' must be a number between 0 and 1" in errors[-1]
    assert widget._threshold.value == pytest.approx(0.5)  # the defaults are shown


def test_exporting_the_annotations_over_the_image_is_refused(make_napari_viewer, tmp_path, errors):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, (np.random.default_rng(1).random((48, 64)) * 200).astype(np.uint8))
    before = path.read_bytes()
    viewer = make_napari_viewer()
    layer = viewer.open(path)[0]
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = layer
    widget._start_btn.native.click()
    widget._tiff_path.value = path
    widget._export_btn.native.click()
    assert errors and "Export refused" in errors[-1] and "is an input" in errors[-1]
    assert path.read_bytes() == before
