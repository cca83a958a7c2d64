"""Speed of this checkout against another revision, measured in one run (A/B).

Run ``python benchmarks/revisions.py REV`` (for example the commit before a refactor). It
checks REV out into a temporary git worktree, then times the same user-level operations with
each revision's code, in fresh interpreters, interleaved (A B A B ...), and prints a Markdown
table of the best time of each and their ratio. The operations use the built-in nuclei model
and synthetic touching cells on 2 CPU threads:

* ``segment``: prediction + post-processing of a 1024 x 1024 image (the Predict dock's work);
* ``segment_dask``: the same for a 2048 x 2048 dask array in 1024 px chunks;
* ``predict``: probabilities of a 2048 x 2048 image;
* ``weights``: the target and weight map of 2048 x 2048 labels with about 1,500 cells;
* ``train``: 30 optimisation steps of the small U-Net (4 x 128 px crops, no validation);
* ``load``: loading a model file of the paper's network (31 million parameters, 124 MB);
* ``read``: reading a 4096 x 4096 uint16 TIFF (32 MB, zlib).

Revisions before the public API (``import napari_unet as nu``) are reached through their old
module paths. Shared machines vary two-fold from run to run: compare ratios, not times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = ("segment", "segment_dask", "predict", "weights", "train", "load", "read")

#: Runs in a fresh interpreter with one revision's ``src`` first on the path.
PROBE = r"""
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(2)
case = sys.argv[1]
try:
    import napari_unet as nu
    api = {n: getattr(nu, n) for n in ("pretrained", "segment", "predict", "touching_cells",
                                       "target_and_weights", "make_pairs", "train", "TrainConfig")}
except AttributeError:  # before the public API
    from napari_unet import pretrained
    from napari_unet.core.data import make_pairs
    from napari_unet.core.postprocess import segment
    from napari_unet.core.predict import predict
    from napari_unet.core.synthetic import touching_cells
    from napari_unet.core.train import TrainConfig, train_model
    from napari_unet.core.weightmap import target_and_weights
    api = dict(pretrained=pretrained, segment=segment, predict=predict,
               touching_cells=touching_cells, target_and_weights=target_and_weights,
               make_pairs=make_pairs, train=train_model, TrainConfig=TrainConfig)
model, meta = api["pretrained"]("nuclei")
if case == "segment":
    image, _ = api["touching_cells"]((1024, 1024), n_cells=400, seed=0)
    run = lambda: api["segment"](model, image, metadata=meta, device="cpu")
elif case == "segment_dask":
    import dask.array as da
    image, _ = api["touching_cells"]((2048, 2048), n_cells=1500, seed=0)
    image = da.from_array(image, chunks=1024)
    run = lambda: api["segment"](model, image, metadata=meta, device="cpu")
elif case == "predict":
    image, _ = api["touching_cells"]((2048, 2048), n_cells=1500, seed=0)
    run = lambda: api["predict"](model, image, metadata=meta, device="cpu")
elif case == "weights":
    _, labels = api["touching_cells"]((2048, 2048), n_cells=1500, seed=0)
    run = lambda: api["target_and_weights"](labels)
elif case == "load":
    import tempfile
    from napari_unet.core.models import UNet
    try:
        from napari_unet import load_model, save_model
    except ImportError:
        from napari_unet.core.modelfile import load_model, save_model
    path = tempfile.mkdtemp() + "/paper.safetensors"
    save_model(path, UNet())
    run = lambda: load_model(path)
elif case == "read":
    import tempfile
    import tifffile
    try:
        from napari_unet import read_image
    except ImportError:
        from napari_unet.core.io import read_image
    path = tempfile.mkdtemp() + "/big.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.integers(0, 4000, (4096, 4096), dtype=np.uint16), compression="zlib")
    run = lambda: read_image(path)
else:
    image, labels = api["touching_cells"]((256, 256), n_cells=40, seed=0)
    pairs = api["make_pairs"]([image], [labels])
    config = api["TrainConfig"](model="small", steps=30, batch_size=4, crop_size=128,
                                device="cpu", val_every=10**6, seed=0)
    run = lambda: api["train"](pairs, config, val=[])
run()  # warm-up: imports, allocations, caches
t0 = time.perf_counter()
run()
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def measure(src: Path, case: str) -> float | None:
    """Seconds of one case with the code in ``src`` (a fresh interpreter), or None."""
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, case], capture_output=True, text=True, env=env, cwd=src
    )
    if proc.returncode != 0:
        print(f"{src} {case}: failed\n{proc.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rev", help="the revision to compare this checkout with (A = REV, B = this)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs; the best is kept")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    old = tmp / "old"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), args.rev], cwd=REPO,
                   check=True, capture_output=True)  # fmt: skip
    try:
        sides = {"A": old / "src", "B": REPO / "src"}
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.repeats):
            for case in args.cases:
                for side, src in sides.items():
                    t = measure(src, case)
                    if t is not None:
                        best[case, side] = min(best.get((case, side), t), t)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    print(f"| operation | A: {args.rev} (s) | B: {head} + changes (s) | B / A |")
    print("|---|---|---|---|")
    for case in args.cases:
        a, b = best.get((case, "A")), best.get((case, "B"))
        ratio = f"{b / a:.2f}" if a and b else "-"
        print(f"| {case} | {a or float('nan'):.2f} | {b or float('nan'):.2f} | {ratio} |")


if __name__ == "__main__":
    main()
