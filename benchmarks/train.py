"""Training benchmarks: trainer overhead, GUI responsiveness, annotate-to-model curve.

Run ``python benchmarks/train.py`` (about 3-5 minutes on 2 CPU cores). It prints Markdown
tables:

1. Throughput: steps/s and images/s of ``napari_unet.iter_train`` (real DSB2018 data,
   augmentation, weight maps, the batch-prefetch thread) against a bare PyTorch loop on
   the same network, batch and crop size fed with ready-made tensors.
2. GUI-thread gaps while the Train dock trains in a real napari viewer (a 10 ms QTimer;
   p50 / p99 / max). Needs a display; without one the script re-runs itself under
   ``xvfb-run``.
3. Annotate-to-model: validation AP50 against wall time when fine-tuning on ONE DSB2018
   image (from a model pre-trained on synthetic cells) and when training from scratch.

Options: ``--sweep`` adds the optimiser / learning-rate comparison behind the defaults;
``--screenshot PNG`` saves a picture of the Train dock mid-training (docs/images);
``--quick`` shortens every part. Data: ``../shared/data`` beside the repository or
``$NAPARI_UNET_DATA``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NAPARI_UNET_DATA", REPO / ".." / "shared" / "data"))
TRAIN_IMAGE = "003_1c681dfa5cf7"  # 66 nuclei, 29 touching
VAL_IMAGES = [
    "000_00071198d059",
    "005_2bf594e9d06f",
    "008_44ab6a09eede",
    "011_61a15ccbfebb",
    "014_88d5a03f8ecd",
]


def load_dsb(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A DSB2018 fluorescence image as grey float32 and its instance mask."""
    import tifffile
    from PIL import Image

    img = np.asarray(Image.open(DATA / "dsb2018" / "images" / f"{name}.png"))[..., :3]
    return img.mean(axis=-1).astype(np.float32), tifffile.imread(
        DATA / "dsb2018" / "masks" / f"{name}.tif"
    ).astype(np.int32)


def pairs_for(names, config):
    from napari_unet import make_pairs

    data = [load_dsb(n) for n in names]
    return make_pairs(
        [d[0] for d in data], [d[1] for d in data], names=list(names), **config.pair_options()
    )


# -- 1. throughput -----------------------------------------------------------------------
def bare_loop(config, steps: int) -> float:
    """Steps per second (median step time) of a plain PyTorch loop on ready-made tensors."""
    import torch

    from napari_unet import build_model
    from napari_unet.core.training.losses import weighted_cross_entropy

    torch.manual_seed(0)
    model = build_model({**config.model, "in_channels": 1}).train()
    s = model.geometry.nearest_legal(config.crop_size)
    o = model.geometry.output_size(s)
    opt = torch.optim.Adam(model.parameters(), lr=config.base_lr)
    x = torch.randn(config.batch_size, 1, s, s)
    t = torch.randint(0, 2, (config.batch_size, o, o))
    w = torch.rand(config.batch_size, o, o)
    stamps = []
    for _ in range(steps + 2):
        loss = weighted_cross_entropy(model(x), t, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stamps.append(time.perf_counter())
    return 1.0 / float(np.median(np.diff(stamps[1:])))


def trainer_loop(config, pairs, steps: int) -> float:
    """Steps per second (median step time, after warm-up) of our trainer, no validation."""
    from dataclasses import replace

    from napari_unet import TrainStep, drain, iter_train

    cfg = replace(config, steps=steps + 2, event_interval=0.0, val_every=10**6)
    stamps = []
    drain(
        iter_train(pairs, cfg, val=[]),
        lambda ev: isinstance(ev, TrainStep) and stamps.append(time.perf_counter()),
    )
    return 1.0 / float(np.median(np.diff(stamps[1:])))


def throughput(quick: bool) -> str:
    from dataclasses import replace

    from napari_unet import TrainConfig

    steps = 10 if quick else 30
    rows = [
        "| network | batch x crop | loop | steps/s | images/s | vs bare |",
        "|---|---|---|---|---|---|",
    ]
    for preset in ("tiny", "small"):
        config = TrainConfig(model=preset, batch_size=4, crop_size=128, device="cpu")
        pairs = pairs_for([TRAIN_IMAGE], config)
        results = []
        for _ in range(2):  # alternate, keep the best of two (shared machine noise)
            results.append(("bare", bare_loop(config, steps)))
            results.append(("ours", trainer_loop(config, pairs, steps)))
            results.append(
                ("ours, no prefetch", trainer_loop(replace(config, prefetch=0), pairs, steps))
            )
        best = {}
        for name, v in results:
            best[name] = max(best.get(name, 0), v)
        for name in ("bare", "ours", "ours, no prefetch"):
            v = best[name]
            rows.append(
                f"| {preset} | 4 x 128 | {name} | {v:.2f} | {4 * v:.1f} | "
                f"{100 * (best['bare'] / v - 1):+.0f}% |"
            )
    return "\n".join(rows)


# -- 2. GUI gaps -------------------------------------------------------------------------
def gui_gaps(quick: bool, screenshot: Path | None = None) -> str:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_unet.widgets.train import TrainWidget

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from gui_meter import GapMeter  # the instrument lives with the tests that also use it

    img, lab = load_dsb(TRAIN_IMAGE)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.add_image(img, name="nuclei", colormap="gray")
    viewer.add_labels(lab, name="nuclei labels", opacity=0.35)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train", area="right")
    widget._preset.value = "small"
    widget._start_from.value = "scratch (architecture below)"
    widget._steps.value = 40 if quick else 150
    widget._val_every.value = 10 if quick else 25
    widget._device.value = "cpu"
    widget._save_path.value = Path(tempfile.mkdtemp()) / "bench.safetensors"
    app = QApplication.instance()
    app.processEvents()
    viewer.reset_view()  # fitted to the canvas the dock left
    meter = GapMeter()
    widget._start.native.click()
    meter.start()  # from the moment the click has handed the work to the worker
    viewer.layers["nuclei labels"].visible = False  # the picture shows the live preview
    shot_taken = False
    t0 = time.perf_counter()
    while widget._result is None or not widget._start.enabled:
        app.processEvents()
        time.sleep(0.002)
        if screenshot and not shot_taken and len(widget.plot.eval_steps) >= (2 if quick else 4):
            meter.stop()  # the screenshot's pause is not training's
            time.sleep(1.0)  # let the plot thread render the last evaluation
            for _ in range(50):
                app.processEvents()
            bar = widget._scroll.verticalScrollBar()
            bar.setValue(bar.maximum())  # the curves are at the bottom of the dock
            app.processEvents()
            viewer.screenshot(str(screenshot), canvas_only=False)
            shot_taken = True
            meter.resume()
        if time.perf_counter() - t0 > 900:
            widget._on_stop()
    meter.stop()
    g = meter.percentiles()
    steps = widget._result.steps_done
    viewer.close()
    return (
        "| steps | ticks | p50 gap (ms) | p99 gap (ms) | max gap (ms) |\n|---|---|---|---|---|\n"
        f"| {steps} | {g['n']} | {g['p50']:.1f} | {g['p99']:.1f} | {g['max']:.0f} |"
    )


# -- 3. annotate-to-model ----------------------------------------------------------------
def curve(config, pairs, val, init=None) -> list[tuple[float, int, float, float]]:
    from napari_unet import Evaluation, TrainStarted, iter_train
    from napari_unet.core.training.validation import evaluate_pairs

    points = []
    t0 = time.perf_counter()
    eval_time = 0.0
    if init is not None:  # the starting point: the pre-trained model before fine-tuning
        from napari_unet import load_model

        m = evaluate_pairs(load_model(init)[0], val, config.normalization, "cpu")
        points.append((0.0, 0, m["ap50"], m["pixel_iou"]))
    t_eval = time.perf_counter()
    for ev in iter_train(pairs, config, val=val, init=init):
        if isinstance(ev, TrainStarted):
            t0 = time.perf_counter()
        if isinstance(ev, Evaluation):
            # wall time of training only: evaluation time is the benchmark's, not the user's
            eval_time += time.perf_counter() - t_eval
            elapsed = time.perf_counter() - t0 - eval_time
            points.append((elapsed, ev.step, ev.metrics["ap50"], ev.metrics["pixel_iou"]))
        t_eval = time.perf_counter()
    return points


def annotate_to_model(quick: bool) -> str:
    from dataclasses import replace

    from napari_unet import TrainConfig, make_pairs, touching_cells, train

    steps = 60 if quick else 200
    base_cfg = TrainConfig(
        model="small", steps=steps, batch_size=4, crop_size=128, device="cpu", val_every=10**6
    )
    synth = [touching_cells((256, 256), n_cells=40, seed=s) for s in range(3)]
    spairs = make_pairs([s[0] for s in synth], [s[1] for s in synth], **base_cfg.pair_options())
    base = Path(tempfile.mkdtemp()) / "synthetic.safetensors"
    train(spairs, base_cfg, val=[], output=base)
    cfg = replace(base_cfg, val_every=max(steps // 8, 5))
    pairs = pairs_for([TRAIN_IMAGE], cfg)
    val = pairs_for(VAL_IMAGES, cfg)
    fine = curve(cfg, pairs, val, init=base)
    scratch = curve(cfg, pairs, val)
    rows = [
        "| step | fine-tune: time (s) | AP50 | pixel IoU | scratch: time (s) | AP50 | pixel IoU |",
        "|---|---|---|---|---|---|---|",
    ]
    by_step = {p[1]: p for p in scratch}
    for t, step, ap, iou in fine:
        s = by_step.get(step)
        right = f"{s[0]:.1f} | {s[2]:.3f} | {s[3]:.3f}" if s else "- | - | -"
        rows.append(f"| {step} | {t:.1f} | {ap:.3f} | {iou:.3f} | {right} |")
    return "\n".join(rows)


# -- sweep (behind the defaults) ---------------------------------------------------------
def sweep(quick: bool, skip: int = 0) -> str:
    from dataclasses import replace

    from napari_unet import TrainConfig, train

    steps = 100 if quick else 300
    base = TrainConfig(
        model="small", steps=steps, batch_size=4, crop_size=128, device="cpu", val_every=steps // 3
    )
    pairs = pairs_for([TRAIN_IMAGE, "017_a022908f1b78"], base)
    val = pairs_for(VAL_IMAGES, base)
    settings = [
        ("adam", 1e-3, "cosine"),
        ("sgd", 1e-2, "cosine"),
        ("adam", 3e-3, "cosine"),
        ("sgd", 1e-3, "cosine"),
        ("adam", 3e-4, "cosine"),
        ("adam", 1e-3, "constant"),
    ]
    if skip:
        settings = settings[skip:]
    rows = [
        "| optimiser | lr | schedule | AP50 at steps | final pixel IoU | time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for opt, lr, sched in settings:
        t0 = time.perf_counter()
        r = train(pairs, replace(base, optimizer=opt, lr=lr, schedule=sched), val=val)
        aps = " / ".join(f"{h['ap50']:.2f}" for h in r.history["val"])
        print(f"  {opt} {lr:g} {sched}: AP50 {aps}", file=sys.stderr, flush=True)
        rows.append(
            f"| {opt}{' (momentum 0.99)' if opt == 'sgd' else ''} | {lr:g} | {sched} | "
            f"{aps} | {r.history['val'][-1]['pixel_iou']:.3f} | "
            f"{time.perf_counter() - t0:.0f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--sweep", action="store_true", help="optimiser / lr comparison")
    parser.add_argument("--screenshot", type=Path, help="save the Train dock mid-training")
    parser.add_argument("--only", choices=["throughput", "gui", "curve", "sweep"])
    args = parser.parse_args()
    if not (DATA / "dsb2018").exists():
        print(f"shared data not found in {DATA}; set NAPARI_UNET_DATA", file=sys.stderr)
        return 2
    wants_gui = args.only in (None, "gui") or args.screenshot
    if wants_gui and not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
        return subprocess.call(cmd)
    import torch

    print(
        f"# Training benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU)\n"
    )
    parts = {
        "throughput": ("Throughput: our trainer vs a bare PyTorch loop", throughput),
        "gui": (
            "GUI-thread gaps while the Train dock trains (10 ms timer)",
            lambda q: gui_gaps(q, args.screenshot),
        ),
        "curve": (
            "Annotate-to-model: one DSB2018 image, validation on five others",
            annotate_to_model,
        ),
        "sweep": ("Optimiser and learning rate (small U-Net, two DSB2018 images)", sweep),
    }
    names = [args.only] if args.only else ["throughput", "gui", "curve"]
    if args.sweep and "sweep" not in names:
        names.append("sweep")
    for name in names:
        title, fn = parts[name]
        t0 = time.perf_counter()
        table = fn(args.quick)
        print(f"## {title}\n\n{table}\n\n({time.perf_counter() - t0:.0f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
