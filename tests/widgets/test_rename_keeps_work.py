"""Renaming a layer in use changes nothing a dock is doing (Live trains on, Predict keeps its
settings).

magicgui finds a picker's item again by its text, so on a rename the picker jumped to another
layer and back; the docks heard the jump: Live stopped training without a word, and Predict
with auto switched models and back, resetting the user's threshold, min area and split.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_live_hunt_fixes2 import _discs, _dock, _started

pytest.importorskip("napari")


def test_renaming_the_trained_layers_keeps_live_training(make_napari_viewer, qtbot, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros_like(img), name="another image")  # first in the pickers
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    labels.data_setitem(np.nonzero(truth == 1), 1)
    widget = _dock(viewer, image, labels, model_file)
    _started(qtbot, widget)
    labels.name = "my annotations"
    image.name = "my cells"
    qtbot.wait(300)
    assert widget.trainer.running
    assert widget._labels_box.value is labels and widget._image_box.value is image


def test_renaming_the_image_keeps_predicts_settings(make_napari_viewer, qtbot):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    bright = 200 - (rng.random((64, 64)) * 20)  # dark objects on bright: auto's other model
    bright[20:30, 20:30] = 40
    viewer.add_image(bright.astype(np.float32), name="histology")
    dark = rng.random((64, 64)).astype(np.float32) * 20
    dark[20:30, 20:30] = 200
    image = viewer.add_image(dark, name="nuclei")
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    form = widget._form
    form._image.value = image
    form._threshold.value, form._min_size.value, form._split.value = 0.8, 77, 0.0
    image.name = "nuclei 1"
    qtbot.wait(100)
    assert form._image.value is image
    assert (form._threshold.value, form._min_size.value, form._split.value) == (0.8, 77, 0.0)
