"""The Predict dock: the image removed, or its data replaced, while a run goes on.

Before: a run whose image was deleted meanwhile still added "<img> segmentation (<model>)"
for an image no longer in the viewer (and enabled Save segmentation); a run whose image's
data was replaced meanwhile (64 x 64 became 80 x 96) laid the 64 x 64 result over the new
image silently. Now such a result is dropped with a note, as Cancel drops a run; a new name
or contrast of the image meanwhile still gives the result (under the new name).
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets import _workers  # noqa: E402
from napari_unet.widgets.predict import PredictWidget, result_name  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def held(monkeypatch):
    """An event that holds every Predict run until the test sets it (the user acts first)."""
    go = threading.Event()
    real = _workers.predict_job

    def held_job(*args, **kwargs):
        go.wait(60)
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr(_workers, "predict_job", held_job)
    return go


def _start(viewer, tiny, shape=(64, 64)):
    image = viewer.add_image(touching_cells(shape)[0], name="img")
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = image
    widget._run.clicked.emit()
    assert widget._worker is not None
    return image, widget


def _finish(qtbot, widget, go):
    go.set()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)


def test_image_removed_during_the_run_adds_nothing(make_napari_viewer, qtbot, tiny, held):
    viewer = make_napari_viewer()
    image, widget = _start(viewer, tiny)
    viewer.layers.remove(image)
    _finish(qtbot, widget, held)
    assert result_name("img", "tiny") not in viewer.layers
    assert len(viewer.layers) == 0
    assert "removed during the run" in widget._status.value
    assert "nothing was added" in widget._status.value
    assert not widget._save_labels.enabled


def test_image_data_replaced_during_the_run_adds_nothing(
    make_napari_viewer, qtbot, tiny, held
):
    viewer = make_napari_viewer()
    image, widget = _start(viewer, tiny)
    image.data = touching_cells((80, 96))[0]  # e.g. a plugin reloading the image
    _finish(qtbot, widget, held)
    assert result_name("img", "tiny") not in viewer.layers
    assert [layer.name for layer in viewer.layers] == ["img"]
    assert "changed during the run" in widget._status.value
    assert not widget._save_labels.enabled


def test_image_renamed_or_recoloured_during_the_run_still_gets_its_result(
    make_napari_viewer, qtbot, tiny, held
):
    viewer = make_napari_viewer()
    image, widget = _start(viewer, tiny)
    image.name = "renamed"
    image.contrast_limits = (0.0, 0.5)
    image.scale = (2.0, 2.0)
    _finish(qtbot, widget, held)
    seg = viewer.layers[result_name("renamed", "tiny")]
    assert seg.data.shape == image.data.shape
    assert seg.data.max() > 0
    assert "objects in" in widget._status.value
    assert widget._save_labels.enabled
