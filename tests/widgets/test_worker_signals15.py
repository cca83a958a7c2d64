"""A save that ends before napari's worker is handed back still lets go of what it held.

``create_worker(..., _connect=...)`` starts the worker at once: ``run_saving`` connected
its ``finished`` slot afterwards, so a save finished by then (a small file, a busy GUI
thread) never cleared what it held, and the dock's status line stayed alive with napari's
worker. Seen in the full suite as a flaky leak test; forced here.
"""

from __future__ import annotations

import gc
import time
import weakref

import numpy as np


class Status:
    value = ""


def test_a_save_finished_before_its_worker_is_returned_lets_go(qtbot, monkeypatch):
    import napari.qt.threading as threading

    from napari_unet.widgets._layers import run_saving

    real = threading.create_worker

    def finished_first(*args, **kwargs):  # the worker ends before the caller gets it
        worker = real(*args, **kwargs)
        deadline = time.monotonic() + 10
        while worker.is_running and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # its signals emitted, not yet delivered
        return worker

    monkeypatch.setattr(threading, "create_worker", finished_first)
    status = Status()
    ref = weakref.ref(status)
    worker = run_saving(status, lambda array: "seg.tif", np.zeros((8, 8), np.int32))
    del status
    qtbot.waitUntil(lambda: ref() is None or ref().value == "Saved seg.tif", timeout=10_000)

    def gone() -> bool:
        gc.collect()
        return ref() is None

    qtbot.waitUntil(gone, timeout=5_000)
    assert worker is not None  # napari holds it; the status line is let go all the same
