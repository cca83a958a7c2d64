"""Benchmark seamless tiled prediction: throughput, peak memory, deviation from untiled.

Prints a Markdown table. Each measurement runs in a fresh subprocess so its peak resident
memory (ru_maxrss) is its own. Cases, on synthetic touching cells (a 1024x1024 image
mirrored to the requested size):

* padded ("same") U-Net: (a) whole image untiled (when it fits in memory), (b) our tiled
  predictor with default settings, (c) MONAI's ``sliding_window_inference`` at its defaults
  (overlap 0.25, constant blending) with a 512x512 window, on the same network;
* valid U-Net: (a) untiled, (b) ours, with the computed-input / output pixel ratio;
* 8192x8192 (unless ``--quick``): ours in memory and through dask into a Zarr store.

The networks (1 -> 2 classes, ``--base`` channels, ``--depth`` levels) get a short training
on synthetic cells first so their outputs look like a real model's. Timings on a shared
machine are noisy: with ``--repeats N`` the cases run interleaved N times (untiled, ours,
MONAI, untiled, ...) and each keeps its fastest run, so a burst of load elsewhere does not
land on one case only; compare the ratios within one run.

Usage: ``python benchmarks/predict.py [--size 4096] [--base 16] [--depth 4] [--quick]
[--repeats 1]``
(MONAI: ``pip install monai``, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_image(size: int) -> np.ndarray:
    from napari_unet import touching_cells

    tile, _ = touching_cells((1024, 1024), n_cells=500, seed=0)
    block = np.block([[tile, tile[:, ::-1]], [tile[::-1], tile[::-1, ::-1]]])
    reps = -(-size // 2048)
    return np.tile(block, (reps, reps))[:size, :size].copy()


def train(padding: str, base: int, depth: int, path: Path, steps: int) -> None:
    import torch

    from napari_unet import save_model, touching_cells
    from napari_unet.core.images.normalize import normalize
    from napari_unet.core.models import UNet

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_model import separated_target

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = UNet(1, 2, base_channels=base, depth=depth, padding=padding)
    g = model.geometry
    tile = g.legal_sizes(128, 128 + g.divisor)[0]
    out = g.output_size(tile)
    image, labels = touching_cells((384, 384), n_cells=120, seed=1)
    x_all = np.pad(normalize(image), (tile - out) // 2, mode="reflect")
    y_all = separated_target(labels)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        r, c = rng.integers(0, 384 - out, 2)
        x = torch.from_numpy(x_all[None, None, r : r + tile, c : c + tile].astype(np.float32))
        y = torch.from_numpy(y_all[None, r : r + out, c : c + out])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_model(path, model.eval())


def measure(args) -> dict:
    """One case, in this (fresh) process."""
    import torch

    from napari_unet import Predictor, load_model, predict
    from napari_unet.core.images.normalize import compute_stats
    from napari_unet.core.inference import tiling

    torch.set_num_threads(os.cpu_count() or 1)
    model, meta = load_model(args.model)
    image = make_image(args.size)
    start = time.perf_counter()
    extra = {}
    if args.case == "untiled":
        probs = predict(model, image, metadata=meta, tile=1 << 20, device="cpu")
    elif args.case == "ours":
        probs = predict(model, image, metadata=meta, device="cpu")
        plans = Predictor(model, metadata=meta, device="cpu").plans(image.shape)
        extra = {"tile": plans[0].tile_in, "ratio": tiling.computed_ratio(plans)}
    elif args.case == "dask":
        import dask.array as da

        from napari_unet import predict_to_zarr

        with tempfile.TemporaryDirectory() as tmp:
            src = da.from_array(image, chunks=1024)
            del image
            out = predict_to_zarr(model, src, Path(tmp) / "p.zarr", metadata=meta, device="cpu")
            probs = np.asarray(out[1, ::8, ::8])
    else:  # monai
        from monai.inferers import sliding_window_inference

        x = compute_stats(image[None]).apply(image[None])[None]
        with torch.inference_mode():
            logits = sliding_window_inference(
                torch.from_numpy(x), roi_size=(512, 512), sw_batch_size=1, predictor=model
            )
            probs = torch.softmax(logits, 1)[0].numpy()
    seconds = time.perf_counter() - start
    if args.case != "dask":
        np.save(args.save, probs[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (kB on Linux)
    return {"seconds": seconds, "mpx_s": args.size**2 / 1e6 / seconds, "peak_gib": peak, **extra}


def run_case(model: Path, case: str, size: int, save: Path) -> dict | None:
    cmd = [sys.executable, __file__, "--measure", case, "--model", str(model)]
    cmd += ["--size", str(size), "--save", str(save)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{case} {size}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--base", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--train-steps", type=int, default=40)
    p.add_argument("--quick", action="store_true", help="skip the 8192x8192 runs")
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs; fastest kept")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    p.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        args.case = args.measure
        print(json.dumps(measure(args)))
        return
    import psutil
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for padding in ("same", "valid"):
            model = tmp / f"{padding}.safetensors"
            train(padding, args.base, args.depth, model, args.train_steps)
            # Untiled needs ~35 bytes per pixel per base channel: skip it if it cannot fit.
            fits = 35 * args.base * args.size**2 < 0.6 * psutil.virtual_memory().available
            cases = (["untiled"] if fits else []) + ["ours"] + (["monai"] * (padding == "same"))
            results = {}
            for _ in range(max(args.repeats, 1)):
                for case in cases:
                    r = run_case(model, case, args.size, tmp / f"{padding}-{case}.npy")
                    best = results.get(case)
                    if r is not None and (best is None or r["seconds"] < best["seconds"]):
                        results[case] = r
                    elif r is None:
                        results.setdefault(case, None)
            ref = np.load(tmp / f"{padding}-untiled.npy") if results.get("untiled") else None
            for case, r in results.items():
                if r is None:
                    continue
                dev = "n/a"
                if ref is not None and case != "untiled":
                    dev = f"{np.abs(np.load(tmp / f'{padding}-{case}.npy') - ref).max():.1e}"
                speed = ""
                if results.get("untiled") and case != "untiled":
                    speed = f" ({r['mpx_s'] / results['untiled']['mpx_s']:.2f}x untiled)"
                rows.append(
                    (padding, case, args.size, f"{r['mpx_s']:.3f}{speed}", f"{r['peak_gib']:.2f}",
                     dev, r.get("tile", ""), f"{r['ratio']:.2f}" if "ratio" in r else "")
                )  # fmt: skip
            if padding == "same" and not args.quick:
                for case in ("ours", "dask"):
                    r = run_case(model, case, 8192, tmp / "big.npy")
                    if r:
                        rows.append(
                            (padding, case, 8192, f"{r['mpx_s']:.3f}", f"{r['peak_gib']:.2f}",
                             "", r.get("tile", ""), "")
                        )  # fmt: skip
    print(f"\nU-Net base {args.base}, depth {args.depth}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CPU fp32\n")  # fmt: skip
    head = ("network", "method", "size", "MP/s", "peak GiB", "max dev. vs untiled", "tile")
    print("| " + " | ".join(head) + " | computed/output |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
