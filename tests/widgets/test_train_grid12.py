"""The Train dock refuses annotations that do not lie on their image's pixels.

Before, Labels moved (translate) or scaled against the image (the same shape) were trained
as if they lay on the image's pixels: "finished at step 2; saved ..." without a word, a
model taught from misaligned cells. The Live dock already refused them; the Train dock now
refuses them too, for the training pair and for the validation pair, before any work.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("torch")

from test_train_hunt_fixes9 import dock, train  # noqa: E402

from napari_unet import touching_cells  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

OFF_GRID = "does not lie on the pixels of 'cells'"


@pytest.mark.parametrize("placed", [{"translate": (0, 40)}, {"scale": (2, 2)}])
def test_train_refuses_labels_off_the_image_pixels(make_napari_viewer, qtbot, tmp_path,
                                                   errors, placed):  # fmt: skip
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(lab, name="cells labels", **placed)
    widget = dock(viewer)
    out = tmp_path / "m.safetensors"
    widget._save_path.value = out
    widget._image.value, widget._labels_box.value = image, labels
    train(qtbot, widget)
    assert widget._result is None and not out.exists(), "trained on misaligned annotations"
    assert widget._status.value.startswith("Error: the annotations 'cells labels' " + OFF_GRID)
    assert "same scale and translate" in widget._status.value
    assert any(OFF_GRID in e for e in errors)


def test_train_refuses_validation_labels_off_their_image(make_napari_viewer, qtbot, tmp_path,
                                                         errors):  # fmt: skip
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    val_img, val_lab = touching_cells((96, 96), n_cells=10, seed=1)
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="train")
    labels = viewer.add_labels(lab, name="train labels")
    val_image = viewer.add_image(val_img, name="cells")
    val_labels = viewer.add_labels(val_lab, name="cells labels", translate=(10, 0))
    widget = dock(viewer)
    out = tmp_path / "m.safetensors"
    widget._save_path.value = out
    widget._image.value, widget._labels_box.value = image, labels
    widget._val_image.value = val_image
    widget._val_labels.value = val_labels
    train(qtbot, widget)
    assert widget._result is None and not out.exists(), "validated on misaligned annotations"
    assert widget._status.value.startswith(
        "Error: the validation annotations 'cells labels' " + OFF_GRID
    )


def test_layers_placed_alike_are_taken(make_napari_viewer):
    """An image and its annotations with the same pixel size and origin train as before."""
    from napari_unet.widgets._train_helpers import snapshot

    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    viewer = make_napari_viewer()
    place = {"scale": (0.5, 0.5), "translate": (3, 7)}
    image = viewer.add_image(img, name="cells", **place)
    labels = viewer.add_labels(lab, name="cells labels", **place)
    data = snapshot([(image, labels, None)], image, labels)
    np.testing.assert_array_equal(data["labels"][0], lab)
    np.testing.assert_array_equal(data["val"][1], lab)
