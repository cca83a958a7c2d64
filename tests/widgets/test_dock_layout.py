"""The docks on a 1280 x 720 screen: they scroll, results are scrolled to, texts are whole.

A reviewer's findings at 1280 x 720: the Review dock grew the window off the screen; after
Predict the result stayed below the fold; the status clipped a long error; the Predict dock's
model-size note spoke of a model no longer chosen; the Evaluate status asked for picks it had;
the tabs read "Revie..."; a hidden Review layer had a name that said nothing; two tooltips
were missing.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QPoint
from qtpy.QtWidgets import QTabBar

from napari_unet.core.images.io import write_image

pytest.importorskip("napari")

SCREEN = (1280, 720)
SIDE = 64


def _window(viewer, qtbot):
    window = viewer.window._qt_window  # the viewer's QMainWindow (napari has no public name)
    window.resize(*SCREEN)
    qtbot.wait(50)
    return window


def _plugin_dock(viewer, qtbot, name):
    dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", name)
    qtbot.wait(100)
    return dock, widget


def _in_view(scroll, widget) -> bool:
    """Whether ``widget`` lies wholly inside the scroll area's viewport."""
    top = widget.mapTo(scroll.viewport(), QPoint(0, 0)).y()
    return top >= 0 and top + widget.height() <= scroll.viewport().height()


def _labels(k: int) -> np.ndarray:
    lab = np.zeros((SIDE, SIDE), np.uint16)
    for i in range(3):
        lab[5 + 20 * i : 15 + 20 * i, 5 + 5 * k : 25 + 5 * k] = i + 1
    return lab


@pytest.fixture
def mixed(tmp_path):
    """A grey then a colour image, with label files (no model runs): (images, labels)."""
    images, labels = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels.mkdir()
    rng = np.random.default_rng(0)
    grey = ((_labels(0) > 0) * 150 + rng.integers(0, 50, (SIDE, SIDE))).astype(np.uint8)
    colour = np.stack([grey, grey // 2, 255 - grey], axis=-1).astype(np.uint8)
    for name, pixels, k in (("a_grey", grey, 0), ("b_colour", colour, 1)):
        write_image(images / f"{name}.tif", pixels)
        write_image(labels / f"{name}_labels.tif", _labels(k))
    return images, labels


def _open_review(widget, qtbot, folder):
    images, labels = folder
    widget._form.images.value = images
    widget._form.labels_folder.value = labels
    assert widget.open()
    qtbot.waitUntil(lambda: widget._shown == widget.current_name, timeout=60_000)
    qtbot.wait(100)


# -- finding 2: the Review dock scrolls --------------------------------------------------------
def test_the_open_review_dock_fits_a_720_px_screen(make_napari_viewer, qtbot, mixed):
    viewer = make_napari_viewer(show=True)
    window = _window(viewer, qtbot)
    dock, widget = _plugin_dock(viewer, qtbot, "Review")
    _open_review(widget, qtbot, mixed)
    widget._summary.show_rows([{"image": f"{k}.tif"} for k in range(12)])  # an export summary
    qtbot.wait(100)
    assert dock.minimumSizeHint().height() <= 400, dock.minimumSizeHint()
    assert window.height() <= SCREEN[1], window.height()
    assert widget._scroll.widget().isAncestorOf(widget._accept_btn.native)
    widget.shutdown()


# -- findings 4 and 5: Predict scrolls to its result, whose status is whole ---------------------
@pytest.fixture
def predict_dock(make_napari_viewer, qtbot):
    from napari_unet.sample_data import nuclei_data

    pytest.importorskip("torch")
    image, truth = nuclei_data()
    viewer = make_napari_viewer(show=True)
    _window(viewer, qtbot)
    viewer.add_image(image[:96, :96], name="cells")
    viewer.add_labels(truth[:96, :96], name="cells annotations")
    dock, widget = _plugin_dock(viewer, qtbot, "Predict")
    widget._scroll.verticalScrollBar().setValue(0)
    return viewer, widget


def test_after_predict_the_result_and_save_are_scrolled_into_view(predict_dock, run_predict, qtbot):
    viewer, widget = predict_dock
    bar = widget._scroll.verticalScrollBar()
    assert bar.maximum() > 0  # 720 px: the dock does scroll
    assert not _in_view(widget._scroll, widget._status.native)
    run_predict(widget)
    qtbot.wait(100)
    assert "objects in" in widget._status.value
    assert _in_view(widget._scroll, widget._status.native)
    assert _in_view(widget._scroll, widget._save_labels.native)


def test_a_failed_run_shows_its_whole_message_in_view(predict_dock, run_predict, qtbot, tmp_path):
    from napari_unet.widgets.predict import OTHER

    viewer, widget = predict_dock
    bad = tmp_path / "a rather long name of a model file that is not a model at all.safetensors"
    bad.write_bytes(b"not a model" * 10)
    widget._source.value = OTHER
    widget._model_file.value = bad
    run_predict(widget)
    qtbot.wait(100)
    status = widget._status.native
    assert widget._status.value.startswith("Error:")
    needed = status.heightForWidth(status.width())
    assert needed > 3 * status.fontMetrics().lineSpacing() + 4  # longer than three lines
    assert status.height() >= needed, (status.height(), needed)
    assert _in_view(widget._scroll, status)


def test_progress_updates_do_not_resize_the_status(make_napari_viewer, qtbot):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    widget = PredictWidget(viewer)
    status = widget._status.native
    widget._set_running(True)
    assert status.minimumHeight() == status.maximumHeight()  # fixed: no relayout per update
    widget._set_running(False)
    assert status.maximumHeight() > status.minimumHeight()  # the final message may grow


def test_opening_the_evaluate_section_scrolls_to_it(predict_dock, qtbot):
    viewer, widget = predict_dock
    section = widget._evaluate
    header = section._button
    assert not _in_view(widget._scroll, header)
    section.expand(animate=False)
    qtbot.wait(100)
    assert _in_view(widget._scroll, header)
    assert _in_view(widget._scroll, section.panel._run.native)


# -- finding 6: the model-size note follows the model -----------------------------------------
def test_the_size_note_is_reset_when_the_model_changes(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets.predict import AUTO_CHOICE, OTHER, PredictWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "nuclei")
    widget = PredictWidget(viewer)
    assert "the model learnt objects of about" in widget._size_note.value
    widget._source.value = OTHER  # no file chosen
    assert widget._size_note.value == ""
    widget._source.value = AUTO_CHOICE
    assert "the model learnt" in widget._size_note.value
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    widget._model_file.value = bad  # a file whose header cannot be read
    assert widget._source.value == OTHER and widget._size_note.value == ""


# -- finding 7: the Evaluate status says what it would score ----------------------------------
def test_the_evaluate_status_follows_the_picks(make_napari_viewer, qtbot):
    from napari_unet.widgets.evaluate import EvaluateWidget

    viewer = make_napari_viewer()
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Evaluate")
    assert "Choose a prediction and its ground truth" in widget._status.value
    gt = viewer.add_labels(_labels(0), name="gt")
    pred = viewer.add_labels(_labels(1), name="pred")
    widget._ground_truth.value, widget._prediction.value = gt, pred
    assert widget._status.value == "Press Evaluate to score 'pred' against 'gt'."
    widget._prediction.value = gt
    assert "both 'gt'" in widget._status.value


# -- finding 9: the tabs say which dock -------------------------------------------------------
def test_tabs_show_the_docks_names(make_napari_viewer, qtbot):
    names = ["Annotate", "Weight map", "Train", "Predict", "Review", "Live"]
    viewer = make_napari_viewer(show=True)
    window = _window(viewer, qtbot)
    docks = [_plugin_dock(viewer, qtbot, name)[0] for name in names]
    qtbot.wait(100)
    tabs = {
        bar.tabText(i): bar
        for bar in window.findChildren(QTabBar)
        if bar.isVisible()
        for i in range(bar.count())
    }
    assert set(names) <= set(tabs), sorted(tabs)
    bar = tabs["Review"]
    for i in range(bar.count()):  # each tab wide enough for its name: none reads "Revie..."
        text_width = bar.fontMetrics().horizontalAdvance(bar.tabText(i))
        assert bar.tabRect(i).width() > text_width, (bar.tabText(i), bar.tabRect(i))
    for dock, name in zip(docks, names, strict=True):  # napari's title bar keeps the plugin
        assert dock.name == f"{name} (napari-unet)"


# -- finding 11: the hidden Review layer says what it holds -------------------------------------
def test_the_hidden_image_layer_is_named_after_its_image(make_napari_viewer, qtbot, mixed):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    _open_review(widget, qtbot, mixed)
    widget.next_image()
    qtbot.waitUntil(lambda: widget._shown == "b_colour.tif", timeout=60_000)
    hidden = [ly for ly in viewer.layers if not ly.visible]
    assert [ly.name for ly in hidden] == ["a_grey (hidden until the next grey image)"]
    widget.previous_image()  # the grey layer shows again, under its image's name
    qtbot.waitUntil(lambda: widget._shown == "a_grey.tif", timeout=60_000)
    names = sorted(ly.name for ly in viewer.layers)
    assert names == ["a_grey", "a_grey labels", "b_colour (hidden until the next colour image)"]
    widget.shutdown()


# -- finding 12: tooltips ------------------------------------------------------------------
def test_open_folder_and_the_evaluate_header_have_tooltips(make_napari_viewer):
    from napari_unet.widgets.predict import PredictWidget
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    assert "resumes" in ReviewWidget(viewer)._open.tooltip
    assert "annotations" in PredictWidget(viewer)._evaluate._button.toolTip()
