"""The Predict dock: an estimate kept for its image, each model's probabilities, a missing file.

Before: Estimate on image A, then the image picker switched to B during the run, wrote A's
size into the box and remembered it as B's (A kept auto), so Predict on B scaled B by A's
size; "also add probabilities" with one model then another left one ``"img probabilities"``
layer holding the second model's map (the first's was gone); and a model file box holding a
path that is not there (a typo) quietly predicted with the model chosen before.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402
from napari_unet.widgets.predict import BUILTIN, PredictWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _dock(viewer, image=None, name="img"):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    image = nuclei_data()[0][:128, :128] if image is None else image
    widget._image.value = viewer.add_image(image, name=name)
    return widget


def _wait(widget, qtbot):
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)


def test_an_estimate_is_kept_for_the_image_it_measured(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    big = np.kron(nuclei_data()[0][:200, :200], np.ones((3, 3), np.uint8))  # nuclei 3x larger
    widget = _dock(viewer, big, name="A")
    a = widget._image.value
    b = viewer.add_image(nuclei_data()[0][:128, :128], name="B")
    widget._source.value = BUILTIN
    widget._image.value = a
    widget._estimate.clicked.emit()
    widget._image.value = b  # the picker switched while the estimate runs
    _wait(widget, qtbot)
    assert widget._size.value == 0 and widget._size.native.text() == "auto"  # B's own: auto
    assert "'A'" in widget._status.value and "estimated" in widget._status.value
    widget._image.value = a
    measured = widget._size.value
    assert measured > 30, widget._status.value  # A's estimate, there when A is chosen again
    widget._image.value = b
    assert widget._size.value == 0
    widget._run.clicked.emit()  # B at its own size: its nuclei are found
    _wait(widget, qtbot)
    assert "scaled by" not in widget._size_note.value, widget._size_note.value
    assert viewer.layers["B segmentation (nuclei)"].data.max() > 5, widget._status.value
    widget._image.value = a  # and the estimate selected throughout fills the box, as before
    widget._size.value = 0
    widget._estimate.clicked.emit()
    _wait(widget, qtbot)
    assert widget._size.value == measured and "estimated" in widget._size_note.value


def test_each_models_probabilities_have_a_layer_of_their_own(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget._probabilities.value = True
    widget._source.value = BUILTIN
    widget._run.clicked.emit()
    _wait(widget, qtbot)
    first = next(ly for ly in viewer.layers if "probabilities" in ly.name)
    kept = np.array(first.data)
    widget._source.value = "nuclei-brightfield (built-in)"
    widget._run.clicked.emit()
    _wait(widget, qtbot)
    probs = [ly for ly in viewer.layers if "probabilities" in ly.name]
    assert len(probs) == 2 and first in probs and np.array_equal(first.data, kept)  # the first's
    second = viewer.layers["img probabilities (nuclei-brightfield)"]
    assert second is not first and not np.array_equal(second.data, kept)
    widget._source.value = BUILTIN  # the same model again: its own layer, updated in place
    widget._run.clicked.emit()
    _wait(widget, qtbot)
    probs = [ly for ly in viewer.layers if "probabilities" in ly.name]
    assert probs == [first, second] and first.name == "img probabilities (nuclei)"


def test_a_model_file_that_is_not_there_is_refused(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    chosen = tmp_path / "a.safetensors"
    shutil.copyfile(pretrained_path("nuclei"), chosen)
    widget._model_file.value = chosen
    widget._model_file.value = tmp_path / "b.safetensors"  # a typo
    widget._run.clicked.emit()
    _wait(widget, qtbot)
    assert not [ly for ly in viewer.layers if "segmentation" in ly.name], widget._status.value
    assert "b.safetensors: no such model file" in widget._status.value
    assert "b.safetensors: no such model file" in widget._model_label.value
    widget._model_file.value = chosen  # the right path: predicted with it
    widget._run.clicked.emit()
    _wait(widget, qtbot)
    assert "objects in 'img segmentation (a)'" in widget._status.value, widget._status.value
