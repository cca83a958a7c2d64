"""The Review dock's autosave of large labels: compared and copied in a thread, never torn.

On an 8192 x 8192 image the autosave's comparison and copy held the GUI thread for most of a
second after every stroke. Work is counted here (bytes on the GUI thread), never timed.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_review_dock_fixes import _dock as _open  # noqa: E402

from napari_unet.core.images.io import read_image, write_image

pytest.importorskip("napari")

SIDE = 96
#: Above the size copied on the GUI thread (16 MiB of uint32), below a slow test.
BIG = 2304


def _folder(tmp_path, side: int, names="ab"):
    images, labels = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels.mkdir()
    for k, name in enumerate(names):
        lab = np.zeros((side, side), np.uint32)
        for i in range(4):
            lab[10 + 20 * i : 20 + 20 * i, 10 + 10 * k : 30 + 10 * k] = i + 1
        write_image(images / f"{name}.tif", ((lab > 0) * 1000).astype(np.uint16))
        write_image(labels / f"{name}_labels.tif", lab)
    return images, labels


def _dock(make_napari_viewer, qtbot, tmp_path, side=SIDE):
    images, labels = _folder(tmp_path, side)
    viewer, widget = _open(make_napari_viewer, qtbot, images, labels_folder=labels)
    widget._timer.setInterval(10**8)  # the test calls autosave itself
    return viewer, widget


@pytest.fixture
def threaded(monkeypatch):
    """Every image's autosave goes through the thread (small images, fast tests)."""
    from napari_unet.widgets import _review_snapshot

    monkeypatch.setattr(_review_snapshot, "SYNC_BYTES", 0)


def _settle(widget, qtbot):
    saver = getattr(widget, "_saver", None)  # None: a dock that copies on its own thread
    if saver is not None:
        qtbot.waitUntil(lambda: not saver.busy, timeout=30_000)
    assert widget.writer.flush()


def _saved(widget, name):
    assert widget.writer.flush()
    path = widget.review.labels_path(name)
    return np.asarray(read_image(path, labels=True)) if path.exists() else None


def test_the_gui_thread_part_of_an_autosave_does_not_scale_with_the_image(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """No whole-image comparison or copy on the GUI thread (old: both, 0.8 s at 8192^2)."""
    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path, side=BIG)
    name, layer = widget.current_name, widget._labels_layer
    size = layer.data.nbytes
    main, seen = threading.main_thread(), []
    real_array, real_equal = np.array, np.array_equal

    def array(obj, *args, **kwargs):
        if threading.current_thread() is main and isinstance(obj, np.ndarray):
            seen.append(obj.nbytes)
        return real_array(obj, *args, **kwargs)

    def array_equal(a, b, *args, **kwargs):
        if threading.current_thread() is main and isinstance(a, np.ndarray):
            seen.append(a.nbytes)
        return real_equal(a, b, *args, **kwargs)

    layer.paint((BIG - 20, BIG - 20), 77)  # in the last rows: a comparison reads them all
    monkeypatch.setattr(np, "array", array)
    monkeypatch.setattr(np, "array_equal", array_equal)
    widget.autosave()
    _settle(widget, qtbot)
    monkeypatch.undo()
    assert sum(seen) < size // 16, (sum(seen), size)
    np.testing.assert_array_equal(_saved(widget, name), layer.data)
    widget.shutdown()


def test_a_stroke_during_the_copy_drops_it_and_the_next_tick_saves_it(
    make_napari_viewer, qtbot, tmp_path, threaded, monkeypatch
):
    from napari_unet.widgets._review_snapshot import SnapshotSaver

    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    name, layer = widget.current_name, widget._labels_layer
    gate, real = threading.Event(), SnapshotSaver._work

    def gated(self, job):  # the copy is made after the stroke below: not the labels decided
        gate.wait(30)
        real(self, job)

    monkeypatch.setattr(SnapshotSaver, "_work", gated)
    layer.paint((50, 50), 77)
    widget.autosave()
    assert widget._saver.busy
    layer.paint((70, 70), 88)  # while the copy runs
    gate.set()
    _settle(widget, qtbot)
    assert widget._saver.dropped == 1
    assert _saved(widget, name) is None  # nothing written from a copy of other labels
    widget.autosave()  # the next tick: both strokes
    _settle(widget, qtbot)
    saved = _saved(widget, name)
    np.testing.assert_array_equal(saved, layer.data)
    assert saved[50, 50] == 77 and saved[70, 70] == 88
    widget.shutdown()


def test_a_stroke_during_the_write_is_not_in_the_file_then_saved_next(
    make_napari_viewer, qtbot, tmp_path, threaded, monkeypatch
):
    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    name, layer, review = widget.current_name, widget._labels_layer, widget.review
    gate, real, started = threading.Event(), review.save_labels, threading.Event()

    def slow(n, data):
        started.set()
        gate.wait(30)
        return real(n, data)

    monkeypatch.setattr(review, "save_labels", slow)
    layer.paint((50, 50), 77)
    decided = np.array(layer.data, copy=True)
    widget.autosave()
    qtbot.waitUntil(started.is_set, timeout=30_000)  # copied, handed over, being written
    layer.paint((70, 70), 88)
    gate.set()
    _settle(widget, qtbot)
    np.testing.assert_array_equal(_saved(widget, name), decided)
    widget.autosave()
    _settle(widget, qtbot)
    np.testing.assert_array_equal(_saved(widget, name), layer.data)
    widget.shutdown()


def test_an_autosaved_stroke_undone_is_saved_undone_and_no_correction(
    make_napari_viewer, qtbot, tmp_path, threaded
):
    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    name, layer = widget.current_name, widget._labels_layer
    original = np.array(layer.data, copy=True)
    layer.paint((50, 50), 77)
    widget.autosave()
    _settle(widget, qtbot)
    assert _saved(widget, name)[50, 50] == 77
    layer.undo()  # no event: found in the history
    widget.autosave()
    _settle(widget, qtbot)
    np.testing.assert_array_equal(_saved(widget, name), original)
    widget.autosave()  # nothing changed since: no copy started
    assert not widget._saver.busy
    widget.accept()
    assert widget.review.entries[name].status == "accepted"
    widget.shutdown()


def test_closing_while_the_copy_runs_saves_the_labels_quietly(
    make_napari_viewer, qtbot, tmp_path, threaded, monkeypatch
):
    from napari_unet.widgets._review_snapshot import SnapshotSaver

    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    name, layer = widget.current_name, widget._labels_layer
    gate, real, ended = threading.Event(), SnapshotSaver._work, threading.Event()

    def gated(self, job):
        gate.wait(30)
        try:
            real(self, job)
        finally:
            ended.set()

    monkeypatch.setattr(SnapshotSaver, "_work", gated)
    layer.paint((50, 50), 77)
    widget.autosave()
    output = widget.review
    viewer.close()  # napari closes: the shown labels are saved, the threads stopped
    assert widget.review is None
    gate.set()
    assert ended.wait(30)
    qtbot.wait(50)  # the dropped copy's signal, if delivered, is ignored
    saved = np.asarray(read_image(output.labels_path(name), labels=True))
    assert saved[50, 50] == 77
