"""Review dock with a large folder: opening, stepping latency and memory.

Builds a folder of ``--images`` (default 200) 1024x1024 fluorescence images (each a 4x4
mosaic of DSB2018 training images from the shared data; written to a temporary folder and
removed afterwards), opens it in the Review dock of a real napari viewer (under ``xvfb-run``
when there is no display) with the built-in nuclei model, and prints:

- open: seconds from Open folder until the dock is ready (the folder listed, the review file
  read, the model loaded; the first prediction then runs in the background); the first time
  in the process (torch imported then) and again after closing (resuming at the same image);
- first image: seconds from Open folder until the first image's labels are shown;
- step: seconds from a Next click until the next image and its labels are in the layers and
  the canvas has been redrawn, when that image's prediction is ready (median, 95th
  percentile, worst of ``--steps`` steps);
- prediction: seconds per image of the background predictor (it runs ahead of the reviewer);
- memory: the process's resident memory after opening, after the steps, and after the
  predictor went on through more of the folder (``queue_all``), to show that memory holds a
  few images, not the folder.

Usage::

    python benchmarks/review.py --data SHARED_DATA [--images 200] [--steps 30] [--ahead 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_folder(data: Path, folder: Path, n: int) -> None:
    """``n`` 1024x1024 mosaics of 16 fluorescence training images (256x256) each."""
    import csv

    from napari_unet.core.images.io import read_image, write_image

    with open(data / "dsb2018_full" / "index.csv", newline="") as f:
        rows = [
            r for r in csv.DictReader(f)
            if r["split"] == "train" and r["group"] == "fluo_256x256"
        ]  # fmt: skip
    tiles = []
    for r in rows[:64]:
        img = np.asarray(read_image(data / "dsb2018_full" / "images" / f"{r['name']}.png"))
        tiles.append(img if img.ndim == 2 else img[..., :3].mean(-1).astype(np.uint8))
    rng = np.random.default_rng(0)
    for i in range(n):
        pick = rng.choice(len(tiles), 16)
        mosaic = np.block([[tiles[pick[4 * r + c]] for c in range(4)] for r in range(4)])
        write_image(folder / f"image_{i:03d}.tif", mosaic.astype(np.uint8))


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def wait(app, until, timeout: float = 600.0) -> float:
    t0 = time.perf_counter()
    while not until():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the dock did not get there in time")
    return time.perf_counter() - t0


def run(args) -> list[tuple[str, str]]:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_unet.widgets.review import ReviewWidget

    tmp = Path(tempfile.mkdtemp(prefix="napari-unet-review-"))
    try:
        images = tmp / "images"
        images.mkdir()
        build_folder(args.data, images, args.images)
        viewer = napari.Viewer(show=True)
        app = QApplication.instance()
        widget = ReviewWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Review")
        widget._form.images.value = images
        widget._form.queue_all.value = True
        rss0 = rss_mb()
        t0 = time.perf_counter()
        assert widget.open()
        opened = time.perf_counter() - t0
        first = opened + wait(app, lambda: widget._shown == widget.current_name)
        rss_open = rss_mb()
        steps, predict_times = [], []
        for _ in range(args.steps):
            nxt = widget.review.names[widget._index + 1]
            t_ready = time.perf_counter()
            wait(app, lambda n=nxt: widget.prefetcher.get(n) is not None)
            predict_times.append(time.perf_counter() - t_ready)
            t = time.perf_counter()
            widget.next_image()
            viewer.window._qt_viewer.canvas.native.repaint()
            app.processEvents()
            steps.append(time.perf_counter() - t)
        rss_steps = rss_mb()
        t = time.perf_counter()
        done0 = sum(1 for e in widget.review.entries.values() if e.predicted_with)
        while time.perf_counter() - t < args.ahead:
            app.processEvents()
            time.sleep(0.05)
        done1 = sum(1 for e in widget.review.entries.values() if e.predicted_with)
        rss_ahead = rss_mb()
        widget.shutdown()
        where = widget._index
        t = time.perf_counter()
        assert widget.open()  # reopened: torch is loaded now, the review file is read
        reopened = time.perf_counter() - t
        resumed = widget._index == where
        widget.shutdown()
        viewer.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    steps.sort()
    waits = [p for p in predict_times if p > 0.05]  # steps that waited for the predictor
    per_image = args.ahead / max(1, done1 - done0)
    return [
        ("images in the folder (1024x1024)", f"{args.images}"),
        ("open (s; the process's first torch import and model load)", f"{opened:.2f}"),
        (
            "reopen (s; resumes at the image left)",
            f"{reopened:.2f} ({'resumed' if resumed else 'NOT resumed'})",
        ),
        ("first image shown (s)", f"{first:.2f}"),
        (f"step when ready, median of {len(steps)} (s)", f"{statistics.median(steps):.3f}"),
        ("step when ready, 95th percentile (s)", f"{steps[int(0.95 * (len(steps) - 1))]:.3f}"),
        ("step when ready, worst (s)", f"{steps[-1]:.3f}"),
        ("background prediction (s per image)", f"{per_image:.2f}"),
        ("steps that waited for a prediction", f"{len(waits)} of {len(steps)}"),
        ("memory before opening (MB)", f"{rss0:.0f}"),
        ("memory after opening (MB)", f"{rss_open:.0f}"),
        (f"memory after {len(steps)} steps (MB)", f"{rss_steps:.0f}"),
        (f"memory after {done1} images predicted (MB)", f"{rss_ahead:.0f}"),
    ]


def main() -> int:
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
        return subprocess.call(cmd)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--ahead", type=float, default=60.0, help="seconds of prediction ahead")
    args = parser.parse_args()
    rows = run(args)
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|------:|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
