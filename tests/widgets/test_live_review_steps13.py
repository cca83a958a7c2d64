"""The Live and Train docks where the Review dock steps to its next image in the same layers.

The Review dock replaces the image layer's data, or (a colour image after a grey one) hides
the image layer and shows the next image's labels in the same labels layer. Before, Live
trained the old pixels with the new labels, its old prediction was accepted into the next
image's labels, Start carried the old image's annotations over as background, *also train
on other annotated images* took the Review dock's unreviewed prediction, and Train paired
the hidden image with the next image's labels.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

pytest.importorskip("torch")

from napari_unet.core.errors import InputError  # noqa: E402

MODEL = "nuclei (built-in)"


def _discs(centres, r=6, size=64):
    yy, xx = np.mgrid[:size, :size]
    lab = np.zeros((size, size), np.int32)
    for i, (cy, cx) in enumerate(centres, 1):
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = i
    return lab


def _folder(tmp_path, colour_b: bool):
    """Images ``a`` (grey) and ``b`` (colour or grey), 64 x 64, with their labels files."""
    images, labels = tmp_path / "images", tmp_path / "labs"
    images.mkdir()
    labels.mkdir()
    la, lb = _discs([(16, 16), (16, 48)]), _discs([(48, 16), (48, 48)])
    grey = lambda lab: (lab > 0).astype(np.uint8) * 200 + 20  # noqa: E731
    Image.fromarray(grey(la)).save(images / "a.png")
    Image.fromarray(np.stack([grey(lb)] * 3, -1) if colour_b else grey(lb)).save(images / "b.png")
    tifffile.imwrite(labels / "a_labels.tif", la.astype(np.uint16))
    tifffile.imwrite(labels / "b_labels.tif", lb.astype(np.uint16))
    return images, labels, la, lb


def _review(viewer, qtbot, images, labels=None):
    from napari_unet.widgets.review import ReviewWidget

    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = images
    if labels is not None:
        widget._form.labels_folder.value = labels
    assert widget.open(), widget._status.value
    qtbot.waitUntil(lambda: widget._shown == widget.current_name, timeout=120_000)
    return widget


def _live_on_review(viewer, qtbot, review):
    """A Live dock started (then paused) on the Review dock's layers, its view predicted."""
    from napari_unet.widgets.live import LiveWidget

    live = LiveWidget(viewer)
    viewer.window.add_dock_widget(live, name="Live")
    live._image_box.value = review._image_layer
    live._labels_box.value = review._labels_layer
    live._model.value = MODEL
    assert live.start(), live._status.value
    live.trainer.pause()
    qtbot.waitUntil(lambda: live._views >= 1, timeout=60_000)
    return live


def _next(review, qtbot) -> None:
    review.next_image()
    qtbot.waitUntil(lambda: review._shown == "b.png", timeout=60_000)


def test_review_colour_step_stops_live_and_accepts_nothing(make_napari_viewer, qtbot, tmp_path):
    images, labels, la, lb = _folder(tmp_path, colour_b=True)
    viewer = make_napari_viewer()
    review = _review(viewer, qtbot, images, labels)
    live = _live_on_review(viewer, qtbot, review)
    grey = live._image
    live._live.data = la.copy()  # stands for a prediction of a's cells
    _next(review, qtbot)  # a colour image: 'a' hidden, its labels layer shows b's
    assert review._labels_layer is live._annotations and not grey.visible
    qtbot.waitUntil(lambda: not live.trainer.running, timeout=10_000)
    assert "Review dock showed another image in 'b labels'" in live._status.value
    assert not np.asarray(live._live.data).any()  # a's prediction cleared
    live._live.data = la.copy()  # shown again: still never accepted into b's labels
    before = np.array(review._labels_layer.data)
    assert live.accept_in_region() == 0
    assert "nothing is accepted" in live._status.value
    with pytest.raises(InputError, match="nothing is accepted"):
        live.accept_at(16, 48)
    assert np.array_equal(review._labels_layer.data, before)
    assert not live.start()  # the hidden grey image with b's labels: refused
    assert "Review dock's labels of the image 'b'" in live._status.value
    live.stop()


def test_click_accept_after_review_next_is_refused(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets._live_accept import _click_accept

    images, labels, la, lb = _folder(tmp_path, colour_b=False)
    viewer = make_napari_viewer()
    review = _review(viewer, qtbot, images, labels)
    live = _live_on_review(viewer, qtbot, review)
    live.stop()  # stopped: nothing watches the layers
    live._live.data = la.copy()  # the prediction of a's cells, still shown
    _next(review, qtbot)  # grey after grey: the same layers, b's data
    before = np.array(review._labels_layer.data)
    _click_accept(live, 16, 48)  # a's second cell; b has none there
    assert np.array_equal(review._labels_layer.data, before)
    assert "the image 'b' changed since it was predicted" in live._status.value
    with pytest.raises(InputError, match="nothing is accepted"):
        live.accept_at(16, 16)


def test_start_after_review_next_annotations_start_afresh(make_napari_viewer, qtbot, tmp_path):
    from scipy import ndimage as ndi

    from napari_unet.core.live.data import RING

    images, labels, la, lb = _folder(tmp_path, colour_b=False)
    viewer = make_napari_viewer()
    review = _review(viewer, qtbot, images, labels)
    live = _live_on_review(viewer, qtbot, review)
    live._live.data = la.copy()
    _next(review, qtbot)
    qtbot.waitUntil(lambda: not live.trainer.running, timeout=10_000)
    assert "changed" in live._status.value
    cleared = not np.asarray(live._live.data).any()  # the prediction of a's pixels
    assert live.start(), live._status.value  # as the message asks: Start again
    live.trainer.pause()
    data = live.trainer.data
    qtbot.waitUntil(lambda: data.painted[lb > 0].all(), timeout=10_000)  # b's cells sent
    assert np.array_equal(data.raw[0] > data.raw[0].mean(), lb > 0)  # b's pixels
    beyond = data.painted & ~ndi.binary_dilation(lb > 0, iterations=RING)
    assert not beyond.any()  # a's cells are not annotated background on b
    assert cleared
    live.stop()


def test_live_others_leave_out_reviews_unreviewed_prediction(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets._live_inputs import read_inputs
    from napari_unet.widgets.live import LiveWidget

    images, _labels, _la, lb = _folder(tmp_path, colour_b=False)
    viewer = make_napari_viewer()
    review = _review(viewer, qtbot, images)  # no labels: the model's prediction is shown
    assert "from prediction" in review._status.value
    c = viewer.add_image(((lb > 0) * 200 + 20).astype(np.uint8), name="c")
    ann = viewer.add_labels(np.zeros((64, 64), np.int32), name="c annotations")
    ann.data[40:56, 8:24] = lb[40:56, 8:24]
    live = LiveWidget(viewer)
    viewer.window.add_dock_widget(live, name="Live")
    live._image_box.value, live._labels_box.value = c, ann
    live._others.value = True
    inputs = read_inputs(live, 1)
    assert "a" not in inputs.names
    assert "a (a prediction only, never trained on)" in inputs.left_out


def test_live_others_take_reviews_labels_from_a_file(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets._live_inputs import read_inputs
    from napari_unet.widgets.live import LiveWidget

    images, labels, _la, lb = _folder(tmp_path, colour_b=False)
    viewer = make_napari_viewer()
    _review(viewer, qtbot, images, labels)  # 'a labels' from a_labels.tif: annotations
    c = viewer.add_image(((lb > 0) * 200 + 20).astype(np.uint8), name="c")
    ann = viewer.add_labels(lb.copy(), name="c annotations")
    live = LiveWidget(viewer)
    viewer.window.add_dock_widget(live, name="Live")
    live._image_box.value, live._labels_box.value = c, ann
    live._others.value = True
    assert read_inputs(live, 1).names == ["a"]


def test_train_refuses_hidden_grey_with_colour_labels(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets import _train_helpers as th
    from napari_unet.widgets.train import TrainWidget

    images, labels, _la, _lb = _folder(tmp_path, colour_b=True)
    viewer = make_napari_viewer()
    review = _review(viewer, qtbot, images, labels)
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    grey = review._image_layer
    train._image.value = grey
    assert train._labels_box.value is review._labels_layer  # 'a labels'
    assert "Warning" not in train._status.value
    _next(review, qtbot)
    qtbot.wait(100)
    assert train._image.value is grey and grey.name.startswith("a (hidden")
    pairs = [(grey, train._labels_box.value, None)]
    with pytest.raises(InputError, match="Review dock's labels of the image 'b'"):
        th.snapshot(pairs, None, None)
    assert "refuses these picks: 'b labels' holds the Review dock's labels" in train._status.value
    other = viewer.add_labels(np.zeros((64, 64), np.int32), name="other")
    train._form._labels_default.pick()
    assert train._labels_box.value is other  # not b's labels for the hidden image
