"""The Annotate dock's workers let go of their arrays once they end; closed Live docks leave
nothing on the layer list.

napari keeps every thread worker made while a viewer is open, with its function and
arguments. Before, every autosave kept its copy of the annotations, every Accept
prediction that round's whole prediction and every Export TIFF its copy, for the life of
the window (a 2048 px image: +17 MB per pause in painting). Each closed Live dock left two
functions on the layer list's four events, and ``_docking._WATCHED`` one entry per dock.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import tifffile

from napari_unet import touching_cells
from napari_unet.widgets import _annotate_export, _docking
from napari_unet.widgets.annotate import AnnotateWidget

WORKER_MS = 30_000


def _gone(qtbot, ref) -> None:
    def dead() -> bool:
        gc.collect()
        return ref() is None

    qtbot.waitUntil(dead, timeout=5_000)


def _annotating(make_napari_viewer, qtbot, tmp_path, shape=(64, 96)):
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint8))
    viewer = make_napari_viewer()
    image = viewer.open(path)[0]
    dock = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Annotate")
    dock._saver.timer.setInterval(30)  # the 2 s pause before an autosave, shortened
    dock._image_combo.value = image
    dock._start_btn.native.click()
    return viewer, dock, viewer.layers["img annotations"]


def _saved(qtbot, dock, value) -> None:
    saver = dock._saver

    def done() -> bool:
        ann = saver.saved_annotations
        return bool(ann is not None and ann.max() == value and not saver.busy)

    qtbot.waitUntil(done, timeout=WORKER_MS)
    qtbot.waitUntil(lambda: bool(not saver.timer.isActive() and not saver.busy))


def test_an_autosave_lets_go_of_the_copy_it_compared_with(make_napari_viewer, qtbot, tmp_path):
    """The copy an autosave wrote is freed once a later save has replaced it."""
    _viewer, dock, labels = _annotating(make_napari_viewer, qtbot, tmp_path)
    labels.paint((10, 10), 1)
    _saved(qtbot, dock, 1)
    first = weakref.ref(dock._saver.saved_annotations)
    labels.paint((40, 40), 2)  # the next save compares with the first's copy
    _saved(qtbot, dock, 2)
    labels.paint((20, 70), 3)
    _saved(qtbot, dock, 3)
    _gone(qtbot, first)  # before: every save's worker kept the copy before it
    assert dock._saver.saved_annotations.max() == 3


def test_an_accept_lets_go_of_the_prediction_it_read(make_napari_viewer, qtbot, tmp_path):
    """A prediction accepted and then replaced (the next Predict) is freed."""
    viewer, dock, labels = _annotating(make_napari_viewer, qtbot, tmp_path)
    dock._saver.enabled = False  # only the accept is measured
    _, cells = touching_cells((64, 96), n_cells=6, seed=0)
    first = cells.astype(np.int32)
    pred = viewer.add_labels(first, name="img segmentation (nuclei)")
    dock._prediction_combo.value = pred
    dock._accept_btn.native.click()
    qtbot.waitUntil(lambda: bool(dock._accept_btn.enabled), timeout=WORKER_MS)
    qtbot.waitUntil(lambda: bool(labels.editable), timeout=WORKER_MS)
    assert np.array_equal(labels.data > 0, first > 0)  # it was accepted
    ref = weakref.ref(first)
    del first
    pred.data = np.zeros((64, 96), np.int32)  # a new prediction, as Predict writes it
    _gone(qtbot, ref)  # before: that accept's worker kept the whole prediction for good


def test_an_export_lets_go_of_its_copy(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """The copy of the annotations an Export TIFF wrote is freed once written."""
    _viewer, dock, labels = _annotating(make_napari_viewer, qtbot, tmp_path)
    dock._saver.enabled = False  # only the export is measured
    labels.paint((10, 10), 1)
    written, real = [], _annotate_export.write_annotations

    def spy(path, data):
        written.append(weakref.ref(data))
        return real(path, data)

    monkeypatch.setattr(_annotate_export, "write_annotations", spy)
    out = tmp_path / "export.tif"
    dock._tiff_path.value = out
    dock._export_btn.native.click()
    qtbot.waitUntil(lambda: "Exported" in dock._status.value, timeout=WORKER_MS)
    assert tifffile.imread(out).max() == 1 and len(written) == 1
    _gone(qtbot, written[0])  # before: the worker kept it for the life of the window


def test_closed_live_docks_leave_nothing_on_the_layer_list(
    make_napari_viewer, qtbot, napari_unet_plugin
):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    events = viewer.layers.events
    docks = []
    for _ in range(3):
        dock_widget, dock = viewer.window.add_plugin_dock_widget("napari-unet", "Live")
        docks.append(weakref.ref(dock))
        viewer.window.remove_dock_widget(dock_widget)
        del dock_widget, dock
    for ref in docks:
        _gone(qtbot, ref)
    viewer.add_image(np.zeros((8, 8)), name="x")  # napari drops callbacks of objects gone
    viewer.layers.remove("x")
    left = [
        cb
        for event in (events.inserted, events.removed, events.reordered, events.renamed)
        for cb in event.callbacks
    ]
    held = [cb[0]() if isinstance(cb, tuple) else cb for cb in left]
    ours = [cb for cb in held if type(cb).__module__.startswith("napari_unet")
            or getattr(cb, "__module__", "").startswith("napari_unet")]  # fmt: skip
    assert ours == []  # before: 8 functions per closed Live dock, for good


def test_a_live_dock_still_follows_the_layer_list(make_napari_viewer, qtbot, napari_unet_plugin):
    """Held weakly, the pickers still follow layers added and renamed while the dock lives."""
    viewer = make_napari_viewer()
    _dock_widget, dock = viewer.window.add_plugin_dock_widget("napari-unet", "Live")
    image = viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    assert dock._image_box.value is image
    image.name = "renamed"
    assert "renamed" in dock._status.value  # the Ready line follows the rename (keep_idle)


def test_docks_gone_leave_no_entry_to_watch(make_napari_viewer, qtbot, napari_unet_plugin):
    viewer = make_napari_viewer()
    for _ in range(4):
        dock_widget, _dock = viewer.window.add_plugin_dock_widget("napari-unet", "Live")
        viewer.window.remove_dock_widget(dock_widget)
        del dock_widget, _dock
    gc.collect()
    qtbot.wait(10)
    gc.collect()
    dock_widget, dock = viewer.window.add_plugin_dock_widget("napari-unet", "Live")
    alive = [key for key, (ref, *_rest) in _docking._WATCHED.items() if ref() is not None]
    assert len(_docking._WATCHED) == len(alive)  # before: one entry per dock ever opened
    assert any(ref() is dock for ref, *_rest in _docking._WATCHED.values())
