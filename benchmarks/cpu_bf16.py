"""bf16 on a CPU with bf16 matrix units (Intel AMX): speed and agreement with fp32.

Each built-in model predicts validation images of its own kind (taken from the *train* rows of
``dsb2018_full`` the way ``scripts/train_nuclei.py`` takes them; no test image is used) in
fp32 and in bf16 (``Predictor(precision="bf16")``: torch autocast, oneDNN's bf16 kernels).
Prints, per model: network seconds in each precision (best of ``--repeats``, interleaved),
the largest probability difference, pooled AP50 and DSB score of each against the ground
truth, and the AP50 of the bf16 instances scored against the fp32 instances (1.0: the same
objects). A second table times training steps (batch 4 of 128 px and 8 of 256 px crops) in
both precisions.

    python benchmarks/cpu_bf16.py --data SHARED_DATA/dsb2018_full

On a CPU without AMX bf16 falls back to fp32 with a warning, and the script says so.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

MODELS = {"nuclei": ("fluo",), "nuclei-brightfield": ("histo", "brightfield")}


def predict_table(args) -> None:
    """Per built-in model: fp32 against bf16 on its kind's validation images."""
    from napari_unet import Predictor, pretrained
    from napari_unet.core.inference.domain import DomainWarning
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.progress import drain

    print(
        "| model | images | fp32 s | bf16 s | speed-up | max prob diff | AP50 fp32 | AP50 bf16 "
        "| DSB fp32 | DSB bf16 | bf16 vs fp32 AP50 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, kinds in MODELS.items():
        model, meta = pretrained(name)
        items = dsb_full.split(args.data, kinds=kinds, extra_val=args.images)["val"]
        items = items[: args.images * len(kinds)]
        post = Postprocess.for_model(meta)
        runs = {p: Predictor(model, metadata=meta, device="cpu", precision=p)
                for p in ("fp32", "bf16")}  # fmt: skip
        best = {p: {} for p in runs}  # fastest seconds per image and precision
        labels = {p: [] for p in runs}
        truths, worst = [], 0.0
        for item in items:
            image, truth = dsb_full.load(args.data, item)
            truths.append(truth)
            probs = {}
            for _ in range(args.repeats):
                for p, predictor in runs.items():
                    start = time.perf_counter()
                    probs[p] = drain(predictor.iter_probabilities(image))
                    took = time.perf_counter() - start
                    best[p][item.name] = min(best[p].get(item.name, np.inf), took)
            worst = max(worst, float(np.abs(probs["fp32"] - probs["bf16"]).max()))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DomainWarning)
                for p, predictor in runs.items():
                    labels[p].append(np.asarray(predictor.instances(probs[p], post)))
        times = {p: sum(best[p].values()) for p in runs}
        score = {p: dsb_full.scores(truths, labels[p]) for p in runs}
        ap50 = {p: score[p]["ap50"] for p in runs}
        dsb = {p: score[p]["dsb"] for p in runs}
        agree = dsb_full.scores(labels["fp32"], labels["bf16"])["ap50"]
        cells = [
            name, len(items), f"{times['fp32']:.2f}", f"{times['bf16']:.2f}",
            f"{times['fp32'] / times['bf16']:.2f}x", f"{worst:.1e}",
            f"{ap50['fp32']:.3f}", f"{ap50['bf16']:.3f}", f"{dsb['fp32']:.3f}",
            f"{dsb['bf16']:.3f}", f"{agree:.3f}",
        ]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def train_table(args) -> None:
    """Seconds per training step of the built-in architecture, fp32 against bf16 autocast."""
    import torch

    from napari_unet import pretrained
    from napari_unet.core.device import autocast_dtype
    from napari_unet.core.training.losses import head_loss

    print()
    print("| training step | fp32 s | bf16 s | speed-up |")
    print("|---|---:|---:|---:|")
    for batch, side in ((4, 128), (8, 256)):
        best = {}
        for precision in ("fp32", "bf16"):
            model, _ = pretrained("nuclei")
            model.train()
            opt = torch.optim.Adam(model.parameters(), 1e-4)
            dtype = autocast_dtype("cpu", precision)
            x = torch.rand(batch, 1, side, side)
            tgt = torch.randint(0, 2, (batch, side, side))
            w = torch.ones(batch, side, side)
            times = []
            for _ in range(args.steps):
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                    out = model(x)
                loss = head_loss(out, tgt, w, None, 0.0, "paper")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - start)
            best[precision] = float(np.median(times[2:]))
        print(
            f"| batch {batch} of {side} px | {best['fp32']:.3f} | {best['bf16']:.3f} | "
            f"{best['fp32'] / best['bf16']:.2f}x |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the dsb2018_full folder")
    parser.add_argument("--images", type=int, default=8, help="validation images per kind")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12, help="training steps timed per case")
    args = parser.parse_args()
    import torch

    from napari_unet.core.device import cpu_has_fast_bf16, describe_device

    units = "yes" if cpu_has_fast_bf16() else "no (bf16 runs as fp32)"
    print(f"torch {torch.__version__}, {describe_device('cpu')}, bf16 matrix units: {units}")
    print()
    predict_table(args)
    train_table(args)


if __name__ == "__main__":
    main()
