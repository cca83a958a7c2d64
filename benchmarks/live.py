"""Live training against annotate-then-train-once, with a simulated annotator, in real time.

The starting model is the built-in ``nuclei`` model (fluorescence; it never saw histology:
AP50 about 0.01 on the histology test images). A simulated annotator paints the ground-truth
nuclei of one histology *training* image of ``dsb2018_full`` (the one with the most nuclei,
a fixed rule) one at a time, one every ``--pace`` seconds, always the nucleus the current
prediction gets most wrong (the lowest IoU with any predicted object; ties by size). Two
runs with the same objects and the same total time:

- **live**: :class:`napari_unet.core.live.trainer.LiveTrainer` trains from the first stroke
  on, and the annotator's choice follows its latest prediction of the image;
- **once**: the annotator paints the same nuclei in the same order at the same pace, then
  the same trainer trains on all of them for the rest of the time.

Snapshots of the model are taken every ``--every`` seconds and scored afterwards (so scoring
takes no time from training) on the 18 histology test images: AP50 pooled. The table gives
each run's curve and when live first reaches the final AP50 of "once".

``--gui`` instead measures the Live dock in a real viewer (under ``xvfb-run`` when there is no
display) on a 1024 x 1024 brightfield training image: strokes replayed one cell per
``--pace`` seconds while live training runs; it prints the GUI thread's gaps (p50, p99, max),
the time from a stroke to the trainer using it, and the time to predict the 1024 x 1024 view.

Usage::

    python benchmarks/live.py --data SHARED_DATA/dsb2018_full [--objects 20] [--pace 3]
    python benchmarks/live.py --data SHARED_DATA/dsb2018_full --gui
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402


def iou_table(truth: np.ndarray, predicted: np.ndarray) -> dict[int, float]:
    """Best IoU of each ground-truth object with any predicted object (0: none overlaps)."""
    from napari_unet.core.metrics.matching import instance_ious

    best = {int(i): 0.0 for i in np.unique(truth) if i}
    for gt_id, _, iou in zip(*instance_ious(truth, predicted), strict=True):
        best[int(gt_id)] = max(best[int(gt_id)], float(iou))
    return best


def paint(trainer, truth: np.ndarray, obj: int, new_id: int) -> None:
    """The annotator paints ``obj`` of ``truth`` as cell ``new_id`` (one update)."""
    from napari_unet.core.live.data import RING

    sl = ndi.find_objects((truth == obj).astype(np.uint8))[0]
    h, w = truth.shape
    y0, y1 = max(0, sl[0].start - RING - 2), min(h, sl[0].stop + RING + 2)
    x0, x1 = max(0, sl[1].start - RING - 2), min(w, sl[1].stop + RING + 2)
    patch = trainer.data.labels[y0:y1, x0:x1].copy()
    patch[truth[y0:y1, x0:x1] == obj] = new_id
    trainer.update((y0, y1, x0, x1), patch)


def run(args, mode: str, model, meta, raw, truth, order=None) -> list[tuple[float, object]]:
    """One run; ``(seconds, model snapshot)`` every ``args.every`` seconds.

    ``order``: the objects to paint, in order (the live run's choices, for "once"); the
    live run appends its choices to it.
    """
    from napari_unet.core.live.trainer import LiveConfig, LiveTrainer

    h, w = truth.shape
    views = []
    config = LiveConfig(lr=args.lr) if args.lr else LiveConfig()
    trainer = LiveTrainer(model, meta, raw, config, on_view=views.append)
    trainer.request_view((0, h, 0, w))
    while not views:
        time.sleep(0.02)
    if mode == "once":
        trainer.pause()
    done: list[int] = [] if order is None else order
    snaps, t0 = [], time.monotonic()
    try:
        _annotate(args, mode, trainer, truth, views, done, snaps, t0)
    finally:
        trainer.stop()
    return snaps


def _annotate(args, mode, trainer, truth, views, done, snaps, t0) -> None:
    h, w = truth.shape
    painted, next_snap = 0, 0.0
    while True:
        now = time.monotonic() - t0
        if now >= next_snap:
            snaps.append((round(next_snap), trainer.snapshot()))
            next_snap += args.every
            if next_snap > args.total + 1e-6:
                break
        if painted < args.objects and now >= painted * args.pace:
            if mode == "live":  # the nucleus the current prediction gets most wrong
                trainer.request_view((0, h, 0, w), force=True)
                ious = iou_table(truth, views[-1].labels)
                obj = min((i for i in ious if i not in done), key=lambda i: ious[i])
                done.append(obj)
            else:  # the same nuclei, in the same order
                obj = done[painted]
            paint(trainer, truth, obj, painted + 1)
            painted += 1
            if mode == "once" and painted == args.objects:
                trainer.resume()  # train once, on everything, for the rest of the time
        time.sleep(0.02)


def score(model, meta, data: Path, items) -> float:
    """Pooled AP50 of ``model`` on ``items``."""
    return dsb_full.score_items(model, meta, data, items)["ap50"]


def compare(args) -> None:
    import torch

    from napari_unet import pretrained
    from napari_unet.core.training.pairs import checked_image

    torch.manual_seed(0)
    parts = dsb_full.split(args.data, kinds=("histo",), extra_val=0)
    with open(args.data / "index.csv", newline="") as f:
        counts = {r["name"]: int(r["n_nuclei"]) for r in csv.DictReader(f)}
    item = max(parts["train"], key=lambda r: counts[r.name])  # the most nuclei: a fixed rule
    test = parts["test"]
    image, truth = dsb_full.load(args.data, item)
    model, meta = pretrained("nuclei")
    raw = checked_image(image, truth.shape, item.name, int(model.in_channels), None)
    print(f"annotated: {item.name} ({counts[item.name]} nuclei); scored: {len(test)} test images")
    curves, order = {}, []
    for mode in ("live", "once"):
        snaps = run(args, mode, model, meta, raw, truth, order)
        curves[mode] = [(t, score(m, meta, args.data, test)) for t, m in snaps]
        print(mode, curves[mode], flush=True)
    final = curves["once"][-1][1]
    reach = next((t for t, ap in curves["live"] if ap >= final), None)
    print()
    print("| seconds | live AP50 | once AP50 |")
    print("|---:|---:|---:|")
    for (t, a), (_, b) in zip(curves["live"], curves["once"], strict=True):
        print(f"| {t} | {a:.3f} | {b:.3f} |")
    print()
    when = "never" if reach is None else f"{reach} s"
    print(
        f"once's final AP50 {final:.3f} at {args.total:g} s; live reaches it at {when} "
        f"(target: {args.total / 2:g} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the dsb2018_full folder")
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--pace", type=float, default=3.0, help="seconds per painted object")
    parser.add_argument("--total", type=float, default=120.0, help="seconds of each run")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between snapshots")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (LiveConfig's)")
    parser.add_argument("--gui", action="store_true", help="measure the Live dock instead")
    args = parser.parse_args()
    if args.gui:
        if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
            cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
            return subprocess.call(cmd)
        from live_gui import measure  # noqa: PLC0415 (benchmarks/live_gui.py)

        measure(args)
        return 0
    compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
