"""GPU figures: tiled prediction and training speed per precision, on a CUDA device.

Prediction: a 4096 x 4096 synthetic nuclei image through ``napari_unet.predict``
(seamless tiles, automatic tile size, batch 1 and 8) for four network sizes, in fp32,
bf16 and fp16: seconds (after a warm-up on a 1024^2 image), megapixels per second, peak
GPU memory, and the largest change of the foreground probability against fp32 with the
share of pixels whose 0.5-threshold decision flips.

Training: images per second of ``napari_unet.core.training.trainer`` (batch 8, 256 px crops, 4
preparation threads, no validation) over steps 20-80 of an 80-step run, per precision.

    python benchmarks/gpu.py                 # about a minute on an H100/H200
    python benchmarks/gpu.py --json out.json

Needs a CUDA device; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from napari_unet import (
    TrainConfig,
    TrainStep,
    build_model,
    iter_train,
    make_pairs,
    predict,
    touching_cells,
)
from napari_unet.core.device import describe_device
from napari_unet.core.inference.runner import auto_tile

NETS = {
    "small (16, 4 levels)": {"base_channels": 16, "depth": 4},
    "wide (32, 4 levels)": {"base_channels": 32, "depth": 4},
    "standard (32, 5 levels)": {"base_channels": 32, "depth": 5},
    "paper (64, 5 levels, valid)": {"base_channels": 64, "depth": 5, "padding": "valid"},
}
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICE = torch.device("cuda")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def net_config(spec: dict) -> dict:
    """The model config of a NETS entry (batch norm with same padding; the paper has none)."""
    config = {"arch": "unet", "padding": "same", "batch_norm": True} | spec
    if config["padding"] == "valid":
        config.pop("batch_norm")
    return config


def net(spec: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(net_config(spec)).eval()


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if DEVICE.type == "cuda" else 0.0


def timed_predict(model, image, **kw) -> tuple[float, np.ndarray]:
    sync()
    t0 = time.perf_counter()
    p = predict(model, image, **kw)
    sync()
    return time.perf_counter() - t0, p


def bench_predict(size: int, nets: dict) -> list[dict]:
    image = np.tile(touching_cells((1024, 1024), n_cells=400, seed=1)[0], (size // 1024,) * 2)
    warm = image[:1024, :1024]
    rows = []
    for name, spec in nets.items():
        model = net(spec).to(DEVICE)
        ref = None
        for precision in PRECISIONS:
            for batch in (1, 8):
                kw = {"device": DEVICE, "precision": precision, "batch": batch}
                timed_predict(model, warm, **kw)
                if DEVICE.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                seconds, p = timed_predict(model, image, **kw)
                fg = p[1]
                if ref is None:
                    ref = fg
                rows.append({
                    "net": name, "precision": precision, "batch": batch,
                    "tile": auto_tile(model, DEVICE, batch, precision),
                    "seconds": seconds, "mp_s": image.size / seconds / 1e6,
                    "peak_gib": peak_gib(),
                    "max_dev": float(np.abs(fg - ref).max()),
                    "flips": float(((fg > 0.5) != (ref > 0.5)).mean()),
                })  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
        del model
        if DEVICE.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def bench_train(steps: int, nets: dict) -> list[dict]:
    images, labels = zip(*(touching_cells((512, 512), 60, seed=s) for s in range(4)), strict=True)
    pairs = make_pairs(list(images), list(labels))
    rows = []
    for name, spec in nets.items():
        for precision in PRECISIONS:
            config = TrainConfig(
                model=net_config(spec),
                steps=steps, batch_size=8, crop_size=256, device=str(DEVICE), precision=precision,
                workers=4, event_interval=0.0,
            )  # fmt: skip
            seen = [
                (ev.step, ev.elapsed_s)
                for ev in iter_train(pairs, config)
                if isinstance(ev, TrainStep) and ev.step >= 20
            ]
            (s0, t0), (s1, t1) = seen[0], seen[-1]
            rows.append({
                "net": name, "precision": precision,
                "img_s": (s1 - s0) * config.batch_size / (t1 - t0),
                "ms_step": (t1 - t0) / (s1 - s0) * 1e3,
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="image side (multiple of 1024)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # CPU check
    args = parser.parse_args()
    global DEVICE
    if args.smoke:
        DEVICE = torch.device("cpu")
    elif not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA device")
    print(f"# {describe_device(DEVICE)}; torch {torch.__version__}", flush=True)
    nets = dict(list(NETS.items())[:1]) if args.smoke else NETS
    pred = bench_predict(args.size, nets)
    tr = [] if args.skip_train else bench_train(25 if args.smoke else 80, nets)
    print(f"\n| network | precision | batch | tile | s ({args.size}^2) | MP/s | peak GiB |"
          " max dev vs fp32 | flipped px |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in pred:
        print(f"| {r['net']} | {r['precision']} | {r['batch']} | {r['tile']} | "
              f"{r['seconds']:.3f} | {r['mp_s']:.1f} | {r['peak_gib']:.2f} | "
              f"{r['max_dev']:.1e} | {r['flips']:.1e} |")  # fmt: skip
    if tr:
        print("\n| network (training, batch 8 x 256^2) | precision | images/s | ms/step |")
        print("|---|---|---|---|")
        for r in tr:
            print(f"| {r['net']} | {r['precision']} | {r['img_s']:.0f} | {r['ms_step']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"predict": pred, "train": tr}, f, indent=1)


if __name__ == "__main__":
    main()
