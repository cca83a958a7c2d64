"""What the Live dock trains on: a deleted layer, a stack's plane, a pyramid, other images.

- Deleting the only image or annotations layer left training running (the picker became
  None without a ``changed``), and Accept all wrote into the deleted annotations.
- A ``(3, H, W)`` grey stack with 2D annotations was trained on the mean of its planes, a
  longer one was refused; the Predict dock reads such a layer as planes.
- A multiscale image was read at napari's lowest resolution and refused.
- One other annotated image that did not fit refused Start, where it is left out.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

SIZE = 64


def _noise(seed: int = 0, shape=(SIZE, SIZE)) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def _dock(viewer, image, labels):
    """The Live dock on ``image`` and ``labels``, the built-in model chosen (not started)."""
    from napari_unet.widgets._predict_form import BUILTIN
    from napari_unet.widgets.live import LiveWidget

    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image, labels
    widget._model.value = BUILTIN
    return widget


def _started(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(_noise(), name="cells")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="cells annotations")
    widget = _dock(viewer, image, labels)
    assert widget.start(), widget._status.value
    return viewer, widget, image, labels


def test_deleting_the_trained_image_stops_training_and_says_so(make_napari_viewer, qtbot):
    viewer, widget, image, _ = _started(make_napari_viewer)
    trainer = widget.trainer
    viewer.layers.remove(image)
    assert widget._image_box.value is None
    assert not trainer.running
    assert "image layer 'cells' was deleted" in widget._status.value
    assert widget._start.enabled and not widget._stop.enabled
    qtbot.wait(700)  # the status timer does not say "waiting" again
    assert "was deleted" in widget._status.value


def test_deleting_the_annotations_stops_training_and_accepts_nothing(make_napari_viewer, qtbot):
    viewer, widget, _, labels = _started(make_napari_viewer)
    live = widget._live
    live.data[20:30, 20:30] = 1  # a predicted object
    widget._click.value = True
    viewer.layers.remove(labels)
    assert not widget.trainer.running
    assert "annotations layer 'cells annotations' was deleted" in widget._status.value
    assert not widget._accept_view.enabled and not widget._click.value
    assert not widget.accept_at(25, 25) and widget.accept_in_region() == 0
    assert labels.data.max() == 0  # nothing written into the deleted layer
    assert widget.start() is False  # no annotations to train on: a message
    assert "choose an Image layer" in widget._status.value


def test_deleting_another_layer_leaves_training_running(make_napari_viewer):
    viewer, widget, _, _ = _started(make_napari_viewer)
    viewer.layers.remove(viewer.add_image(_noise(1), name="unrelated"))
    assert widget.trainer.running
    widget.stop()


@pytest.mark.parametrize("planes", [3, 6])
def test_a_stack_trains_on_the_plane_in_view(make_napari_viewer, planes):
    """3 planes were read as 3 channels (their mean); 6 were refused."""
    viewer = make_napari_viewer()
    stack = np.stack([_noise(seed) for seed in range(planes)])
    image = viewer.add_image(stack, name="series")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="series annotations")
    viewer.dims.set_current_step(0, 2)  # the user looks at, and paints for, plane 2
    widget = _dock(viewer, image, labels)
    assert widget.start(), widget._status.value
    np.testing.assert_array_equal(widget.trainer.data.raw[0], stack[2])
    widget._show_status()
    assert f"on plane 2/{planes - 1}" in widget._status.value
    assert "the view shows" not in widget._status.value
    viewer.dims.set_current_step(0, 0)  # the slider moves: training stays on plane 2, said
    widget._show_status()
    status = widget._status.value
    assert f"the view shows plane 0/{planes - 1}" in status
    assert f"stay on plane 2/{planes - 1}" in status
    widget.stop()


def test_annotations_of_a_stack_must_be_2d_as_the_tooltip_says(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(_noise()[None], name="one")
    labels = viewer.add_labels(np.zeros((1, SIZE, SIZE), np.int32), name="one annotations")
    widget = _dock(viewer, image, labels)
    assert not widget.start()
    assert "2D Labels layer of one plane's size" in widget._status.value
    assert "plane in view" in widget._image_box.tooltip
    assert "2D Labels layer" in widget._labels_box.tooltip


def test_a_multiscale_image_trains_at_full_resolution(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    full = _noise(shape=(128, 128))
    image = viewer.add_image([full, full[::2, ::2]], multiscale=True, name="pyramid")
    labels = viewer.add_labels(np.zeros(full.shape, np.int32), name="pyramid annotations")
    widget = _dock(viewer, image, labels)
    assert widget.start(), widget._status.value  # was refused: the 64 x 64 level was read
    np.testing.assert_array_equal(widget.trainer.data.raw[0], full)
    assert widget._live.data.shape == full.shape
    widget.stop()


def test_other_images_that_do_not_fit_are_left_out_and_the_status_says_which(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    image = viewer.add_image(_noise(), name="cells")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="cells annotations")
    cells = np.zeros((SIZE, SIZE), np.int32)
    cells[10:20, 10:20] = 1
    viewer.add_image(_noise(1), name="small")
    viewer.add_labels(cells[:32, :32].copy(), name="small annotations")  # another size
    full = _noise(2)
    viewer.add_image([full, full[::2, ::2]], multiscale=True, name="pyramid")
    viewer.add_labels(cells.copy(), name="pyramid annotations")  # of the full resolution
    viewer.add_image(np.stack([_noise(3)] * 3), name="series")
    viewer.add_labels(cells.copy(), name="series annotations")  # which plane: unknown
    widget = _dock(viewer, image, labels)
    widget._others.value = True
    assert widget.start(), widget._status.value  # one that did not fit refused Start
    assert widget._other_names == ["pyramid"]
    ((raw, ann),) = widget.trainer._others
    np.testing.assert_array_equal(raw[0], full)
    np.testing.assert_array_equal(ann, cells)
    widget._show_status()
    status = widget._status.value
    assert "+ 1 other images" in status
    assert "left out: small (annotations 32 x 32, image 64 x 64), series (a stack)" in status
    widget.stop()


def test_a_model_of_as_many_channels_reads_them_as_channels(make_napari_viewer, tmp_path):
    """A 2-channel model (trained in the Train dock on the Annotate dock's channels) on a
    (2, H, W) layer: its channels, as the Predict dock and the command line read them."""
    from napari_unet.core.models import build_model
    from napari_unet.core.models.modelfile import save_model
    from napari_unet.widgets._live_parts import FILE

    net = build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": 2})
    path = save_model(tmp_path / "two.unet.safetensors", net)
    viewer = make_napari_viewer()
    both = np.stack([_noise(1), _noise(2)])
    image = viewer.add_image(both, name="two")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="two annotations")
    widget = _dock(viewer, image, labels)
    widget._model.value = FILE
    widget._model_file.value = path
    assert widget.start(), widget._status.value
    np.testing.assert_array_equal(widget.trainer.data.raw, both)
    widget.stop()
