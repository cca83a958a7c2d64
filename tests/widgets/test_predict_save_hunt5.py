"""Save segmentation... keeps the image's place; the reader keeps the axes' units.

Each test fails before its fix: a segmentation of an OME-Zarr image (scale 0.5 µm,
translation (100, 50)) saved as ``.zarr`` reopened at scale 1 and at the origin, and as
``.tif`` without a pixel size; with the image opened from ``experiment.zarr/raw`` the
suggested name was ``experiment.zarr/raw.labels.tif`` and saving inside the store was
allowed; the reader opened axes in micrometres as pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import napari_unet as nu

zarr = pytest.importorskip("zarr")
pytestmark = pytest.mark.usefixtures("one_thread")

UM = ("micrometer", "micrometer")


def _ome_image(path: Path, scale=(0.5, 0.5), translation=(100.0, 50.0), unit="micrometer"):
    """A one-level NGFF 0.4 (Zarr v2) image of touching cells at ``path``."""
    image = (nu.touching_cells((64, 64), n_cells=6, seed=1)[0] * 1000).astype(np.uint16)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=image, chunks=(32, 32))
    axes = [{"name": a, "type": "space", **({"unit": unit} if unit else {})} for a in "yx"]
    transforms = [{"type": "scale", "scale": list(scale)},
                  {"type": "translation", "translation": list(translation)}]  # fmt: skip
    group.attrs.update({"multiscales": [{"version": "0.4", "axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": transforms}]}]})  # fmt: skip
    return path


def _predicted(viewer, path, tiny, run_predict):
    from napari_unet.widgets.predict import PredictWidget

    image = viewer.open(str(path), plugin="napari-unet")[0]
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = image
    run_predict(widget)
    assert widget._last is not None, widget._status.value
    return widget, image


def _save(widget, qtbot, path) -> str:
    widget._on_save_labels(path=Path(path))
    qtbot.waitUntil(lambda: not widget._status.value.startswith("Saving"), timeout=60_000)
    return widget._status.value


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_a_saved_segmentation_keeps_the_images_scale_and_place(
    make_napari_viewer, qtbot, tmp_path, tiny, run_predict, suffix
):
    from napari_unet.core.images.pixels import read_pixel_size
    from napari_unet.reader import get_reader

    viewer = make_napari_viewer()
    widget, image = _predicted(viewer, _ome_image(tmp_path / "cells.ome.zarr"), tiny, run_predict)
    out = tmp_path / f"cells.labels{suffix}"
    assert _save(widget, qtbot, out).startswith("Saved"), widget._status.value
    if suffix == ".tif":
        assert read_pixel_size(out) == pytest.approx((0.5, 0.5))
        return
    reader = get_reader(str(out))
    assert reader is not None, "the saved store is no OME-Zarr label image"
    data, meta, kind = reader(str(out))[0]
    assert kind == "labels"
    np.testing.assert_allclose(meta["scale"], image.scale)
    np.testing.assert_allclose(meta["translate"], image.translate)
    assert tuple(meta["units"]) == UM
    reopened = viewer.open(str(out), plugin="napari-unet")[0]
    np.testing.assert_allclose(reopened.scale, image.scale)
    np.testing.assert_allclose(reopened.translate, image.translate)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _in_experiment(make_napari_viewer, tmp_path, tiny, run_predict):
    """The Predict dock after predicting ``experiment.zarr/raw``: (dock, image, store)."""
    store = tmp_path / "experiment.zarr"
    zarr.open_group(str(store), mode="w", zarr_format=2)
    _ome_image(store / "raw", scale=(1.0, 1.0), translation=(0.0, 0.0))
    widget, image = _predicted(make_napari_viewer(), store / "raw", tiny, run_predict)
    return widget, image, store


def test_the_suggested_name_lies_beside_the_enclosing_store(
    make_napari_viewer, tmp_path, tiny, run_predict
):
    from napari_unet.widgets._saving import suggested_labels_path

    widget, image, _ = _in_experiment(make_napari_viewer, tmp_path, tiny, run_predict)
    seg = widget._last[0]
    assert suggested_labels_path(seg, image) == tmp_path / "experiment_labels.tif"


def test_saving_into_the_store_enclosing_the_image_is_refused(
    make_napari_viewer, qtbot, tmp_path, tiny, run_predict, errors
):
    widget, _, store = _in_experiment(make_napari_viewer, tmp_path, tiny, run_predict)
    before = _files(store)
    for name in ("raw.labels.tif", "raw.labels.zarr", "seg.tif"):
        status = _save(widget, qtbot, store / name)
        assert not status.startswith("Saved"), status
        assert "inside the Zarr store experiment.zarr" in status, status
    assert _files(store) == before  # nothing written into the user's store
    assert _save(widget, qtbot, tmp_path / "experiment.labels.zarr").startswith("Saved")


def test_the_reader_keeps_the_axes_units(make_napari_viewer, tmp_path):
    from napari_unet.core.images.omezarr import create_labels

    image = _ome_image(tmp_path / "cells.ome.zarr")
    labels = tmp_path / "cells.labels.zarr"
    create_labels(labels, (64, 64), (32, 32), 1, scale=(0.5, 0.5), units=("micrometer", None))
    plain = _ome_image(tmp_path / "plain.ome.zarr", unit=None)
    viewer = make_napari_viewer()
    for path, units in ((image, UM), (labels, ("micrometer", "pixel")), (plain, ("pixel",) * 2)):
        layer = viewer.open(str(path), plugin="napari-unet")[0]
        assert tuple(str(u) for u in layer.units) == units, (path.name, layer.units)
