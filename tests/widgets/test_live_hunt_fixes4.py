"""The Live dock's fourth hunt: a prediction layer left in place, moved annotations, a new
image, an undo between Stop and Start.

- Start after Stop reused the last run's ``<image> live prediction`` layer where that run's
  image lay: an image given a pixel size or an offset since showed its prediction elsewhere,
  and a click accepted other pixels.
- Annotations moved off the image's pixels while training (napari's transform mode, a new
  translate) went unnoticed: the model was trained on misaligned cells. Training stops now.
- The image's data replaced while training went unnoticed: training and its prediction went
  on with the old pixels. Training stops now.
- A cell undone between Stop and Start was trained as background by the continued run (an
  undo while running takes it back: it is no longer annotated). It is taken back now too.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from test_live_hunt_fixes2 import _applied, _discs, _dock  # noqa: E402


def _viewer_with_discs(make_napari_viewer):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    return viewer, image, labels, truth


def _stopped_bool(widget) -> bool:
    return bool(widget.trainer is not None and not widget.trainer.running)


def test_reused_prediction_layer_is_placed_on_the_image(make_napari_viewer, qtbot, model_file):
    viewer, image, labels, _ = _viewer_with_discs(make_napari_viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    first = widget._live
    widget.stop()
    for layer in (image, labels):  # the pixel size and stage offset, set after the first run
        layer.scale, layer.translate = (0.5, 0.5), (100, 200)
    image.units = labels.units = ("micrometer", "micrometer")
    assert widget.start(), widget._status.value
    live = widget._live
    assert live is first  # reused, emptied
    np.testing.assert_allclose(live.scale, (0.5, 0.5))
    np.testing.assert_allclose(live.translate, (100, 200))
    assert tuple(str(u) for u in live.units) == ("micrometer", "micrometer")
    world = image.data_to_world((40, 40))
    np.testing.assert_allclose(live.world_to_data(world), (40, 40))  # what a click looks up
    widget.stop()


@pytest.mark.parametrize(
    "move",
    [
        {"translate": (12, 0)},
        {"scale": (2.0, 2.0)},
        {"rotate": 10},
    ],
)
def test_annotations_moved_while_training_stop_it(make_napari_viewer, qtbot, model_file, move):
    viewer, image, labels, _ = _viewer_with_discs(make_napari_viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    trainer = widget.trainer
    for key, value in move.items():
        setattr(labels, key, value)
    qtbot.waitUntil(lambda: _stopped_bool(widget), timeout=30_000)
    assert widget.trainer is trainer
    assert "moved while training" in widget._status.value
    assert "'cells annotations'" in widget._status.value
    assert widget._watch is None  # disconnected at Stop
    labels.translate = (0, 0)  # nothing more watched: no error, the status stays
    qtbot.wait(50)
    assert "moved while training" in widget._status.value


def test_image_moved_alone_stops_and_both_moved_alike_go_on(make_napari_viewer, qtbot, model_file):
    viewer, image, labels, _ = _viewer_with_discs(make_napari_viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    for layer in (image, labels):  # a script gives both the pixel size, one after the other
        layer.scale = (0.5, 0.5)
    qtbot.wait(100)
    assert widget.trainer.running, widget._status.value
    np.testing.assert_allclose(widget._live.scale, (0.5, 0.5))  # the prediction follows
    image.translate = (30, 0)  # the image alone: the annotations are off its pixels
    qtbot.waitUntil(lambda: _stopped_bool(widget), timeout=30_000)
    assert "moved while training" in widget._status.value


@pytest.mark.parametrize("at_start", [False, True])
def test_the_prediction_follows_a_rotated_image(make_napari_viewer, qtbot, model_file, at_start):
    """Before, only scale and translate were followed: the prediction lay unrotated over
    other pixels (a click looked up those)."""
    viewer, image, labels, _ = _viewer_with_discs(make_napari_viewer)
    widget = _dock(viewer, image, labels, model_file)
    for layer in (image, labels) if at_start else ():
        layer.rotate = 30
    assert widget.start(), widget._status.value
    for layer in () if at_start else (image, labels):  # both turned alike while training
        layer.rotate = 30
    qtbot.wait(100)
    assert widget.trainer.running, widget._status.value
    world = image.data_to_world((40, 10))
    np.testing.assert_allclose(widget._live.world_to_data(world), (40, 10), atol=1e-6)
    widget.stop()


@pytest.mark.parametrize("shape", ["same", "other"])
def test_image_data_replaced_while_training_stops_it(make_napari_viewer, qtbot, model_file,
                                                     shape):  # fmt: skip
    viewer, image, labels, _ = _viewer_with_discs(make_napari_viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    old = image.data
    image.data = old[::-1].copy() if shape == "same" else np.zeros((48, 48), old.dtype)
    qtbot.waitUntil(lambda: _stopped_bool(widget), timeout=30_000)
    assert "the image 'cells' changed; Start again to train on it" in widget._status.value
    assert widget._watch is None
    if shape == "same":  # Start again trains on the new pixels
        assert widget.start(), widget._status.value
        np.testing.assert_array_equal(widget.trainer.data.raw[0], image.data)
        widget.stop()


def test_undo_between_stop_and_start_takes_the_cell_back(make_napari_viewer, qtbot, model_file):
    viewer, image, labels, truth = _viewer_with_discs(make_napari_viewer)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    widget.trainer.pause()
    for k in (1, 2, 3):
        labels.data_setitem(np.nonzero(truth == k), k)
    qtbot.wait(50)
    _applied(qtbot, widget.trainer)
    cell1, cell2, cell3 = (truth == k for k in (1, 2, 3))
    assert widget.trainer.data.mask[cell2].all()
    widget.stop()
    labels.undo()  # cell 3 taken back while stopped
    labels.undo()  # and cell 2
    labels.redo()  # cell 2 again
    labels.data_setitem(np.nonzero(cell1), 0)  # cell 1 erased: "not a cell here"
    assert not (labels.data[cell3]).any() and (labels.data[cell2] == 2).all()
    assert widget.start(), widget._status.value  # continues the run
    widget.trainer.pause()
    _applied(qtbot, widget.trainer)
    data = widget.trainer.data
    assert not data.mask[cell3].any(), "the undone cell is trained as background"
    assert (data.labels[cell2] == 2).all() and data.mask[cell2].all()
    assert (data.labels[cell1] == 0).all() and data.mask[cell1].all()  # erased: background
    assert (data.target[cell2] > 0).all()
    widget.stop()
