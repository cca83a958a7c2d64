"""CPU prediction speed: today's default path against the fast one, in one run (issue 21).

For each network and image size the same ``Predictor`` (default settings, as the Predict
dock and ``napari-unet predict`` use it: automatic tile, batch 1, fp32) predicts the image
twice per repeat, interleaved: ``old`` runs the model as it is (``predictor.fast = False``,
the path before issue 21), ``new`` its inference copy (batch norm folded, channels last);
each keeps its fastest run. A third row runs the on-device pipeline
(``predictor.on_device = True``, the GPU code path) on CPU tensors for the first size.
``old`` takes the automatic tile as it was; ``new`` today's (larger for valid networks,
whose tiles are exact; the same for same-padded ones).

Networks: the built-in ``nuclei`` model (its real weights, on the shipped nuclei image
mirrored to the size) and the paper's U-Net (64 base channels, 5 levels, valid padding,
He-initialised weights; the same image). GFLOP/s counts the FLOPs of every tile the
network computes (``torch.utils.flop_counter``, 2 per multiply-add, halos and overlaps
included) and is set against the peak of a 64 -> 64 channel 3x3 convolution on a
1 x 64 x 512 x 512 input timed in the same run, in both memory layouts. The time split
(``runner.timings``) gives the share of the network against the host work around it
(normalising and cutting tiles, stitching). ``max |diff|`` is the largest difference of any
probability from ``old``.

    python benchmarks/predict_speed.py --models nuclei --sizes 2048,4096 --repeats 2
    python benchmarks/predict_speed.py --models paper --sizes 2048 --repeats 1
    python benchmarks/predict_speed.py --device cuda    # a GPU: on-device vs numpy path

Prints a Markdown table. On a shared machine compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import flops_per_pass  # noqa: E402  (benchmarks/models.py)

from napari_unet import Predictor, build_model, drain, pretrained  # noqa: E402
from napari_unet.core.device import describe_device  # noqa: E402
from napari_unet.core.inference.runner import auto_tile, inference_network  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402


def conv_peak(device: str = "cpu", repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of a 64 -> 64 channel 3x3 convolution on 1 x 64 x 512 x 512, per layout."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(device)
    x = torch.rand(1, 64, 512, 512, device=device)
    flops = 2 * 64 * 64 * 9 * 512 * 512
    out = {}
    for name, fmt in (("default", torch.contiguous_format), ("channels_last", torch.channels_last)):
        c, xx = conv.to(memory_format=fmt), x.contiguous(memory_format=fmt)
        with torch.inference_mode():
            c(xx)
            best = min(_timed(lambda c=c, xx=xx: _sync(c(xx))) for _ in range(repeats))
        out[name] = flops / best / 1e9
    return out


def _sync(y):
    if y.device.type == "cuda":
        torch.cuda.synchronize(y.device)
    return y


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_image(size: int) -> np.ndarray:
    """The shipped nuclei image mirrored (flipped copies side by side) to ``size`` x ``size``."""
    tile, _ = nuclei_data()
    block = np.block([[tile, tile[:, ::-1]], [tile[::-1], tile[::-1, ::-1]]])
    reps = -(-size // min(block.shape))
    return np.tile(block, (reps, reps))[:size, :size].copy()


def network(name: str):
    if name == "nuclei":
        return pretrained("nuclei")
    torch.manual_seed(0)
    return build_model({"arch": "unet", "padding": "valid"}).eval(), {}


def run(model, meta, image, fast: bool, on_device: bool | None = None, device: str = "cpu"):
    """(seconds, probabilities, timings, predictor) of one prediction with default settings.

    ``old`` (not ``fast``) also takes the automatic tile as it was before issue 21 (valid
    networks now get a larger one: they tile exactly, so only the speed changes).
    """
    tile = None if fast else auto_tile(model, device, exact_budget=False)
    predictor = Predictor(model, metadata=meta, device=device, tile=tile)
    predictor.fast, predictor.on_device = fast, on_device
    timings: dict[str, float] = {}
    make_runner = predictor.runner

    def runner():
        r = make_runner()
        r.timings = timings
        return r

    predictor.runner = runner
    start = time.perf_counter()
    probs = drain(predictor.iter_probabilities(image))
    return time.perf_counter() - start, probs, timings, predictor


def bench(name: str, size: int, repeats: int, with_device: bool, device: str) -> list[dict]:
    model, meta = network(name)
    image = make_image(size)
    cases = {"old": (False, None), "new": (True, None)}
    if with_device and device == "cpu":
        cases["new, on-device pipeline (CPU tensors)"] = (True, True)
    elif device != "cpu":  # the on-device pipeline is the default there: the numpy path too
        cases["new, numpy path around the network"] = (True, False)
    best: dict[str, tuple] = {}
    start = time.perf_counter()
    inference_network(model.to(device), torch.device(device))  # the one-off copy, cached
    copy_s = time.perf_counter() - start
    for fast, on_device in cases.values():  # warm-up: oneDNN kernels, first allocations
        run(model, meta, image[:256, :256], fast, on_device, device)
    for _ in range(max(1, repeats)):
        for case, (fast, on_device) in cases.items():
            result = run(model, meta, image, fast, on_device, device)
            if case not in best or result[0] < best[case][0]:
                best[case] = result
    rows, ref = [], best["old"][1]
    for case, (seconds, probs, timings, predictor) in best.items():
        plans = predictor.plans(image.shape)
        tile = (1, model.in_channels, plans[0].tile_in, plans[1].tile_in)
        total = flops_per_pass(model, tile) * len(plans[0].tiles()) * len(plans[1].tiles())
        net = timings.get("network", 0.0)
        rows.append(
            {
                "network": name,
                "size": size,
                "case": case,
                "tile": plans[0].tile_in,
                "seconds": seconds,
                "ratio": best["old"][0] / seconds,
                "mp_s": size * size / seconds / 1e6,
                "gflop_s": total / seconds / 1e9,
                "network_share": net / seconds,
                "diff": float(np.abs(probs - ref).max()),
                "copy_s": copy_s,
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="nuclei,paper", help="nuclei and/or paper")
    p.add_argument("--sizes", default="2048,4096")
    p.add_argument("--repeats", type=int, default=2, help="interleaved runs; fastest kept")
    p.add_argument("--big-repeats", type=int, default=1, help="repeats above 2048 px")
    p.add_argument("--pipeline", default="nuclei", help="networks with the on-device row")
    p.add_argument("--device", default="cpu", help="cpu or cuda (GPU: unmeasured so far)")
    args = p.parse_args()
    try:  # a device machine may have no git, or a copy of the tree without .git
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    peak = conv_peak(args.device)
    rows = []
    for name in args.models.split(","):
        for k, size in enumerate(int(s) for s in args.sizes.split(",")):
            repeats = args.repeats if size <= 2048 else args.big_repeats
            pipeline = k == 0 and name in args.pipeline.split(",")
            rows += bench(name, size, repeats, pipeline, args.device)
            print(f"done {name} {size}", file=sys.stderr, flush=True)
    again = conv_peak(args.device)  # again after the predictions: the best of both
    peak = {k: max(v, again[k]) for k, v in peak.items()}
    top = max(peak.values())
    print(
        f"\n{describe_device(args.device)}, torch {torch.__version__}, commit {commit}, "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. 3x3 conv peak (64 -> 64 ch, "
        f"512 x 512): {peak['default']:.0f} GFLOP/s default layout, "
        f"{peak['channels_last']:.0f} GFLOP/s channels last.\n"
    )
    print("| network | size | path | tile | s | vs old | MP/s | GFLOP/s | of conv peak "
          "| network share | max abs diff |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['network']} | {r['size']} | {r['case']} | {r['tile']} | {r['seconds']:.2f} "
            f"| {r['ratio']:.2f}x | {r['mp_s']:.3f} | {r['gflop_s']:.0f} "
            f"| {r['gflop_s'] / top:.0%} | {r['network_share']:.0%} | {r['diff']:.1e} |"
        )
    copies = sorted({(r["network"], round(r["copy_s"], 2)) for r in rows})
    print("\nOne-off inference copy (fold + channels last, before the first prediction): "
          + ", ".join(f"{n} {s:.2f} s" for n, s in copies))  # fmt: skip


if __name__ == "__main__":
    main()
