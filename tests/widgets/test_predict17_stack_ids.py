"""A stack's view result saved as .zarr keeps its place; a copied user's layer keeps ids unique.

Before:
- the view result of a stack of big planes (a layer of the view's part, placed by its
  translation) saved as ``.zarr`` was a bare Zarr array: it reopened at the origin at scale
  1, and napari-unet's reader did not open it at all;
- a plane or a view predicted beside a user's uint8 (or uint16) Labels layer of the
  result's name went into a copy of it that kept its type: ids past 255 wrapped round, so
  id 256 became 0 (the object erased) and 257 became 1 (one of the user's ids).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_unet.widgets._label_ids import ids_dtype, shifted
from napari_unet.widgets._predict_place import Results

zarr = pytest.importorskip("zarr")

NAME = "st segmentation (tiny)"


def _save(widget, qtbot, path: Path) -> str:
    widget._on_save_labels(path=path)
    qtbot.waitUntil(lambda: not widget._status.value.startswith("Saving"), timeout=60_000)
    return widget._status.value


def test_a_stacks_view_result_saved_as_zarr_reopens_in_place(
    make_napari_viewer, run_predict, tiny, qtbot, tmp_path, monkeypatch, one_thread
):
    from napari_unet import touching_cells
    from napari_unet.reader import get_reader
    from napari_unet.widgets._layers import camera
    from napari_unet.widgets.predict import VIEW, PredictWidget

    monkeypatch.setattr("napari_unet.widgets._predict_region.FULL_PIXELS", 80 * 80)
    viewer = make_napari_viewer()
    stack = np.stack([touching_cells((128, 128), n_cells=12, seed=s)[0] for s in range(2)])
    image = viewer.add_image(
        stack.astype(np.float32), name="st", scale=(3.0, 0.5, 0.5),
        translate=(7.0, 10.0, 20.0), axis_labels=("t", "y", "x"),
    )  # fmt: skip
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = image
    widget._scope.value = VIEW
    viewer.dims.set_current_step(0, 1)
    camera(viewer).center = tuple(image.data_to_world((1, 64, 64))[1:])
    camera(viewer).zoom = 10.0
    run_predict(widget)
    seg = widget._last[0]
    assert seg.data.ndim == 3 and seg.data.shape[1:] != stack.shape[1:]  # the view's part
    assert np.asarray(seg.data).any() and seg.translate[-1] > 20.0

    out = tmp_path / "st_labels.zarr"
    assert _save(widget, qtbot, out).startswith("Saved"), widget._status.value
    assert get_reader(str(out)) is not None, "not an OME-Zarr label image: no place kept"
    reopened = viewer.open(str(out), plugin="napari-unet")[0]
    np.testing.assert_allclose(reopened.scale, seg.scale)
    np.testing.assert_allclose(reopened.translate, seg.translate)
    assert tuple(reopened.axis_labels) == ("t", "y", "x")  # the image's, not z
    np.testing.assert_array_equal(np.asarray(reopened.data), np.asarray(seg.data))


def test_a_stacks_labels_saved_as_zarr_keep_scale_units_and_z(make_napari_viewer, tmp_path):
    from napari_unet.widgets._saving import labels_placement, save_labels

    viewer = make_napari_viewer()
    data = np.zeros((3, 40, 50), np.int32)
    data[0, 2:9, 3:8], data[2, 20:30, 30:45] = 1, 70_000
    units = ("micrometer",) * 3
    layer = viewer.add_labels(data, scale=(2.0, 0.25, 0.5), translate=(4, 1, 2), units=units)
    out = tmp_path / "stack_labels.zarr"
    save_labels(np.array(layer.data), out, placement=labels_placement(layer))
    reopened = viewer.open(str(out), plugin="napari-unet")[0]
    np.testing.assert_allclose(reopened.scale, (2.0, 0.25, 0.5))
    np.testing.assert_allclose(reopened.translate, (4.0, 1.0, 2.0))
    assert tuple(str(u) for u in reopened.units) == units
    assert tuple(reopened.axis_labels) == ("z", "y", "x")  # unnamed axes: z
    np.testing.assert_array_equal(np.asarray(reopened.data), data)


def test_a_stack_pyramid_keeps_every_plane(tmp_path):
    from napari_unet.core.images.omezarr import read_multiscale
    from napari_unet.core.images.stacklabels import write_stack_labels

    data = np.arange(2 * 70 * 40, dtype=np.int32).reshape(2, 70, 40)
    out = write_stack_labels(tmp_path / "s.zarr", data, "t", (5, 1, 1), (1, 2, 3), top=32)
    levels = read_multiscale(out)
    assert [lv.shape for lv in levels] == [(2, 70, 40), (2, 35, 20), (2, 18, 10)]
    np.testing.assert_array_equal(np.asarray(levels[2]), data[:, ::4, ::4])
    meta = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]
    assert [a["name"] for a in meta["axes"]] == ["t", "y", "x"]
    assert meta["datasets"][1]["coordinateTransformations"] == [
        {"type": "scale", "scale": [5.0, 2.0, 2.0]},
        {"type": "translation", "translation": [1.0, 2.0, 3.0]},
    ]


def _cells(shape, count: int, start: int = 1) -> np.ndarray:
    out = np.zeros(shape, np.int32)
    for k in range(count):
        y, x = divmod(k, 6)
        out[2 + 5 * y : 5 + 5 * y, 2 + 5 * x : 5 + 5 * x] = start + k
    return out


def test_a_view_copied_into_a_users_uint8_layer_keeps_every_id(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.float32), name="st")
    mine = np.zeros((64, 64), np.uint8)
    mine[:, :4] = 254  # the user's labels: id 254, outside the view
    viewer.add_labels(mine, name=NAME)
    results = Results(viewer)
    view = [slice(8, 40), slice(16, 48)]
    new = results.put(NAME, _cells((32, 32), 3), (64, 64), view, "labels", image)
    assert new.name == f"{NAME} 2"
    assert new.data.dtype == np.uint16  # wide enough, and no wider
    assert sorted(np.unique(new.data)) == [0, 254, 255, 256, 257]  # before: [0, 1, 254, 255]
    assert (np.asarray(new.data)[view[0], view[1]] > 0).sum() == 3 * 9  # none erased
    np.testing.assert_array_equal(np.asarray(new.data)[:, :4], 254)  # the user's kept


def test_the_docks_copy_widens_as_later_planes_add_ids(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((3, 32, 32), np.float32), name="st")
    mine = np.zeros((3, 32, 32), np.uint8)
    mine[2, 0, 0] = 240
    viewer.add_labels(mine, name=NAME)
    results = Results(viewer)
    copy = results.put(NAME, _cells((32, 32), 10), (3, 32, 32), [0], "labels", image)
    assert copy.name == f"{NAME} 2" and copy.data.dtype == np.uint8  # 241-250 fit
    again = results.put(NAME, _cells((32, 32), 10), (3, 32, 32), [1], "labels", image)
    assert again is copy  # the dock's own, written in place
    assert copy.data.dtype == np.uint16
    assert sorted(np.unique(copy.data[1]))[1:] == list(range(251, 261))  # before: 251-255, 0-4
    np.testing.assert_array_equal(np.unique(copy.data[0]), [0, *range(241, 251)])
    third = results.put(NAME, _cells((32, 32), 2), (3, 32, 32), [1], "labels", image)
    assert third is copy  # still seen as the dock's, not as the user's edit


def test_ids_dtype_is_the_smallest_that_holds_them():
    assert ids_dtype(np.uint8, 255) == np.uint8
    assert ids_dtype(np.uint8, 256) == np.uint16
    assert ids_dtype(np.int8, 200) == np.int16
    assert ids_dtype(np.uint16, 70_000) == np.uint32
    assert ids_dtype(np.int32, 5) == np.int32
    assert ids_dtype(np.bool_, 3) == np.uint8
    moved = shifted(np.array([0, 1, 2], np.int32), 2**31)
    assert moved.dtype == np.int64 and moved.tolist() == [0, 2**31 + 1, 2**31 + 2]
