"""The Live dock trains on the image's ``<image> annotations``, not on its prediction.

Before, its annotations picker stayed on the first Labels layer: after Predict (which adds
``"<image> segmentation (...)"``) and the Annotate dock's Start (``"<image> annotations"``),
Start fine-tuned the model on its own prediction, and the cells painted never reached the
trainer, while the status said it was training. Now it picks as the Train dock does
(:class:`~napari_unet.widgets._labels_default.LabelsDefault`), also for annotations added
after the dock opened, and never under a running session.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("napari")

SEG = "cells segmentation (nuclei)"


def _image(viewer, name: str = "cells", size: int = 96):
    rng = np.random.default_rng(0)
    return viewer.add_image(rng.random((size, size)).astype(np.float32), name=name)


def _labels(viewer, name: str, size: int = 96):
    return viewer.add_labels(np.zeros((size, size), np.int32), name=name)


def _live(viewer):
    from napari_unet.widgets.live import LiveWidget

    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    return dock


def test_opened_after_the_annotate_dock_it_picks_the_annotations(make_napari_viewer):
    viewer = make_napari_viewer()
    image = _image(viewer, "histo")
    seg = _labels(viewer, "histo segmentation (nuclei-brightfield)")  # Predict's layer
    _, annotate = viewer.window.add_plugin_dock_widget("napari-unet", "Annotate")
    annotate._image_combo.value = image
    annotate._start_btn.native.click()
    annotations = viewer.layers["histo annotations"]
    _, live = viewer.window.add_plugin_dock_widget("napari-unet", "Live")
    assert live._labels_box.value is annotations  # before: the prediction
    assert live._labels_box.value is not seg
    assert "with 'histo annotations'" in live._status.value


def test_annotations_added_after_the_dock_opened_are_picked(make_napari_viewer):
    viewer = make_napari_viewer()
    image = _image(viewer)
    seg = _labels(viewer, SEG)
    dock = _live(viewer)
    assert dock._labels_box.value is seg  # the image's only labels
    annotations = _labels(viewer, "cells annotations")  # the Annotate dock's Start
    assert dock._labels_box.value is annotations  # before: still the prediction
    assert dock._status.value == (
        "Ready: press Start live training to train on 'cells' with 'cells annotations'."
    )
    # the annotations are no region of themselves; the prediction now may be one
    offered = list(dock._annotated_box.choices)
    assert seg in offered and annotations not in offered
    # another image: its own annotations; back: this image's again
    other = _image(viewer, "other")
    other_annotations = _labels(viewer, "other annotations")
    assert dock._labels_box.value is annotations
    dock._image_box.value = other
    assert dock._labels_box.value is other_annotations
    dock._image_box.value = image
    assert dock._labels_box.value is annotations


def test_a_choice_is_kept_until_its_layer_leaves(make_napari_viewer):
    viewer = make_napari_viewer()
    _image(viewer)
    seg = _labels(viewer, SEG)
    mine = _labels(viewer, "my labels")
    dock = _live(viewer)
    dock._labels_box.value = mine  # a script's (or the user's) choice
    annotations = _labels(viewer, "cells annotations")
    assert dock._labels_box.value is mine
    viewer.layers.remove(mine)
    assert dock._labels_box.value is annotations  # automatic again
    dock._labels_box.value = seg  # training on the prediction, chosen on purpose
    _labels(viewer, "cells annotations [1]")
    assert dock._labels_box.value is seg


def test_annotations_added_while_training_never_switch_the_run(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _image(viewer)
    seg = _labels(viewer, SEG)
    dock = _live(viewer)
    assert dock.start()
    try:
        qtbot.waitUntil(lambda: dock.trainer.running, timeout=60_000)
        _labels(viewer, "cells annotations")
        qtbot.wait(200)
        assert dock._labels_box.value is seg  # the layer trained on stays picked
        assert dock._annotations is seg and dock.trainer.running  # the run goes on
    finally:
        dock.stop()
    assert dock._labels_box.value is seg  # Stop changes no pick (Start continues the run)


def _gated_loading(monkeypatch):
    from napari_unet.widgets import _exporting

    original, gate, threads = _exporting.load_model_file, threading.Event(), []

    def gated(path):
        threads.append(threading.current_thread())
        assert gate.wait(60)
        return original(path)

    monkeypatch.setattr(_exporting, "load_model_file", gated)
    return gate, threads


def test_start_says_which_layer_it_trains_on(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    _image(viewer)
    seg = _labels(viewer, SEG)
    annotations = _labels(viewer, "cells annotations")
    dock = _live(viewer)
    gate, threads = _gated_loading(monkeypatch)
    dock._start.native.click()
    qtbot.waitUntil(lambda: bool(threads), timeout=10_000)
    assert "to train on 'cells' with 'cells annotations'" in dock._status.value
    gate.set()
    try:
        qtbot.waitUntil(lambda: dock.trainer is not None and dock.trainer.running, timeout=60_000)
        assert dock._annotations is annotations and dock._annotations is not seg
    finally:
        dock.stop()


def test_annotations_added_while_the_model_loads_keep_the_start(
    make_napari_viewer, qtbot, monkeypatch
):
    viewer = make_napari_viewer()
    _image(viewer)
    seg = _labels(viewer, SEG)
    dock = _live(viewer)
    gate, threads = _gated_loading(monkeypatch)
    dock._start.native.click()
    qtbot.waitUntil(lambda: bool(threads), timeout=10_000)
    _labels(viewer, "cells annotations")  # added while the model loads
    assert dock._labels_box.value is seg  # the picks Start was pressed for stay
    gate.set()
    try:
        qtbot.waitUntil(lambda: dock.trainer is not None and dock.trainer.running, timeout=60_000)
        assert dock._annotations is seg  # not cancelled
    finally:
        dock.stop()
