"""Forward throughput of the U-Net family on this machine's CPU (or a GPU with --device).

For each architecture at its default width: parameters, FLOPs per output pixel (counted by
torch.utils.flop_counter on the real module code, 2 FLOPs per multiply-add) and the
forward speed in megapixels of output per second (median of --repeats timed runs after
one warm-up, batch 1, fp32, no_grad, eval mode). Prints a Markdown table.

    python benchmarks/models.py                 # about 2-4 min on 2 CPU cores
    python benchmarks/models.py --tile 256 --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from napari_unet import build_model
from napari_unet.core.device import choose_device, describe_device

CONFIGS = [
    ("U-Net (paper, valid)", {"arch": "unet", "padding": "valid"}),
    ("U-Net (same, BN)", {"arch": "unet", "padding": "same", "batch_norm": True}),
    ("U-Net (same, base 32)", {"arch": "unet", "padding": "same", "base_channels": 32}),
    ("UNet++", {"arch": "unetpp"}),
    ("UNet++ pruned L2", {"arch": "unetpp", "deep_supervision": True, "inference_output": 2}),
    ("UNet 3+", {"arch": "unet3p"}),
]


def flops_per_pass(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass, counted on the meta device (no arithmetic is done)."""
    with torch.device("meta"):
        meta_model = build_model(model.config).eval()
        x = torch.empty(shape)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            meta_model(x)
    return counter.get_total_flops()


def bench(name: str, config: dict, tile: int, repeats: int, device: torch.device) -> dict:
    model = build_model(config).eval().to(device)
    g = model.geometry
    size = g.nearest_legal(tile + 2 * g.halo) if g.padding == "valid" else g.nearest_legal(tile)
    out = g.output_size(size)
    shape = (1, model.in_channels, size, size)
    flops = flops_per_pass(model, shape)
    x = torch.rand(shape, device=device)
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first run warms up
                times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    return {
        "name": name,
        "params": sum(p.numel() for p in model.parameters()),
        "tile": f"{size} -> {out}",
        "mflop_px": flops / out**2 / 1e6,
        "seconds": t,
        "mp_s": out**2 / t / 1e6,
        "gflop_s": flops / t / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=512, help="output tile size (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except OSError:
        commit = "?"
    print(
        f"Forward throughput, batch 1, fp32, {describe_device(device)}, torch "
        f"{torch.__version__}, {platform.processor() or platform.machine()}, commit {commit}, "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC\n"
    )
    print(
        "| model | parameters | tile in -> out (px) | MFLOP / output px | s / tile "
        "| MP/s (output) | GFLOP/s |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, config in CONFIGS:
        r = bench(name, config, args.tile, args.repeats, device)
        print(
            f"| {r['name']} | {r['params']:,} | {r['tile']} | {r['mflop_px']:.2f} "
            f"| {r['seconds']:.2f} | {r['mp_s']:.3f} | {r['gflop_s']:.0f} |",
            flush=True,
        )
    print(
        "\nThe paper's valid U-Net needs a 92 px halo each side; its FLOPs per output pixel "
        "include that context. Same-padded networks overlap tiles instead (see docs/models.md)."
    )


if __name__ == "__main__":
    main()
