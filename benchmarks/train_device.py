"""Training crops on the host (numpy/scipy) against crops on the device (torch), issue 21.

Run ``python benchmarks/train_device.py`` (about 5 minutes on 2 CPU cores; ``--device cuda``
on a GPU). Data: the full DSB2018 set (``../shared/data/dsb2018_full`` beside the
repository, or ``--data``); only rows of its train split are used. It prints two Markdown
tables, both paths measured in the same run:

1. Sampling and augmentation alone: images/s of ``CropSampler.batch`` (host) and
   ``DeviceCropSampler.batch`` (device) at the training batch and crop size, with the
   default augmentation (crops, elastic deformation, flips, rotations, intensity jitter),
   and the statistics of their crops (mean and standard error over ``--stat-batches``
   batches of the mean weight, the cell fraction of the target, the image mean and std):
   both paths should draw crops from the same distribution.
2. Whole training steps: images/s of ``napari_unet.iter_train`` with ``augment_on`` host
   and device (the batch threads as the trainer chooses them; timed after a few warm-up
   steps), and the training loss after ``--steps`` steps (mean of the last 10 steps) with
   the same seeds, data and settings (``--seeds K`` runs each path K times, seeds 0..K-1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import dsb_full  # noqa: E402

DATA = Path(os.environ.get("NAPARI_UNET_DATA", REPO / ".." / "shared" / "data")) / "dsb2018_full"
WARMUP = 5


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sampler_rates(pairs, config, device, batches: int, stat_batches: int) -> tuple[dict, dict]:
    """Images/s (median batch time) of each sampler at the config's batch and crop size,
    and the statistics of its crops (:func:`crop_statistics`)."""
    from napari_unet.core.training.augment import AugmentConfig
    from napari_unet.core.training.device_sampling import DeviceCropSampler
    from napari_unet.core.training.sampling import CropSampler

    augment = AugmentConfig.from_dict(config.augment)
    s, b = config.crop_size, config.batch_size
    samplers = {
        "host": CropSampler(pairs, s, s, augment, config.fg_bias),
        "device": DeviceCropSampler(pairs, s, s, augment, config.fg_bias, device=device),
    }
    rates, stats = {}, {}
    for name, sampler in samplers.items():
        for p in range(len(pairs)):  # first use: spline coefficients / upload, not timed
            if name == "host":
                pairs[p].coeffs  # noqa: B018
            else:
                sampler.store(p)
        times = []
        for i in range(batches + 1):
            t = time.perf_counter()
            sampler.batch(b, np.random.default_rng([1, i]))
            sync(device)
            times.append(time.perf_counter() - t)
        rates[name] = b / statistics.median(times[1:])
        stats[name] = crop_statistics(sampler, b, stat_batches)
    return rates, stats


def crop_statistics(sampler, batch_size: int, batches: int) -> np.ndarray:
    """Mean and standard error over batches of: weight, cell fraction, image mean and std."""
    rows = []
    for i in range(batches):
        batch = sampler.batch(batch_size, np.random.default_rng([2, i]))
        b = {k: np.asarray(v.cpu() if hasattr(v, "cpu") else v) for k, v in batch.items()}
        image = b["image"]
        rows.append([b["weights"].mean(), (b["target"] > 0).mean(), image.mean(), image.std()])
    rows = np.array(rows)
    return np.stack([rows.mean(axis=0), rows.std(axis=0) / np.sqrt(len(rows))])


def training_run(pairs, config) -> dict:
    """Images/s of whole steps after the warm-up, and the loss after ``config.steps``."""
    from napari_unet import TrainStep, iter_train

    stamps: dict[int, float] = {}
    losses = []
    gen = iter_train(pairs, config)
    try:
        while True:
            event = next(gen)
            if isinstance(event, TrainStep):
                stamps[event.step] = time.perf_counter()
                losses.append(event.loss)
    except StopIteration as stop:
        result = stop.value
    n = config.steps - WARMUP
    rate = n * config.batch_size / (stamps[config.steps] - stamps[WARMUP])
    assert result.steps_done == config.steps
    return {"rate": rate, "loss": float(np.mean(losses[-10:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--images", type=int, default=24, help="train rows used")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batches", type=int, default=6, help="batches timed per sampler")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU")
    parser.add_argument("--stat-batches", type=int, default=40, help="batches for statistics")
    parser.add_argument("--model", default="small", help="architecture preset")
    parser.add_argument("--seeds", type=int, default=1, help="training runs per path")
    parser.add_argument("--sampling-only", action="store_true", help="skip the training runs")
    args = parser.parse_args()
    if not (args.data / "index.csv").exists():
        sys.exit(f"no DSB2018 full set at {args.data} (see --data)")
    import torch

    from napari_unet import TrainConfig
    from napari_unet.core.device import choose_device, describe_device

    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    base = TrainConfig(
        steps=args.steps, batch_size=args.batch, crop_size=args.crop, lr=1e-3, val_every=10**6,
        device=args.device, event_interval=0.0, seed=0, model=args.model,
    )  # fmt: skip
    items = dsb_full.split(args.data, kinds=("fluo",))["train"][: args.images]
    pairs = dsb_full.make_pairs_of(args.data, items, base)
    print(f"{describe_device(device)}, torch threads {torch.get_num_threads()}, "
          f"{len(pairs)} DSB2018 train images, batch {args.batch} of {args.crop} px\n")  # fmt: skip
    rates, stats = sampler_rates(pairs, base, device, args.batches, args.stat_batches)
    print("| Sampling + augmentation | images/s | vs host | weight | cell fraction | image mean "
          "| image std |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rate in rates.items():
        m, se = stats[name]
        cols = " | ".join(f"{a:.3f} ± {e:.3f}" for a, e in zip(m, se, strict=True))
        print(f"| {name} | {rate:.1f} | {rate / rates['host']:.2f}x | {cols} |")
    if args.sampling_only:
        return
    seeds = "seed 0" if args.seeds == 1 else f"seeds 0-{args.seeds - 1}"
    print(f"\n| Whole training steps ({args.model} U-Net, {args.steps} steps, {seeds}) "
          "| images/s | vs host | loss, last 10 steps |")  # fmt: skip
    print("|---|---:|---:|---:|")
    runs = {}
    for place in ("host", "device"):
        runs[place] = []
        for seed in range(args.seeds):
            config = TrainConfig.from_dict({**base.to_dict(), "augment_on": place, "seed": seed})
            runs[place].append(training_run(pairs, config))
    host_rate = np.mean([r["rate"] for r in runs["host"]])
    for place, rs in runs.items():
        rate = np.mean([r["rate"] for r in rs])
        losses = ", ".join(f"{r['loss']:.4f}" for r in rs)
        mean = f" (mean {np.mean([r['loss'] for r in rs]):.4f})" if len(rs) > 1 else ""
        print(f"| {place} | {rate:.1f} | {rate / host_rate:.2f}x | {losses}{mean} |")


if __name__ == "__main__":
    main()
