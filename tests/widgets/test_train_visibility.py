"""The Train dock in napari's default window: a run scrolls its buttons, progress and status
into view, when it starts and when it ends (finished, stopped, failed).

A first-run hunter found at 1089 x 630 the Train and Stop buttons, the progress bar and the
status below the fold, and at 1366 x 768 the finished status cut after its first line and
the curves out of view: a "not saved" or "start model kept" message went unseen.
"""

from __future__ import annotations

import threading

import pytest
from qtpy.QtCore import QPoint

torch = pytest.importorskip("torch")

from test_train_hunt_fixes9 import gate_runs  # noqa: E402
from test_train_widget import setup  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = (1089, 630)  # napari's default window under xvfb


def _in_view(scroll, widget) -> bool:
    """Whether ``widget`` lies wholly inside the scroll area's viewport."""
    top = widget.mapTo(scroll.viewport(), QPoint(0, 0)).y()
    return top >= 0 and top + widget.height() <= scroll.viewport().height()


def _small_dock(make_napari_viewer, qtbot, tmp_path, steps=2):
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=steps)
    viewer.window._qt_window.resize(*SMALL)  # the viewer's QMainWindow (no public name)
    viewer.window._qt_window.show()
    qtbot.waitUntil(lambda: bool(widget._scroll.viewport().height() > 50), timeout=5000)
    qtbot.wait(100)
    widget._val_every.value = 1
    scroll = widget._scroll
    scroll.verticalScrollBar().setValue(0)  # the form's top, as a dock opens
    assert scroll.verticalScrollBar().maximum() > 0  # the dock does scroll at this size
    assert not _in_view(scroll, widget._status.native)  # below the fold before the run
    return viewer, widget


def _wait_done(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: bool(widget._done.is_set() and widget._start.enabled), timeout=120_000)
    qtbot.wait(100)  # reveal scrolls on the next turn of the event loop


def _whole(status) -> bool:
    """Whether a word-wrapped status label is as tall as its text needs."""
    return status.wordWrap() and status.height() >= status.heightForWidth(status.width())


def test_a_run_scrolls_its_buttons_progress_and_status_into_view(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, request
):
    viewer, widget = _small_dock(make_napari_viewer, qtbot, tmp_path)
    gate = gate_runs(monkeypatch)  # the run waits, so its start is seen on its own
    request.addfinalizer(gate.set)  # (a failed test leaves no worker waiting)
    scroll = widget._scroll
    widget._start.native.click()
    qtbot.waitUntil(lambda: _in_view(scroll, widget._status.native), timeout=5000)
    for part in (widget._buttons, widget._progress):  # Stop is in view while it runs
        assert _in_view(scroll, part.native)
    scroll.verticalScrollBar().setValue(0)  # the user scrolls back up meanwhile
    gate.set()
    _wait_done(qtbot, widget)
    assert widget._result is not None and widget._status.value.startswith("finished")
    for part in (widget._buttons, widget._progress, widget._status):
        assert _in_view(scroll, part.native), part
    assert _whole(widget._status.native)


def test_a_failed_run_shows_its_whole_message_in_view(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, request
):
    from napari_unet.widgets import _workers

    viewer, widget = _small_dock(make_napari_viewer, qtbot, tmp_path)
    gate = threading.Event()
    request.addfinalizer(gate.set)

    def failing(data, config, kwargs, done):
        gate.wait(60)
        done.set()
        raise RuntimeError("the device ran out of memory " + "while training a long run " * 4)
        yield  # a generator, as the real job

    monkeypatch.setattr(_workers, "train_job", failing)
    widget._start.native.click()
    scroll = widget._scroll
    qtbot.wait(100)
    scroll.verticalScrollBar().setValue(0)  # scrolled up while it ran: its end scrolls back
    gate.set()
    _wait_done(qtbot, widget)
    status = widget._status.native
    assert "Training failed" in widget._status.value
    assert status.heightForWidth(status.width()) > 2 * status.fontMetrics().lineSpacing()
    assert _whole(status)
    assert _in_view(scroll, status)
    assert _in_view(scroll, widget._buttons.native)


def test_a_refused_start_shows_its_message_in_view(make_napari_viewer, qtbot, tmp_path):
    viewer, widget = _small_dock(make_napari_viewer, qtbot, tmp_path)
    widget._resume.native.setEnabled(True)
    widget._resume.native.click()  # nothing to resume: refused before a run starts
    qtbot.wait(100)
    assert "nothing to resume" in widget._status.value
    assert _in_view(widget._scroll, widget._status.native)
