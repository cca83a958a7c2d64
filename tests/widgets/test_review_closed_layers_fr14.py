"""Closing the Review dock leaves its labels layer read-only; the next dock takes its layers.

Old: the closed dock's image and labels layers stayed in the viewer, the labels editable
(strokes on them were saved nowhere), and each Review dock opened again added two more
layers beside them (``"a [1]"``, ``"a labels [1]"``...).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_review_dock_hunt10 import _dock

pytest.importorskip("napari")
pytestmark = pytest.mark.usefixtures("one_thread")


def _reopen(viewer, qtbot, tmp_path):
    """A new Review dock on the folder ``_dock`` made, its first image shown."""
    from napari_unet.widgets.review import ReviewWidget

    widget = ReviewWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = tmp_path / "images"
    widget._form.labels_folder.value = tmp_path / "labels_in"
    widget._form.output.value = tmp_path / "out"
    assert widget.open(), widget._status.value
    qtbot.waitUntil(lambda: bool(widget._shown == "a.tif"), timeout=60_000)
    return widget, dock


def test_a_closed_dock_leaves_read_only_labels_that_the_next_dock_takes(
    make_napari_viewer, qtbot, tmp_path
):
    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    names = [layer.name for layer in viewer.layers]
    labels, image = widget._labels_layer, widget._image_layer
    labels.paint((5, 5), 901, refresh=True)  # saved as the dock closes
    viewer.window.remove_dock_widget(widget.native)
    qtbot.waitUntil(lambda: widget.review is None, timeout=10_000)
    assert labels in viewer.layers and not labels.editable  # old: editable, saved nowhere
    assert labels.name == "a labels (read-only: Review dock closed)"  # says so
    saved = tifffile.imread(tmp_path / "out" / "labels" / "a_labels.tif")
    assert saved[5, 5] == 901
    widget, dock = _reopen(viewer, qtbot, tmp_path)  # a dock opened again on the folder
    assert [layer.name for layer in viewer.layers] == names  # old: "a [1]", "a labels [1]"
    assert widget._labels_layer is labels and widget._image_layer is image
    assert labels.editable
    assert np.asarray(labels.data)[5, 5] == 901  # the saved edit, shown again
    viewer.window.remove_dock_widget(dock)
    qtbot.waitUntil(lambda: widget.review is None, timeout=10_000)
    assert not labels.editable and "read-only" in labels.name
    assert len(viewer.layers) == 2


def test_a_running_dock_keeps_its_layers_when_another_closes(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets.review import ReviewWidget

    viewer, first = _dock(make_napari_viewer, qtbot, tmp_path)
    other = ReviewWidget(viewer)
    other_dock = viewer.window.add_dock_widget(other, name="Review 2")
    other._form.images.value = tmp_path / "images"
    other._form.labels_folder.value = tmp_path / "labels_in"
    other._form.output.value = tmp_path / "out2"
    assert other.open(), other._status.value
    qtbot.waitUntil(lambda: bool(other._shown == "a.tif"), timeout=60_000)
    assert other._labels_layer is not first._labels_layer  # a live dock's layers are its own
    viewer.window.remove_dock_widget(other_dock)
    qtbot.waitUntil(lambda: other.review is None, timeout=10_000)
    assert first._labels_layer.editable and not other._labels_layer.editable
    first._labels_layer.paint((25, 25), 902, refresh=True)
    first.next_image()  # one image: stays; the stroke is saved by the running dock
    first.shutdown()
    assert tifffile.imread(tmp_path / "out" / "labels" / "a_labels.tif")[25, 25] == 902
