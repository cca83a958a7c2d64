"""GUI freezes of four dock actions: the longest GUI-thread gap and the wall time of each.

Each step runs in a real napari viewer (under ``xvfb-run`` when there is no display), driven
through the docks' public controls only (the buttons and fields a user sets), so the same
script measures older versions of the plugin too:

1. ``annotate``: the Annotate dock's Import TIFF of a ``--size`` x ``--size`` label mask
   with thousands of cells (the shipped sample's labels, ``napari_unet.nuclei_data()``,
   tiled, every tile's cells their own ids) into a fresh annotation session on an image of
   that size, from the click until the status says "Imported";
2. ``evaluate``: the Evaluate dock on a stack of ``--planes`` planes of 32 x 32 ground truth
   and prediction (crops of the sample's labels; the prediction shifted by a pixel, some
   planes empty), scored plane by plane, from pressing Evaluate until the tables are shown;
3. ``review``: the Review dock's Open on a folder of 2 small images (the sample, labels
   beside) with the default ``auto`` model, in a fresh Python process (torch not yet
   imported), from Open until the first image is shown; the row's note says how long the
   call to ``open()`` itself held the GUI thread;
4. ``predict``: the Predict dock's "current view" on a ``--slide`` x ``--slide``
   single-level OME-Zarr slide (the sample image tiled), which the napari-unet reader opens
   lazily, the view zoomed to about 800 x 600 image pixels, with the tiny U-Net of
   ``tests/tiny_model.py`` (trained before the step), from Predict until the result is
   shown; the note gives the result layer's size.

The longest gap is the longest time between the ticks of a 10 ms timer on the GUI thread
(``tests/gui_meter.py``): the longest time napari could neither repaint nor react. Each step
ends with 0.5 s of events after its end condition (the result drawn); the wall time is up
to the end condition. torch is imported before the steps (but in the ``review`` step's own
process). Temporary files go to a temporary folder that is removed at the end.

Usage::

    OMP_NUM_THREADS=1 xvfb-run -a python benchmarks/dock_freezes.py
        [--steps annotate evaluate review predict] [--size 4096] [--planes 2000]
        [--slide 16384] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from big_image_gui import close_viewer, new_viewer, pump, wait  # noqa: E402

STEPS = ("annotate", "evaluate", "review", "predict")
TIMEOUT = 900.0  # s: the most a step may take before it is given up


# -- GUI helpers: big_image_gui's (pump, wait, new_viewer, close_viewer) ------------------


class Measure:
    """The longest GUI gap (10 ms timer) and the wall time of one step."""

    def __init__(self, app) -> None:
        from gui_meter import GapMeter

        self.app = app
        self.meter = GapMeter()
        self.t0 = self.wall = math.nan

    def start(self) -> None:
        gc.collect()
        self.meter.start()
        self.t0 = time.perf_counter()

    def done(self) -> None:
        """The step's end condition holds: its wall time; then 0.5 s of events (drawing)."""
        self.wall = time.perf_counter() - self.t0
        pump(self.app, 0.5)
        self.meter.stop()

    @property
    def gap_s(self) -> float:
        return self.meter.percentiles()["max"] / 1000


# -- data -------------------------------------------------------------------------------------
def tiled_labels(size: int) -> np.ndarray:
    """The sample's labels tiled to ``size`` x ``size``, every tile's cells their own ids."""
    from napari_unet import nuclei_data

    _, labels = nuclei_data()
    labels = labels.astype(np.uint32)
    h, w = labels.shape
    top = int(labels.max())
    ny, nx = -(-size // h), -(-size // w)
    out = np.zeros((ny * h, nx * w), np.uint32)
    for i in range(ny):
        for j in range(nx):
            tile = labels.copy()
            tile[tile > 0] += (i * nx + j) * top
            out[i * h : (i + 1) * h, j * w : (j + 1) * w] = tile
    return out[:size, :size]


def tiled_image(size: int) -> np.ndarray:
    """The sample image (uint8) tiled to ``size`` x ``size``."""
    from napari_unet import nuclei_data

    image, _ = nuclei_data()
    h, w = image.shape[-2:]
    return np.tile(image, (-(-size // h), -(-size // w)))[:size, :size]


def plane_stack(planes: int) -> tuple[np.ndarray, np.ndarray]:
    """``planes`` 32 x 32 crops of the sample's labels, and a prediction of them."""
    from skimage.segmentation import relabel_sequential

    from napari_unet import nuclei_data

    _, labels = nuclei_data()
    rng = np.random.default_rng(0)
    h, w = labels.shape
    gt = np.zeros((planes, 32, 32), np.uint16)
    for p in range(planes):
        y, x = rng.integers(0, h - 32), rng.integers(0, w - 32)
        gt[p] = relabel_sequential(labels[y : y + 32, x : x + 32])[0]
    pred = np.roll(gt, 1, axis=2)  # every cell a pixel off
    pred[::3, 10:16] = 0  # a strip missed in every third plane
    pred[1::7] = 0  # and some planes predict nothing
    return gt, pred


# -- the steps --------------------------------------------------------------------------------
def step_annotate(args, tmp: Path) -> dict:
    import tifffile

    from napari_unet.widgets.annotate import AnnotateWidget

    size = args.size
    mask = tiled_labels(size)
    cells = len(np.unique(mask)) - 1
    path = tmp / "mask.tif"
    tifffile.imwrite(path, mask)
    del mask
    viewer, app = new_viewer()
    layer = viewer.add_image(tiled_image(size), name="cells")
    dock = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Annotate")
    dock._folder.value = tmp / "project"
    dock._image_combo.value = layer
    pump(app, 0.3)
    dock._start_btn.native.click()  # a fresh annotation session
    wait(app, lambda: dock._annotations is not None, "the annotation session", 60)
    pump(app, 1.0)
    dock._tiff_path.value = path
    m = Measure(app)
    m.start()
    dock._import_btn.native.click()
    status = lambda: str(dock._status.value)  # noqa: E731
    wait(app, lambda: "Imported" in status() or "rror" in status(), "the import")
    m.done()
    said = status()
    close_viewer(viewer, app)
    if "Imported" not in said:
        raise RuntimeError(f"the import failed: {said}")
    return {
        "step": f"Annotate: Import TIFF, {size} x {size} mask, {cells} cells",
        "gap_s": m.gap_s, "wall_s": m.wall, "note": said,
    }  # fmt: skip


def step_evaluate(args, tmp: Path) -> dict:
    from napari_unet.widgets.evaluate import EvaluateWidget

    gt, pred = plane_stack(args.planes)
    viewer, app = new_viewer()
    truth = viewer.add_labels(gt, name="img annotations")
    guess = viewer.add_labels(pred, name="img segmentation")
    dock = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Evaluate")
    dock._ground_truth.value = truth
    dock._prediction.value = guess
    dock._per_plane.value = True
    pump(app, 0.5)
    dock.results = None
    m = Measure(app)
    m.start()
    dock._run.native.click()  # a Cancel button until the run has finished
    wait(app, lambda: dock._run.text == "Evaluate" and dock.results is not None, "the tables")
    m.done()
    columns = dock._summary.shape[1]
    close_viewer(viewer, app)
    if columns != args.planes + 1:
        raise RuntimeError(f"{columns} table columns, not {args.planes + 1}")
    return {
        "step": f"Evaluate: {args.planes} planes of 32 x 32, per plane, until tables shown",
        "gap_s": m.gap_s, "wall_s": m.wall, "note": f"{columns} columns",
    }  # fmt: skip


def step_review(args, tmp: Path) -> dict:
    """Runs :func:`review_child` in a fresh interpreter (torch not imported yet)."""
    folder = tmp / "review"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, __file__, "--review-child", str(folder)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the review process failed ({done.returncode}): {done.stderr[-2000:]}")
    got = json.loads(lines[-1])
    if got.get("error"):
        raise RuntimeError(got["error"])
    note = f"open() held the GUI thread {got['open_s']:.2f} s; torch before Open: {got['torch']}"
    return {
        "step": "Review: Open folder (2 small images, model auto), fresh process, until shown",
        "gap_s": got["gap_s"], "wall_s": got["wall_s"], "note": note,
    }  # fmt: skip


def review_child(folder: Path) -> None:
    """The ``review`` step, in this fresh process: prints one JSON line."""
    from qtpy.QtWidgets import QApplication  # noqa: F401  (napari's Qt first)

    from napari_unet import nuclei_data
    from napari_unet.core.images.io import write_image
    from napari_unet.widgets.review import ReviewWidget

    image, labels = nuclei_data()
    images, labels_in = folder / "images", folder / "labels"
    images.mkdir()
    labels_in.mkdir()
    for name, flip in (("a", False), ("b", True)):
        write_image(images / f"{name}.tif", image[:, ::-1] if flip else image)
        write_image(labels_in / f"{name}_labels.tif", labels[:, ::-1] if flip else labels)
    viewer, app = new_viewer()
    dock = ReviewWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Review")
    dock._form.images.value, dock._form.labels_folder.value = images, labels_in
    dock._form.output.value = folder / "out"
    if dock._form.model.value != dock._form.model.choices[0]:
        dock._form.model.value = dock._form.model.choices[0]  # auto, the default
    pump(app, 0.5)
    torch = "torch" in sys.modules
    m = Measure(app)
    m.start()
    t0 = time.perf_counter()
    opened = dock.open()
    open_s = time.perf_counter() - t0
    error = None
    if not opened:
        error = f"Review did not open: {dock._status.value}"
    else:
        try:
            wait(app, lambda: dock._shown is not None and dock._shown == dock.current_name,
                 "the first image", 600)  # fmt: skip
        except TimeoutError as e:
            error = f"{e}: {dock._status.value}"
    m.done()
    print(json.dumps({
        "gap_s": m.gap_s, "wall_s": m.wall, "open_s": open_s, "torch": torch, "error": error,
    }), flush=True)  # fmt: skip
    os._exit(0)  # the read-ahead thread is not waited for


def step_predict(args, tmp: Path) -> dict:
    import zarr
    from tiny_model import train_tiny

    from napari_unet.widgets._view_box import camera, canvas_size
    from napari_unet.widgets.predict import VIEW, PredictWidget

    side = args.slide
    store = tmp / "slide.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    group.create_array("0", data=tiled_image(side), chunks=(1024, 1024))
    group.attrs.update({"multiscales": [{
        "version": "0.4",
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0]}]}],
    }]})  # fmt: skip
    model, metadata = train_tiny("same", steps=150)
    viewer, app = new_viewer()
    [layer] = viewer.open(str(store), plugin="napari-unet")
    if not layer.multiscale:
        raise RuntimeError("the reader did not open the slide lazily (multiscale)")
    dock = PredictWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Predict")
    dock.set_model(model, metadata, name="tiny")
    dock._image.value = layer
    dock._scope.value = VIEW
    viewer.window._qt_window.resize(1280, 1024)  # the canvas as big as the screen lets it
    pump(app, 0.5)
    cw, ch = canvas_size(viewer)
    camera(viewer).center = (side / 2, side / 2)
    camera(viewer).zoom = math.sqrt(cw * ch / (800 * 600))  # about 800 x 600 image pixels
    pump(app, 1.0)
    before = set(map(id, viewer.layers))
    m = Measure(app)
    m.start()
    dock._run.native.click()
    wait(app, lambda: dock._worker is None and dock._run.enabled, "the prediction")
    m.done()
    made = [ly for ly in viewer.layers if id(ly) not in before and type(ly).__name__ == "Labels"]
    if not made:
        raise RuntimeError(f"Predict showed no result: {dock._status.value}")
    data = made[0].data
    shape = tuple((data[0] if made[0].multiscale else data).shape)
    pixels = int(np.prod(shape))
    close_viewer(viewer, app)
    return {
        "step": f"Predict: current view (800 x 600 px worth) of a {side} x {side} OME-Zarr slide, "
        "tiny model, until shown",
        "gap_s": m.gap_s, "wall_s": m.wall,
        "note": f"result layer {' x '.join(map(str, shape))} px ({pixels / 1e6:.1f} Mpx); "
        f"canvas {cw} x {ch}",
    }  # fmt: skip


# -- output -----------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    lines = ["| step | longest GUI gap (s) | wall (s) | note |", "|---|---:|---:|---|"]
    for r in rows:
        gap = "n/a" if not math.isfinite(r["gap_s"]) else f"{r['gap_s']:.3f}"
        wall = "n/a" if not math.isfinite(r["wall_s"]) else f"{r['wall_s']:.2f}"
        lines.append(f"| {r['step']} | {gap} | {wall} | {r['note']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Run under a display or a virtual X server: "
        "OMP_NUM_THREADS=1 xvfb-run -a python benchmarks/dock_freezes.py",
    )
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--size", type=int, default=4096, help="annotate: mask side (default 4096)")
    p.add_argument("--planes", type=int, default=2000, help="evaluate: planes (default 2000)")
    p.add_argument("--slide", type=int, default=16384, help="predict: slide side (default 16384)")
    p.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    p.add_argument("--review-child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.review_child is not None:
        review_child(args.review_child)
        return 0

    import torch  # noqa: F401  (imported before the steps: a step measures the dock)

    runs = {
        "annotate": step_annotate, "evaluate": step_evaluate,
        "review": step_review, "predict": step_predict,
    }  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="napari-unet-dock-freezes-") as tmp:
        for name in STEPS:
            if name not in args.steps:
                continue
            folder = Path(tmp) / name
            folder.mkdir()
            try:
                row = runs[name](args, folder)
            except Exception as e:  # noqa: BLE001  (an older version may lack what a step uses)
                traceback.print_exc()
                why = f"{type(e).__name__}: {e}".replace("|", "/").replace("\n", " ")[:300]
                row = {"step": name, "gap_s": math.nan, "wall_s": math.nan,
                       "note": f"could not run: {why}"}  # fmt: skip
            print(
                f"[{name}] gap {row['gap_s']:.3f} s, wall {row['wall_s']:.2f} s; {row['note']}",
                file=sys.stderr, flush=True,
            )  # fmt: skip
            rows.append(row)
    print(table(rows))
    if args.json is not None:
        import napari

        args.json.write_text(
            json.dumps(
                {
                    "date": date.today().isoformat(), "napari": napari.__version__,
                    "size": args.size, "planes": args.planes, "slide": args.slide,
                    "rows": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                              for k, v in r.items()} for r in rows],
                },
                indent=1,
            ),
            encoding="utf-8",
        )  # fmt: skip
    return 1 if any(not math.isfinite(r["gap_s"]) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
