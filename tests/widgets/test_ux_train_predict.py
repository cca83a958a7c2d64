"""What the Train and Predict docks show: whole status messages, a readable preview, the
validation source, and the empty loss plot."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet.sample_data import touching_cells_data  # noqa: E402
from napari_unet.widgets import _train_helpers as th  # noqa: E402
from napari_unet.widgets.plot import TrainingPlot  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402
from napari_unet.widgets.train import HOLDOUT, TrainWidget  # noqa: E402
from napari_unet.widgets.weightmap import WeightMapWidget  # noqa: E402

#: The Train dock's status after a run whose steps never beat the start model.
FINAL = th.result_status(
    SimpleNamespace(stopped=False, saved_to=None, best_metrics={"step": 0}, steps_done=60),
    None,
)[0]


def _shows_whole_text(label) -> bool:
    """Whether a word-wrapped QLabel is as tall as its text needs at its width."""
    return label.height() >= label.heightForWidth(label.width())


@pytest.mark.parametrize("dock", [TrainWidget, PredictWidget, WeightMapWidget])
def test_a_long_status_message_is_shown_whole(make_napari_viewer, qtbot, dock):
    """The Train dock's final status ended "...so the Predict dock gets the start model
    (annotate": its fixed four lines cut the advice off (three in Predict, two in Weight
    map). Now it grows to its text (up to 12 lines), and a shorter text later keeps the
    height (a status set during training never makes the controls jump)."""
    viewer = make_napari_viewer(show=True)
    widget = dock(viewer)
    viewer.window.add_dock_widget(widget, name="dock")
    status = widget._status.native
    qtbot.waitUntil(lambda: status.isVisible() and status.width() > 50)
    assert "annotate more" in FINAL
    widget._status.value = FINAL
    qtbot.waitUntil(lambda: _shows_whole_text(status), timeout=3000)
    assert status.heightForWidth(status.width()) > 4 * status.fontMetrics().lineSpacing() + 4
    tall = status.height()
    widget._status.value = "step 3/60  loss 0.3"
    qtbot.wait(100)
    assert status.height() == tall  # not shrunk while a run updates it
    widget._status.value = FINAL + " (a.unet.safetensors exists: saving to a.unet-2...)"
    qtbot.waitUntil(lambda: _shows_whole_text(status), timeout=3000)


def test_the_preview_draws_outlines_and_hides_when_predict_adds_a_segmentation(
    make_napari_viewer, qtbot, run_predict, tiny
):
    """The preview's 50% fill covered the annotations under it, and blended with the
    Predict dock's segmentation above it: it draws outlines now, and a segmentation of
    its image hides it (not removed); the next training run shows it again."""
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells_data()[0], name="touching cells")
    labels = viewer.add_labels(np.zeros(image.data.shape[-2:], np.int32), name="annotations")
    preview, new = th.preview_layer(viewer, image, labels, labels.data.shape)
    assert new is preview and preview.contour > 0 and preview.visible
    other = viewer.add_image(image.data.copy(), name="other")
    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict)
    predict.set_model(*tiny, name="A")
    predict._image.value = other
    run_predict(predict)
    assert preview.visible  # another image's segmentation leaves it alone
    predict._image.value = image
    run_predict(predict)
    assert any(ly.name.startswith("touching cells segmentation") for ly in viewer.layers)
    assert preview in viewer.layers and not preview.visible
    again, new = th.preview_layer(viewer, image, labels, labels.data.shape)
    assert again is preview and new is None and preview.visible


def test_the_val_labels_row_says_where_validation_comes_from(make_napari_viewer):
    """With hold-out on, a greyed val annotations picker still showed a labels layer, as if
    it were used: the row says the held-out rows of the annotations instead."""
    viewer = make_napari_viewer()
    viewer.add_image(touching_cells_data()[0], name="touching cells")
    dock = TrainWidget(viewer)
    picker, note = dock._val_labels.native, dock._form._val_note
    assert dock._val_image.native.currentText() == HOLDOUT
    assert picker.isHidden() and not note.native.isHidden()
    assert "held-out" in note.value and "annotations" in note.value
    dock._val_image.value = "none"
    assert picker.isHidden() and note.value == "(no validation)"
    dock._val_image.value = viewer.layers["touching cells"]
    assert not picker.isHidden() and note.native.isHidden() and dock._val_labels.enabled


def test_the_start_status_says_what_a_run_validates_on():
    """The status when training starts says the validation data (hold-out, or none)."""
    ev = SimpleNamespace(device="cpu", input_size=64, lr=1e-3, lr_reason="default",
                         n_val=1)  # fmt: skip
    _, status = th.started_text(ev, "the held-out bottom rows of the annotations")
    assert "validating on the held-out bottom rows of the annotations" in status
    _, status = th.started_text(SimpleNamespace(**{**vars(ev), "n_val": 0}), "")
    assert status.endswith("no validation")


def test_the_start_status_counts_the_cells_trained_and_validated_on():
    """Before, neither was said: a hold-out of the bottom rows could hold one cell or none."""
    from napari_unet import TrainConfig, TrainStarted, iter_train, make_pairs, touching_cells
    from napari_unet.core.images.labels import count_ids
    from napari_unet.core.training.validation import split_holdout

    image, labels = touching_cells((128, 128), n_cells=12, seed=0)
    config = TrainConfig(model={"arch": "unet", "base_channels": 4, "depth": 2}, steps=1,
                         crop_size=48, batch_size=2, device="cpu", val_fraction=0.25)  # fmt: skip
    pairs = make_pairs([image], [labels], **config.pair_options())
    events = iter_train(pairs, config)
    ev = next(events)
    events.close()
    assert isinstance(ev, TrainStarted) and ev.n_val == 1
    trained, held = split_holdout(pairs, 0.25)
    assert ev.n_cells == count_ids(trained[0].labels[trained[0].mask])
    assert ev.n_val_cells == count_ids(held[0].labels) > 0
    assert ev.n_cells + ev.n_val_cells >= 12  # a cell the hold-out line cuts is in both
    _, status = th.started_text(ev, "the held-out bottom rows of the annotations")
    assert status.startswith(f"Training on {ev.device}: {ev.n_cells} cells, crops")
    assert status.endswith(f"bottom rows of the annotations ({ev.n_val_cells} cells)")


def test_the_empty_loss_plot_shows_a_hint_until_the_first_point(qtbot):
    """Before any run, empty axes showed a meaningless range (-0.04..0.04)."""
    plot = TrainingPlot()
    qtbot.addWidget(plot)
    try:
        plot.render()
        assert plot.hint.get_visible() and "training starts" in plot.hint.get_text()
        assert not plot.ax_loss.get_visible() and not plot.ax_metric.get_visible()
        plot.add_step(1, 0.5)
        plot.render()
        assert not plot.hint.get_visible() and plot.ax_loss.get_visible()
        plot.reset()  # a new run: the hint until its first point
        plot.render()
        assert plot.hint.get_visible()
    finally:
        plot.close_plot()


def test_a_preview_too_large_to_outline_at_each_update_is_filled_faintly(make_napari_viewer):
    # napari outlines the whole plane at each new preview (about 1 s at 4096 x 4096, on the
    # GUI thread at every validation): such a plane is filled at a low opacity instead.
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((8, 8), np.uint8), name="big")
    labels = viewer.add_labels(np.zeros((8, 8), np.int32), name="annotations")
    preview, _ = th.preview_layer(viewer, image, labels, (4096, 4097))
    assert preview.contour == 0 and preview.opacity <= 0.4
    small, _ = th.preview_layer(viewer, image, labels, (2048, 2048))
    assert small.contour > 0


def test_the_val_note_never_makes_the_train_dock_wider_than_it_shows(make_napari_viewer, qtbot):
    """The note "(held-out bottom rows of the annotations)" is set after the dock's width
    was fixed: it made the form 24 px wider than the dock, and its right edge was cut."""
    from qtpy.QtWidgets import QScrollArea

    viewer = make_napari_viewer(show=True)
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    assert "annotations" in dock._form._val_note.value
    scroll = dock.native.findChild(QScrollArea)
    qtbot.waitUntil(lambda: scroll.viewport().width() > 50, timeout=5000)
    qtbot.wait(50)
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    assert scroll.widget().width() <= scroll.viewport().width()
