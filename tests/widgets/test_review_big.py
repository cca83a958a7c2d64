"""The Review dock on big images: work counted, never timed.

On 8192 x 8192 images a whole-array comparison takes a third of a second and a copy of the
labels most of a second: the autosave timer compares only when something could have
changed, an Accept compares once, the labels to paint on are copied in the prefetcher's
thread, and the writer never queues a second full copy of an image while one is written.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_review_dock_fixes import _dock as _open  # noqa: E402
from test_review_dock_fixes import _shown  # noqa: E402

from napari_unet.core.images.io import read_image, write_image

pytest.importorskip("napari")

SIDE = 96


@pytest.fixture
def folder(tmp_path):
    """Three grey images with label files beside (no prediction needed)."""
    images, labels = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels.mkdir()
    rng = np.random.default_rng(0)
    for k, name in enumerate("abc"):
        lab = np.zeros((SIDE, SIDE), np.uint16)
        for i in range(4):
            lab[10 + 20 * i : 20 + 20 * i, 10 + 10 * k : 30 + 10 * k] = i + 1
        pixels = (lab > 0) * 1000 + rng.integers(0, 200, lab.shape)
        write_image(images / f"{name}.tif", pixels.astype(np.uint16))
        write_image(labels / f"{name}_labels.tif", lab)
    return images, labels


def _dock(make_napari_viewer, qtbot, folder):
    images, labels_folder = folder
    viewer, widget = _open(make_napari_viewer, qtbot, images, labels_folder=labels_folder)
    widget._timer.setInterval(10**8)  # the test calls autosave itself
    return viewer, widget


@pytest.fixture
def compares(monkeypatch):
    """Counts the whole-array comparisons of the labels shown (np.array_equal on them)."""
    calls: list[int] = []
    real = np.array_equal

    def counting(a, b, *args, **kwargs):
        if getattr(a, "shape", None) == (SIDE, SIDE) and getattr(b, "shape", None) == (SIDE, SIDE):
            calls.append(1)
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "array_equal", counting)
    return calls


def _saved(widget, name):
    assert widget.writer.flush()
    return np.asarray(read_image(widget.review.labels_path(name), labels=True))


def test_the_idle_autosave_compares_nothing_an_edit_is_still_saved(
    make_napari_viewer, qtbot, folder, compares
):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name, layer = widget.current_name, widget._labels_layer
    for _ in range(5):  # the timer's ticks with nothing painted
        widget.autosave()
    assert compares == []
    layer.paint((50, 50), 77)
    widget.autosave()
    assert len(compares) == 1
    assert _saved(widget, name)[50, 50] == 77
    for _ in range(5):
        widget.autosave()
    assert len(compares) == 1  # saved: nothing changed since
    widget.shutdown()


def test_undo_and_redo_are_edits_though_napari_sends_no_event(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name, layer = widget.current_name, widget._labels_layer
    before = np.array(layer.data)
    layer.paint((50, 50), 77)
    assert widget._edited()
    layer.undo()
    assert not widget._edited()  # a stroke undone is no edit
    layer.redo()
    assert widget._edited()
    widget.autosave()
    assert _saved(widget, name)[50, 50] == 77
    layer.undo()  # after the save: undoing is an edit to save
    widget.autosave()
    np.testing.assert_array_equal(_saved(widget, name), before)
    layer.paint((50, 50), 77)
    widget.autosave()
    assert widget.writer.flush()  # written before the next tick (else that tick waits)
    layer.undo()  # an undo and a new stroke between two ticks
    layer.paint((60, 60), 88)
    widget.autosave()
    saved = _saved(widget, name)
    assert saved[60, 60] == 88 and saved[50, 50] == before[50, 50]
    layer.data = np.zeros_like(layer.data)  # new data (a script): compared again
    assert widget._edited()
    widget.shutdown()


def test_an_undone_stroke_is_no_correction_after_a_cached_answer(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name, layer = widget.current_name, widget._labels_layer
    layer.paint((50, 50), 77)
    assert widget._edited()  # compared: the answer is kept until something changes
    layer.undo()
    widget.accept()
    _shown(widget, qtbot, 1)
    assert widget.review.entries[name].status == "accepted"
    assert _saved(widget, name)[50, 50] != 77
    widget.shutdown()


def test_accept_compares_once_and_copies_no_labels_on_the_gui_thread(
    make_napari_viewer, qtbot, folder, compares, monkeypatch
):
    from napari_unet.widgets import _review_layers

    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    names, pf = widget.review.names, widget.prefetcher
    qtbot.waitUntil(lambda: names[1] in getattr(pf, "_spares", pf._cache), timeout=60_000)
    qtbot.wait(200)
    copies: list[str] = []
    for attr in ("editable_labels", "_editable_labels"):  # the GUI thread's copy
        real = getattr(_review_layers, attr, None)
        if real is not None:
            monkeypatch.setattr(
                _review_layers, attr, lambda lab, real=real: copies.append(1) or real(lab)
            )
    widget._labels_layer.paint((50, 50), 77)
    widget.accept()  # corrected: compared once, saved, the next image shown
    _shown(widget, qtbot, 1)
    assert len(compares) == 1 and copies == []
    assert widget.review.entries[names[0]].status == "corrected"
    assert _saved(widget, names[0])[50, 50] == 77
    widget.shutdown()


def test_painting_never_changes_the_prefetchers_cache(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name, layer, pf = widget.current_name, widget._labels_layer, widget.prefetcher
    cached = pf._cache[name].labels
    original = np.array(cached)
    assert not cached.flags.writeable  # read-only: no code path can paint on it
    assert not np.shares_memory(layer.data, cached)
    layer.paint((50, 50), 77)
    np.testing.assert_array_equal(pf._cache[name].labels, original)
    layer.undo()
    widget.next_image()
    _shown(widget, qtbot, 1)
    widget.previous_image()  # its spare was handed out: a copy is made again
    _shown(widget, qtbot, 0)
    assert not np.shares_memory(widget._labels_layer.data, pf._cache[name].labels)
    widget._labels_layer.paint((50, 50), 77)
    np.testing.assert_array_equal(pf._cache[name].labels, original)
    widget.shutdown()


def test_autosave_queues_one_copy_at_a_time_and_every_edit_lands(
    make_napari_viewer, qtbot, folder, monkeypatch
):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    name, layer, review = widget.current_name, widget._labels_layer, widget.review
    gate, real, writes = threading.Event(), review.save_labels, []

    def slow(n, data):  # a big image's write: slower than the timer
        writes.append(n)
        gate.wait(30)
        return real(n, data)

    monkeypatch.setattr(review, "save_labels", slow)
    submitted = []
    real_submit = widget.writer.save_labels
    monkeypatch.setattr(
        widget.writer, "save_labels", lambda *a, **k: submitted.append(1) or real_submit(*a, **k)
    )
    layer.paint((50, 50), 77)
    widget.autosave()
    layer.paint((60, 60), 88)
    widget.autosave()  # the first copy is still being written: this tick waits
    widget.autosave()
    assert len(submitted) == 1
    gate.set()
    assert widget.writer.flush()
    widget.autosave()  # written: the second stroke goes now
    saved = _saved(widget, name)
    assert saved[50, 50] == 77 and saved[60, 60] == 88
    widget.shutdown()


def test_the_next_image_redraws_the_labels_once(make_napari_viewer, qtbot, folder):
    """napari redraws a layer set visible even when it is: 0.25 s per 8192 x 8192 image."""
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    layer, redraws = widget._labels_layer, []
    real = layer.refresh
    layer.refresh = lambda *a, **k: redraws.append(1) or real(*a, **k)
    widget.next_image()
    _shown(widget, qtbot, 1)
    assert widget._labels_layer is layer and layer.visible
    assert len(redraws) <= 1, redraws
    widget.shutdown()
