"""The Live dock's picks per image: other images' ground truth (never a prediction), the region.

Before, *also train on other annotated images* took another image's prediction
(``"<image> segmentation (...)"``, the model's own output) when it had no ``annotations``
layer, even with its ground truth open, and the status said only "+ 1 other images".
And the *annotated region* chosen for one image stayed when another was chosen: Start
trained the unpainted part of that image inside the first one's shapes as background,
and neither the Ready nor the training status named the region.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

SIZE = 96
READY = "Ready: press Start live training to train on '{0}' with '{0} annotations'."


def _image(viewer, name: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    return viewer.add_image(rng.random((SIZE, SIZE)).astype(np.float32), name=name)


def _cells(y: int, x: int) -> np.ndarray:
    cells = np.zeros((SIZE, SIZE), np.int32)
    cells[y : y + 12, x : x + 12] = 1
    return cells


def _live(viewer):
    from napari_unet.widgets.live import LiveWidget

    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    return dock


def _rectangle(viewer, name: str, side: int = 60):
    return viewer.add_shapes([np.array([[0, 0], [0, side], [side, side], [side, 0]])], name=name)


def test_other_images_train_on_their_ground_truth_never_on_a_prediction(make_napari_viewer, qtbot):
    from napari_unet.widgets._live_inputs import other_annotations, own_labels

    viewer = make_napari_viewer()
    a = _image(viewer, "A")
    b = _image(viewer, "B", 1)
    c = _image(viewer, "C", 2)
    viewer.add_labels(_cells(50, 50), name="B segmentation (nuclei)")  # Predict's, first
    truth = viewer.add_labels(_cells(10, 10), name="B ground truth")
    viewer.add_labels(_cells(30, 30), name="C segmentation (nuclei)")  # only predicted
    annotations = viewer.add_labels(_cells(20, 20), name="A annotations")
    assert own_labels(viewer, b) is truth  # before: its prediction
    assert own_labels(viewer, c) is None  # a prediction is no annotation
    left: list[str] = []
    pairs, names = other_annotations(viewer, a, annotations, 1, left)
    assert names == ["B"]
    np.testing.assert_array_equal(pairs[0][1], truth.data)
    assert left == ["C (a prediction only, never trained on)"]

    dock = _live(viewer)
    dock._image_box.value = a
    assert dock._labels_box.value is annotations
    dock._others.value = True
    assert dock.start(), dock._status.value
    try:
        qtbot.waitUntil(lambda: dock.trainer.running, timeout=60_000)
        ((_, labels),) = dock.trainer._others
        np.testing.assert_array_equal(labels, truth.data)  # not the prediction
        dock._show_status()
        status = dock._status.value
        assert "+ 1 other images: B with 'B ground truth'" in status  # which layer
        assert "left out: C (a prediction only, never trained on)" in status
    finally:
        dock.stop()


def test_a_second_live_docks_prediction_is_no_annotation(make_napari_viewer):
    """Two Live docks on one image leave "A live prediction" and "A live prediction [1]":
    neither is trained on as A's annotations (before, the second was ranked as ground truth)."""
    from napari_unet.widgets import _layers
    from napari_unet.widgets._live_inputs import own_labels

    viewer = make_napari_viewer()
    a = _image(viewer, "A")
    viewer.add_labels(_cells(20, 20), name="A live prediction")
    viewer.add_labels(_cells(30, 30), name="A live prediction [1]")
    assert own_labels(viewer, a) is None
    renamed = viewer.add_labels(_cells(40, 40), name="A old run",
                                metadata={_layers.ROLE: "preview"})  # fmt: skip
    assert own_labels(viewer, a) is None and renamed.name == "A old run"


def test_the_region_chosen_for_one_image_is_not_kept_for_another(make_napari_viewer):
    viewer = make_napari_viewer()
    a, b = _image(viewer, "A"), _image(viewer, "B", 1)
    viewer.add_labels(_cells(20, 20), name="A annotations")
    viewer.add_labels(_cells(40, 40), name="B annotations")
    region = _rectangle(viewer, "A annotated region")
    dock = _live(viewer)
    dock._image_box.value = a
    assert dock._annotated_box.value is None  # painted cells only, by default
    assert dock._status.value == READY.format("A")
    dock._annotated_box.value = region  # the user's choice, for A
    assert dock._status.value == (
        "Ready: press Start live training to train on 'A' with 'A annotations', in the "
        "annotated region 'A annotated region' (its unpainted pixels train as background)."
    )
    _rectangle(viewer, "other shapes")  # a layer added: the choice stays
    assert dock._annotated_box.value is region
    dock._image_box.value = b
    assert dock._annotated_box.value is None  # before: A's region, trained on B
    assert dock._status.value == READY.format("B")
    dock._image_box.value = a
    assert dock._annotated_box.value is None  # as the Train dock: chosen again per image


def test_a_running_session_keeps_its_region_and_its_status_names_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    b = _image(viewer, "B", 1)
    viewer.add_labels(_cells(40, 40), name="B annotations")
    region = _rectangle(viewer, "bg")
    dock = _live(viewer)
    dock._image_box.value = b
    dock._annotated_box.value = region
    assert dock.start(), dock._status.value
    try:
        qtbot.waitUntil(lambda: dock.trainer.running, timeout=60_000)
        _rectangle(viewer, "more")  # a layer added while training: no pick changes
        viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="B annotations [1]")
        assert dock._annotated_box.value is region and dock.trainer.running
        dock._show_status()
        assert "annotated region 'bg'" in dock._status.value
    finally:
        dock.stop()
    assert dock._annotated_box.value is region  # Stop changes no pick
