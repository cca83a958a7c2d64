"""Large images in the docks: the longest GUI freeze and the peak memory of each user step.

Builds a synthetic ``--size`` x ``--size`` uint16 image of touching cells (about one cell per
56 x 56 pixels, every cell its own id) and opens it in a real napari viewer (under
``xvfb-run`` when there is no display), one viewer per dock, and runs a user's steps:

- Annotate: Start; 5 brush strokes 0.4 s apart; a 3 s pause in which autosave writes (until
  its worker is done); Accept prediction of a whole-image prediction (other touching cells)
  until its worker is done, and the autosave that follows;
- Live: Start with the built-in model 'nuclei' until the first view is predicted (a view of
  about 512 x 512 pixels); 3 view updates (the camera pans, the dock waits for the view's
  prediction and draws it); idle 5 s; Accept all in the view; Stop;
- Review: open a folder of 2 such images with label files beside (nothing to predict) until
  the first is shown; idle 5 s (the autosave timer); a brush stroke and its autosave; Accept
  (saved, the next image shown);
- Predict and Weight map (``benchmarks/big_image_gui_docks.py``): Predict the whole image
  until shown, then again into the same layer (a tiny U-Net trained first, or
  ``--predict-model nuclei``); Compute a weight map, a stroke and Compute, Compute in a
  polygon region over about half the image.

Annotate also draws a polygon region over about half the image after its Accept, and its
autosave follows.

For each step it prints the longest gap between the ticks of a 10 ms timer on the GUI
thread (``tests/gui_meter.py``: the longest time napari could neither repaint nor react),
the wall time of the step and the peak growth of the process's resident memory above its
level at the step's start (threads included). torch is imported before the first step (the
first Start in a napari session also imports it: a few seconds more, whatever the size).

Usage::

    xvfb-run -a python benchmarks/big_image_gui.py [--size 8192]
        [--docks annotate live review predict weightmap] [--predict-model tiny] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from gui_meter import GapMeter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import big_image_gui_docks as docks_more  # noqa: E402

DOCKS = ("annotate", "live", "review", "predict", "weightmap")
MB = 2**20
#: Cell spacing of the synthetic images (px): about 21,000 cells on 8192 x 8192.
SPACING = 56


# -- data -------------------------------------------------------------------------------------
def touching_cells(size: int, seed: int, spacing: int = SPACING) -> np.ndarray:
    """Round cells on a jittered grid, overlapping their neighbours (later ones on top).

    Every cell has its own id (uint32); a cell's id grows with its place in the grid.
    """
    rng = np.random.default_rng(seed)
    n = max(1, size // spacing)
    step = size / n
    radius = int(0.62 * step)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    labels = np.zeros((size, size), np.uint32)
    jitter = rng.uniform(-step / 5, step / 5, (n, n, 2))
    scale = rng.uniform(0.75, 1.0, (n, n))
    for i in range(n):
        for j in range(n):
            cy = int((i + 0.5) * step + jitter[i, j, 0])
            cx = int((j + 0.5) * step + jitter[i, j, 1])
            disk = yy**2 + xx**2 <= (radius * scale[i, j]) ** 2
            y0, x0 = cy - radius, cx - radius
            cut = disk[max(0, -y0) : size - y0, max(0, -x0) : size - x0]
            window = labels[max(0, y0) : y0 + disk.shape[0], max(0, x0) : x0 + disk.shape[1]]
            window[cut] = i * n + j + 1
    return labels


def microscopy(labels: np.ndarray, seed: int) -> np.ndarray:
    """A fluorescence-like uint16 image of ``labels``: bright cells, dark borders, noise."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    inside = labels > 0
    border = np.zeros_like(inside)
    border[:-1] |= labels[:-1] != labels[1:]
    border[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    image = (inside & ~border).astype(np.float32) * 2000
    del inside, border
    image = ndi.gaussian_filter(image, 2, output=image)
    image += rng.normal(300, 40, labels.shape).astype(np.float32)
    return np.clip(image, 0, 65535).astype(np.uint16)


# -- measuring --------------------------------------------------------------------------------
def rss() -> int:
    """Resident memory of this process (bytes)."""
    import psutil

    return psutil.Process().memory_info().rss


class PeakRSS:
    """The process's peak resident memory since :meth:`start`.

    Linux: the kernel's high-water mark, reset at the start. Elsewhere: sampled every 20 ms.
    """

    def __init__(self) -> None:
        self._proc = Path("/proc/self/status")
        self._sampled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _hwm(self) -> int | None:
        try:
            for line in self._proc.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def start(self) -> None:
        self._sampled = rss()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            self._thread = None
            return
        except OSError:
            pass
        self._stop.clear()

        def sample() -> None:
            while not self._stop.wait(0.02):
                self._sampled = max(self._sampled, rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            return self._sampled
        return max(self._hwm() or 0, rss())


def pump(app, seconds: float) -> None:
    """Process GUI events for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def wait(app, until, what: str, timeout: float = 600.0) -> None:
    """Process GUI events until ``until()`` holds."""
    t0 = time.perf_counter()
    while not until():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class Steps:
    """Measures each step: longest GUI gap, wall time, peak memory growth."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._meter: GapMeter | None = None  # made once the viewer made the QApplication
        self._peak = PeakRSS()

    @contextmanager
    def step(self, dock: str, name: str):
        if self._meter is None:
            self._meter = GapMeter()
        gc.collect()
        base = rss()
        self._peak.start()
        self._meter.start()
        t0 = time.perf_counter()
        yield
        wall = time.perf_counter() - t0
        self._meter.stop()
        peak = self._peak.stop()
        gaps = self._meter.percentiles()
        row = {
            "dock": dock,
            "step": name,
            "freeze_s": round(gaps["max"] / 1000, 3),
            "p99_s": round(gaps["p99"] / 1000, 3),
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(max(0, peak - base) / MB),
        }
        self.rows.append(row)
        print(
            f"[{dock}] {name}: freeze {row['freeze_s']:.3f} s, wall {row['wall_s']:.1f} s, "
            f"peak RSS +{row['peak_rss_mb']} MB",
            file=sys.stderr,
            flush=True,
        )


def rss_guard(limit_gb: float) -> None:
    """Stop the process if its resident memory passes ``limit_gb`` (0: never)."""
    if limit_gb <= 0:
        return

    def watch() -> None:
        while True:
            if rss() > limit_gb * 2**30:
                print(f"resident memory over {limit_gb} GB: stopped", file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()


def new_viewer():
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    pump(app, 0.5)
    return viewer, app


def close_viewer(viewer, app) -> None:
    viewer.close()
    pump(app, 0.5)
    gc.collect()


# -- the docks --------------------------------------------------------------------------------
def annotate(steps: Steps, image: np.ndarray, folder: Path) -> None:
    from napari_unet.widgets.annotate import AnnotateWidget

    size = image.shape[0]
    viewer, app = new_viewer()
    layer = viewer.add_image(image, name="cells")
    dock = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Annotate")
    dock._folder.value = folder / "project"
    dock._image_combo.value = layer
    pump(app, 0.5)

    with steps.step("Annotate", "Start"):
        dock._start()
        pump(app, 1.0)
    labels = viewer.layers["cells annotations"]

    def stroke(k: int) -> None:
        """A brush drag of 20 dabs, one undo item (napari's own stroke grouping)."""
        y0, x0 = int(size * (0.1 + 0.15 * k)), int(size * (0.15 + 0.12 * k))
        labels._begin_stroke()
        for j in range(20):
            labels.paint((y0 + j * 3, x0 + j * 2), int(labels.selected_label), refresh=True)
        labels._commit_stroke()  # emits the paint event
        dock._new_cell()

    with steps.step("Annotate", "5 strokes, 0.4 s apart"):
        for k in range(5):
            stroke(k)
            pump(app, 0.4)
    with steps.step("Annotate", "pause 3 s: autosave (until written)"):
        pump(app, 3.0)
        wait(app, lambda: not dock._saver.busy, "the autosave")

    prediction = touching_cells(size, seed=2).astype(np.int32)
    pred = viewer.add_labels(prediction, name="cells prediction", visible=False)
    del prediction
    pump(app, 1.0)
    dock._prediction_combo.value = pred
    with steps.step("Annotate", "Accept prediction (whole image, worker) + autosave"):
        dock._accept_btn.native.click()
        wait(app, lambda: dock._accept_btn.enabled and labels.editable, "the accept worker")
        pump(app, 3.0)  # autosave's quiet period, then its worker
        wait(app, lambda: not dock._saver.busy, "the autosave")
    if "Accepted" not in str(dock._status.value):
        raise RuntimeError(f"Accept prediction did not accept: {dock._status.value}")
    s = size - 1  # a polygon (scanline fill) over about half the image
    polygon = np.array([[0, 0], [0, s], [s * 0.45, s], [s * 0.55, s * 0.5], [s * 0.55, 0]])
    with steps.step("Annotate", "a polygon region (half the image) + autosave"):
        dock._region.add(polygon, shape_type="polygon")
        pump(app, 3.0)
        wait(app, lambda: not dock._saver.busy, "the autosave")
    close_viewer(viewer, app)


def live(steps: Steps, image: np.ndarray) -> None:
    from napari_unet.widgets import _layers
    from napari_unet.widgets._predict_form import BUILTINS
    from napari_unet.widgets.live import LiveWidget

    size = image.shape[0]
    viewer, app = new_viewer()
    layer = viewer.add_image(image, name="cells")
    labels = viewer.add_labels(np.zeros(image.shape, np.int32), name="cells annotations")
    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    pump(app, 0.5)
    camera = _layers.camera(viewer)
    side = min(512, size)  # a view of about 512 px: its prediction stays short
    centre = size / 2
    camera.center = (centre, centre)
    camera.zoom = max(_layers.canvas_size(viewer)) / side
    pump(app, 0.5)
    dock._image_box.value, dock._labels_box.value = layer, labels
    dock._model.value = next(k for k, v in BUILTINS.items() if v == "nuclei")

    with steps.step("Live", "Start (the button, model 'nuclei') until the first view"):
        dock._start.native.click()  # the model is loaded in a thread
        wait(app, lambda: dock._views >= 1 or dock._start.enabled, "the first view")
        if dock._views < 1:
            raise RuntimeError(f"Live did not start: {dock._status.value}")
    for k in range(3):
        views = dock._views
        shift = side / 4 * (1 if k % 2 == 0 else -1)
        with steps.step("Live", f"view update {k + 1} (pan, predict, draw)"):
            camera.center = (centre + shift, centre + shift / 2)
            wait(app, lambda views=views: dock._views > views, "the view's prediction")
            pump(app, 0.2)
    with steps.step("Live", "idle 5 s"):
        pump(app, 5.0)
    with steps.step("Live", "Accept all in the view"):
        dock.accept_in_region()
        pump(app, 0.5)
    with steps.step("Live", "Stop (the button), until the thread has ended"):
        dock._stop.native.click()
        wait(app, lambda: dock._start.enabled, "the end of the trainer's step")
        pump(app, 0.5)
    close_viewer(viewer, app)


def review(steps: Steps, image: np.ndarray, cells: np.ndarray, folder: Path) -> None:
    from napari_unet.core.images.io import write_image
    from napari_unet.widgets.review import ReviewWidget

    size = image.shape[0]
    images, labels_in = folder / "images", folder / "labels_in"
    images.mkdir()
    labels_in.mkdir()
    write_image(images / "a.tif", image)
    write_image(labels_in / "a_labels.tif", cells)
    other = touching_cells(size, seed=3)
    write_image(images / "b.tif", microscopy(other, seed=3))
    write_image(labels_in / "b_labels.tif", other)
    del other

    viewer, app = new_viewer()
    dock = ReviewWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Review")
    dock._form.images.value = images
    dock._form.labels_folder.value = labels_in
    dock._form.output.value = folder / "review"
    pump(app, 0.5)

    with steps.step("Review", "open the folder until the first image is shown"):
        if not dock.open():
            raise RuntimeError(f"Review did not open: {dock._status.value}")
        wait(app, lambda: dock._shown == dock.current_name, "the first image")
        pump(app, 0.5)
    with steps.step("Review", "idle 5 s (autosave timer)"):
        pump(app, 5.0)
    labels = dock._labels_layer
    with steps.step("Review", "a stroke, then its autosave (4 s)"):
        labels._begin_stroke()
        for j in range(20):
            labels.paint((size // 3 + 3 * j, size // 3 + 2 * j), int(labels.selected_label))
        labels._commit_stroke()
        pump(app, 4.0)
        shown = dock._shown
        wait(app, lambda: dock.writer.unsaved(shown) is None, "the autosave")
    with steps.step("Review", "Accept (saved, next image shown)"):
        dock.accept()
        names = dock.review.names
        wait(app, lambda: dock._shown == names[1], "the next image")
        pump(app, 1.0)
    dock.shutdown()
    close_viewer(viewer, app)


def run_docks(args, steps: Steps, image: np.ndarray, cells: np.ndarray, folder: Path) -> None:
    """The chosen docks' steps, in the order of :data:`DOCKS`."""
    bench = sys.modules[__name__]
    chosen = {
        "annotate": lambda: annotate(steps, image, folder),
        "live": lambda: live(steps, image),
        "review": lambda: review(steps, image, cells, folder),
        "predict": lambda: docks_more.predict(bench, steps, image, args.predict_model),
        "weightmap": lambda: docks_more.weightmap(bench, steps, cells),
    }
    for dock in DOCKS:
        if dock in args.docks:
            chosen[dock]()


# -- output -----------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    lines = [
        "| dock | step | longest GUI freeze (s) | wall (s) | peak RSS growth (MB) |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dock']} | {r['step']} | {r['freeze_s']:.3f} | {r['wall_s']:.1f} | "
            f"{r['peak_rss_mb']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Run under a display or a virtual X server: "
        "xvfb-run -a python benchmarks/big_image_gui.py --size 8192",
    )
    p.add_argument("--size", type=int, default=8192, help="image side in pixels (default 8192)")
    p.add_argument(
        "--docks", nargs="+", choices=DOCKS, default=list(DOCKS), help="the docks to measure"
    )
    p.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    p.add_argument(
        "--predict-model", choices=docks_more.PREDICT_MODELS, default="tiny",
        help="the Predict dock's model (default tiny: 'nuclei' takes minutes at 8192)",
    )  # fmt: skip
    p.add_argument(
        "--max-rss-gb", type=float, default=8.0,
        help="stop if the process's resident memory passes this (default 8; 0: no limit)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.size < 128:
        p.error("--size must be at least 128")
    rss_guard(args.max_rss_gb)

    t0 = time.perf_counter()
    cells = touching_cells(args.size, seed=1)
    image = microscopy(cells, seed=1)
    print(
        f"{args.size} x {args.size} uint16 image, {int(cells.max())} touching cells, "
        f"made in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    import torch  # noqa: F401  (imported once, before any step: a step measures the dock)

    steps = Steps()
    with tempfile.TemporaryDirectory(prefix="napari-unet-big-gui-") as tmp:
        run_docks(args, steps, image, cells, Path(tmp))
    bad = [r for r in steps.rows if not all(math.isfinite(r[k]) for k in ("freeze_s", "wall_s"))]
    print(table(steps.rows))
    if args.json is not None:
        import napari

        args.json.write_text(
            json.dumps(
                {
                    "size": args.size,
                    "cells": int(cells.max()),
                    "date": date.today().isoformat(),
                    "napari": napari.__version__,
                    "rows": steps.rows,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
