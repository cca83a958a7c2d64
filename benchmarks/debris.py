"""How bright debris (dust, aggregates, a saturated dead cell) harms the built-in model.

Percentile normalisation maps each plane's 99.8th percentile to the top of the range. When
small, very bright specks cover more than 0.2% of a plane, that percentile lies in them,
and the nuclei are squeezed into the bottom of the range. Here each DSB2018 fluorescence
validation image of ``dsb_full.split`` (test images are not used) gets specks of 4 x 5 px
at random places (seeded), covering a share of its pixels (``--shares``), at a multiple of
its own 99.8th percentile (``--gains``), and is segmented by the built-in ``nuclei`` model
with everything by default (``--clip 0``: without the clip of normalised values at 1.5).
Prints AP50 pooled, the recall of the nuclei at IoU 0.5 (the
specks themselves, found as objects, are false positives but do not lower it) and the
false positives.

    python benchmarks/debris.py --data DSB2018_FULL [--shares 0 0.002 0.005] [--gains 5 20]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

SPECK = (4, 5)
#: The clip of normalised values at prediction (``--clip``: the model file's default, 1.5;
#: 0 turns it off), as ``"clip"`` in the normalisation spec.


def with_debris(image: np.ndarray, share: float, gain: float, seed: int) -> np.ndarray:
    """``image`` (grey) with specks covering ``share`` of it at ``gain`` x its 99.8th pct."""
    rng = np.random.default_rng(seed)
    out = image.astype(np.float32)
    h, w = out.shape
    top = float(np.percentile(out, 99.8)) * gain
    for _ in range(max(1, round(share * h * w / (SPECK[0] * SPECK[1])))):
        y, x = rng.integers(0, h - SPECK[0]), rng.integers(0, w - SPECK[1])
        out[y : y + SPECK[0], x : x + SPECK[1]] = top
    return out


def main(argv=None) -> int:
    """Print the table."""
    from napari_unet import evaluate, pretrained, segment, summarize

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--shares", nargs="+", type=float, default=[0.0, 0.002, 0.005, 0.01])
    p.add_argument("--gains", nargs="+", type=float, default=[5.0, 20.0])
    p.add_argument("--clip", type=float, default=None, help="0: off (default: the model's)")
    args = p.parse_args(argv)
    model, meta = pretrained("nuclei")
    model.eval()
    if args.clip is not None:
        meta = {**meta, "normalization": {**meta["normalization"], "clip": args.clip}}
    items = dsb_full.split(args.data, kinds=("fluo",))["val"]
    loaded = []
    for item in items:
        image, truth = dsb_full.load(args.data, item)
        loaded.append((image[..., 0] if image.ndim == 3 else image, truth))
    print(f"{len(items)} DSB2018 fluorescence validation images, built-in nuclei model")
    print()
    print(f"clip: {'the default' if args.clip is None else args.clip}")
    print()
    print("| specks (share of pixels) | brightness (x 99.8th pct) | AP50 | recall | FP |")
    print("|---:|---:|---:|---:|---:|")
    for share in args.shares:
        for gain in args.gains if share else [1.0]:
            evaluations = []
            for k, (image, truth) in enumerate(loaded):
                x = with_debris(image, share, gain, k) if share else image
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    evaluations.append(evaluate(truth, segment(model, x, metadata=meta)))
            t = summarize(evaluations)["per_threshold"][0]
            recall = t["tp"] / max(t["tp"] + t["fn"], 1)
            shown = f"{gain:g}" if share else "-"
            print(f"| {share:g} | {shown} | {t['ap']:.3f} | {recall:.3f} | {t['fp']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
