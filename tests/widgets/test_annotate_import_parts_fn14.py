"""Import TIFF in the Annotate dock: compared in a worker, written in parts, one undo step.

Before, the whole import ran on the GUI thread at once: comparing a 4096 x 4096 mask with
the layer and writing its changed pixels froze napari for 7-10 s, with no progress shown.
Now it is written as Accept prediction is: in parts, one per turn of the event loop, with
"Importing ...%" in the status, the layer read-only meanwhile, and one Ctrl+Z undoes it
(the strokes painted before it stay undoable). The n key the dock binds goes with the dock.
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import tifffile
from napari.utils.key_bindings import coerce_keybinding
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QDockWidget
from test_annotate_widget import WORKER_MS, _image_file, _widget

from napari_unet.widgets import _annotate_work


def _watched(monkeypatch, widget) -> list:
    """(status, event-loop turns so far, layer editable) for every status the dock sets."""
    turns = [0]
    timer = QTimer(widget.native)
    timer.setInterval(0)
    timer.timeout.connect(lambda: turns.__setitem__(0, turns[0] + 1))
    timer.start()
    seen, shown = [], type(widget)._set_status

    def status(dock, text):
        labels = dock._annotations
        seen.append((text, turns[0], labels is not None and labels.editable))
        shown(dock, text)

    monkeypatch.setattr(type(widget), "_set_status", status)
    return seen


def test_an_import_is_written_in_parts_off_the_gui_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 500)  # 48 x 64 px: several parts
    counted_on = []
    count = _annotate_work.count_cells
    monkeypatch.setattr(
        _annotate_work,
        "count_cells",
        lambda data: counted_on.append(threading.current_thread()) or count(data),
    )
    path, data = _image_file(tmp_path)
    widget, _ = _widget(make_napari_viewer(), qtbot, path)
    labels = widget._annotations
    labels.brush_size = 3
    labels.paint((40, 5), 1)  # a stroke before the import
    stroke = np.array(labels.data)
    mask = np.zeros(data.shape, np.uint32)
    mask[:, :32], mask[:, 32:] = 7, 9  # every pixel changes
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    widget._tiff_path.value = tmp_path / "mask.tif"
    seen = _watched(monkeypatch, widget)
    widget._import_btn.native.click()
    qtbot.waitUntil(lambda: "Imported" in widget._status.value, timeout=WORKER_MS)
    monkeypatch.undo()  # the statuses and the counter as they were
    np.testing.assert_array_equal(labels.data, mask)
    assert widget._status.value == "Imported 2 cells; undo with Ctrl+Z."
    assert labels.selected_label == 10 and labels.editable and widget._import_btn.enabled
    parts = [(turn, editable) for text, turn, editable in seen if text.endswith("%")]
    assert len(parts) >= 4, seen  # 3,072 px in parts of 500, the status counting up
    assert next(text for text, *_ in seen if text.endswith("%")).startswith("Importing mask.tif")
    turns = [turn for turn, _ in parts]
    assert turns == sorted(set(turns)), "napari's event loop turns between the parts"
    assert not any(editable for _, editable in parts), "no stroke lands during the import"
    assert counted_on and threading.main_thread() not in counted_on  # counted in the worker
    labels.undo()  # one step undoes every part of the import
    np.testing.assert_array_equal(labels.data, stroke)
    labels.undo()  # and the stroke from before it is still in the history
    assert not np.asarray(labels.data).any()


def test_start_waits_for_a_running_import(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Start on the image while its import writes is refused, naming the import."""
    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 200)
    path, data = _image_file(tmp_path)
    widget, _ = _widget(make_napari_viewer(), qtbot, path)
    labels = widget._annotations
    mask = np.ones(data.shape, np.uint32)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    widget._tiff_path.value = tmp_path / "mask.tif"
    widget._import_btn.native.click()
    qtbot.waitUntil(lambda: widget._status.value.endswith("%"), timeout=WORKER_MS)
    assert not labels.editable and not widget._accept_btn.enabled
    widget._start_btn.native.click()
    assert "Import TIFF is still writing" in widget._status.value
    qtbot.waitUntil(lambda: "Imported 1 cells" in widget._status.value, timeout=WORKER_MS)
    np.testing.assert_array_equal(labels.data, mask)
    assert labels.editable and widget._accept_btn.enabled


def test_the_n_key_goes_with_its_dock(make_napari_viewer, qtbot, tmp_path):
    """Before, n stayed bound on the annotations after the dock was removed, and its key
    kept the removed dock alive."""
    path, _ = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    labels = widget._annotations
    n = coerce_keybinding("n")
    labels.keymap[n](labels)  # bound while the dock is there
    assert labels.selected_label == 1 and labels.mode == "paint"
    dock = widget.native
    while not isinstance(dock, QDockWidget):  # the dock napari put it in
        dock = dock.parent()
    viewer.window.remove_dock_widget(dock)  # its x button
    qtbot.wait(50)
    assert n not in labels.keymap
    gone = weakref.ref(widget)
    del widget, dock
    gc.collect()
    assert gone() is None, "the removed dock is not kept alive"
