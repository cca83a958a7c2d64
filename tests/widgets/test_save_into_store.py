"""Save segmentation... never replaces a Zarr store holding the image, nor writes into it.

Before, only the image's own path was refused: with the image opened from
``experiment.zarr/raw``, saving the segmentation as ``experiment.zarr`` replaced the whole
store (a store is written as a folder, replaced whole) and the raw image was deleted.
"""

from __future__ import annotations

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

import napari_unet as nu  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.widgets._saving import save_labels  # noqa: E402


def _experiment(tmp_path) -> tuple:
    """``experiment.zarr`` (a group) with the image array ``raw`` in it: (store, image)."""
    image = (nu.touching_cells((64, 64), n_cells=6, seed=1)[0] * 1000).astype(np.uint16)
    store = tmp_path / "experiment.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    group.create_array("raw", shape=image.shape, dtype=image.dtype, chunks=(32, 32))[:] = image
    return store, image


def _files(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_store_holding_the_image_is_refused_and_kept(tmp_path):
    store, image = _experiment(tmp_path)
    before = _files(tmp_path)
    labels = np.ones(image.shape, np.int32)
    for inputs in ([None, store / "raw"], [store / "raw" / ".." / "raw"]):
        with pytest.raises(InputError, match="holds an input"):
            save_labels(labels, store, inputs=inputs)
    assert _files(tmp_path) == before  # nothing written, nothing removed
    np.testing.assert_array_equal(zarr.open_array(str(store / "raw"), mode="r")[:], image)


@pytest.mark.parametrize("name", ["seg.zarr", "seg.tif"])
def test_writing_into_the_images_store_is_refused(tmp_path, name):
    store, image = _experiment(tmp_path)
    before = _files(tmp_path)
    for src, out in ((store, store / name), (store / "raw", store / "raw" / name)):
        with pytest.raises(InputError, match="inside an input"):
            save_labels(np.ones(image.shape, np.int32), out, inputs=[src])
    assert _files(tmp_path) == before


def test_a_store_beside_the_image_is_written(tmp_path):
    store, image = _experiment(tmp_path)
    labels = np.arange(image.size, dtype=np.int32).reshape(image.shape)
    out = save_labels(labels, tmp_path / "experiment.labels.zarr", inputs=[store / "raw"])
    np.testing.assert_array_equal(np.asarray(nu.read_image(out)), labels)
    out = save_labels(labels + 1, out, inputs=[store / "raw"])  # replacing its own store: fine
    np.testing.assert_array_equal(np.asarray(nu.read_image(out)), labels + 1)
    np.testing.assert_array_equal(zarr.open_array(str(store / "raw"), mode="r")[:], image)


def test_the_predict_dock_refuses_and_the_image_stays(
    run_predict, make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch, errors
):
    from qtpy.QtWidgets import QFileDialog

    from napari_unet.widgets.predict import PredictWidget

    store, image = _experiment(tmp_path)
    viewer = make_napari_viewer()
    layer = viewer.open(str(store / "raw"), plugin="napari")[0]
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="A")
    widget._image.value = layer
    run_predict(widget)
    before = _files(tmp_path)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(store), ""))
    widget._save_labels.native.click()  # the user picks experiment.zarr in the dialog
    qtbot.waitUntil(lambda: widget._status.value.startswith("Error"), timeout=30000)
    assert "holds an input" in errors[-1]
    assert _files(tmp_path) == before
    np.testing.assert_array_equal(zarr.open_array(str(store / "raw"), mode="r")[:], image)


def test_a_plain_folder_named_zarr_is_not_replaced(tmp_path):
    """The folder's files would have gone: saving replaces a store whole."""
    folder = tmp_path / "results.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with pytest.raises(InputError, match="not a Zarr store: saving there would delete"):
        save_labels(np.ones((8, 8), np.int32), folder)
    assert (folder / "notes.txt").read_text() == "my notes"
    store = save_labels(np.ones((8, 8), np.int32), tmp_path / "labels.zarr")
    save_labels(np.zeros((8, 8), np.int32), store)  # a store is replaced, as asked
    (tmp_path / "empty.zarr").mkdir()
    save_labels(np.ones((8, 8), np.int32), tmp_path / "empty.zarr")  # an empty folder: fine
