"""Predict dock responsiveness: how often progress moves, and how fast Cancel acts.

Runs the Predict dock in a real napari viewer (under ``xvfb-run`` when there is no display)
with the built-in nuclei model on the nuclei sample tiled to 1024 and 2048 pixels, with the
tiles the dock picks (the largest the network runs in half a second:
``napari_unet.widgets._workers.TILE_SECONDS``) and with the largest that fits the memory (what
the dock used before, and what the command line uses). For each it prints:

- first update: seconds from the click to the first tile done;
- longest wait: the longest time between two progress updates the dock received;
- total: seconds until the result layer is in the viewer;
- cancel, dock free: seconds from the Cancel click until Predict can be pressed again;
- cancel, work stopped: seconds from the Cancel click until the worker thread ended.

Cancel is clicked 50 ms after a tile finished (the next tile has just started: the
slowest case). Usage: ``python benchmarks/dock_predict.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np


def wait(app, until, timeout: float = 600.0) -> None:
    t0 = time.perf_counter()
    while not until():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the dock did not finish in time")


def wait_idle(app) -> None:
    for _ in range(30):
        app.processEvents()
        time.sleep(0.01)


def one_run(viewer, widget, app, cancel: bool) -> dict:
    """Press Predict (and Cancel 50 ms after the first tile); return the timings."""
    ticks: list[float] = []
    original = widget._on_progress

    def spy(event, job):
        if hasattr(event, "done") and event.done:
            ticks.append(time.perf_counter())
        original(event, job)

    widget._on_progress = spy
    t0 = time.perf_counter()
    widget._run.clicked.emit()
    out = {}
    if cancel:
        wait(app, lambda: len(ticks) >= 1)
        time.sleep(0.05)
        worker, ended = widget._worker, []
        worker.finished.connect(lambda: ended.append(time.perf_counter()))
        c0 = time.perf_counter()
        widget._cancel.clicked.emit()
        wait(app, lambda: widget._run.enabled)
        out["free"] = time.perf_counter() - c0
        wait(app, lambda: bool(ended))
        out["stopped"] = ended[0] - c0
    else:
        wait(app, lambda: widget._worker is None and widget._run.enabled)
        out["total"] = time.perf_counter() - t0
        out["first"] = ticks[0] - t0 if ticks else float("nan")
        out["longest"] = float(np.max(np.diff([t0, *ticks]))) if ticks else float("nan")
        out["updates"] = len(ticks)
    widget._on_progress = original
    return out


def main() -> int:
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
        return subprocess.call(cmd)
    import napari
    import torch
    from qtpy.QtWidgets import QApplication

    import napari_unet as nu
    from napari_unet.widgets import _workers
    from napari_unet.widgets.predict import PredictWidget

    image, _ = nu.nuclei_data()
    viewer = napari.Viewer(show=True)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Predict")
    app = QApplication.instance()
    print(
        f"# Predict dock responsiveness ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU)\n"
    )
    print(
        "| image | tiles | updates | first update (s) | longest wait (s) | total (s) "
        "| cancel, dock free (s) | cancel, work stopped (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    dock_default = _workers.TILE_SECONDS
    for side in (1024, 2048):
        big = np.tile(image, (side // image.shape[0] + 1, side // image.shape[1] + 1))
        viewer.layers.clear()
        wait_idle(app)  # napari 0.9.2 under software OpenGL crashes on a layer added before
        # the canvas saw the removal of an image layer (found here; not our code)
        viewer.add_image(big[:side, :side], name=f"nuclei {side}")
        widget.reset_choices()
        widget._image.value = viewer.layers[f"nuclei {side}"]
        wait_idle(app)
        for label, seconds in (("by time (dock)", dock_default), ("by memory (before)", None)):
            _workers.TILE_SECONDS = seconds
            one_run(viewer, widget, app, cancel=False)  # warm-up: model loaded and timed
            done = one_run(viewer, widget, app, cancel=False)
            stop = one_run(viewer, widget, app, cancel=True)
            print(
                f"| {side}x{side} | {label} | {done['updates']} | {done['first']:.2f} "
                f"| {done['longest']:.2f} | {done['total']:.1f} | {stop['free']:.3f} "
                f"| {stop['stopped']:.2f} |"
            )
    _workers.TILE_SECONDS = dock_default
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
