"""A file's named axes decide how a short first axis is read (z planes, not channels).

Before, an OME-Zarr z-stack of at most 4 planes opened by the reader was read as channels by
the Annotate dock's ``auto`` (labels of one plane over all of them) and by Live; the reader
now names the layer's axes after the file's and ``auto`` follows the names.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.annotation.axes import plan_axes, prediction_plan

zarr = pytest.importorskip("zarr")


def _zstack(path, planes=3, axes="zyx"):
    data = np.random.default_rng(0).integers(0, 4000, (planes, 64, 48)).astype(np.uint16)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data)
    kinds = {"z": "space", "y": "space", "x": "space", "c": "channel", "t": "time"}
    group.attrs["multiscales"] = [
        {"version": "0.4", "axes": [{"name": a, "type": kinds[a]} for a in axes],
         "datasets": [{"path": "0", "coordinateTransformations": [
             {"type": "scale", "scale": [1.0] * len(axes)}]}]}
    ]  # fmt: skip
    return data


def test_named_first_axis_decides_auto():
    assert plan_axes((3, 64, 48), names=("z", "y", "x")).kind == "stack"
    assert plan_axes((3, 64, 48), names=("t", "y", "x")).kind == "stack"
    assert plan_axes((3, 64, 48), names=("-3", "-2", "-1")).kind == "channels"  # unnamed
    assert plan_axes((3, 64, 48)).kind == "channels"
    assert plan_axes((9, 64, 48), names=("c", "y", "x")).kind == "channels"
    assert plan_axes((3, 64, 48), axes="channels", names=("z", "y", "x")).kind == "channels"
    plan, axis = prediction_plan((3, 64, 48), False, 3, ("z", "y", "x"))
    assert plan.kind == "stack" and axis == "none"  # a 3-channel model: still planes
    assert prediction_plan((3, 64, 48), False, 3)[1] == 0


def test_reader_names_the_axes_and_annotate_reads_planes(make_napari_viewer, tmp_path):
    from napari_unet.widgets.annotate import AnnotateWidget

    _zstack(tmp_path / "stack.zarr")
    viewer = make_napari_viewer()
    [image] = viewer.open(str(tmp_path / "stack.zarr"), plugin="napari-unet")
    assert tuple(image.axis_labels) == ("z", "y", "x")
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = image
    widget._folder.value = tmp_path / "project"
    widget._start_btn.native.click()
    assert widget._plan is not None and widget._plan.kind == "stack"
    assert widget._annotations.data.shape == (3, 64, 48)  # one plane of labels per z


def test_channel_layers_are_named_without_the_channel_axis(tmp_path):
    from napari_unet.reader import read_ome_zarr

    _zstack(tmp_path / "two.zarr", planes=2, axes="cyx")
    [(_, meta, _)] = read_ome_zarr(str(tmp_path / "two.zarr"))
    assert meta["channel_axis"] == 0 and meta["axis_labels"] == ("y", "x")
