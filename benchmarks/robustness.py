"""How a model holds up on a worse microscope: noise, shot noise, blur and uneven light.

Each test image of a kind (``--kind``, default fluorescence; ``--n`` evenly spaced ones of
the sorted ``dsb2018_full`` test rows, all with ``--n 0``) is scored as it is and after each
of ``dsb_full.DEGRADATIONS`` at its fixed level (Gaussian noise of 15% of the image's range,
shot noise of 20 photons at its bright end, a blur of sigma 2 px, light rising by 1.5 times
its range along the diagonal), seeded, so every model sees the same pixels. The test images
are only scored: the models are chosen on validation images (``scripts/train_nuclei.py
--robust`` chooses on the validation images and their degraded copies).

    python benchmarks/robustness.py --data DSB2018_FULL [--models nuclei auto FILE ...] [--n 20]
        [--images test|val] [--background keep auto flatten] [--denoise auto off]
        [--conditions none shading photons5 ...]

``--images val`` scores the recipe's validation images (the split's val rows and 12 train
rows, ``dsb_full.split``) instead, where a remedy may be chosen. ``--background`` gives a
column per model and background mode (``segment(background=...)``: ``keep`` predicts the
image as it is, ``auto`` flattens an uneven dark background first, ``flatten`` always
does; the default is ``keep`` alone, the models as they are), and ``--denoise`` per mode of
few-photon smoothing (``segment(denoise=...)``: ``auto``, the default, blurs a photon-limited
image by half a pixel first; ``off`` never does). ``--conditions`` scores a subset of the
conditions (``none`` is the image as recorded), or adds the photon-limited recordings of
``dsb_full.PHOTONS`` (``photons3`` ... ``camera10``; not in the default list). The model
``auto`` chooses a built-in model for each image as the product does (``pretrained("auto",
image=...)``, on the image as the condition left it); the table then says how often it chose
each.

Prints a Markdown table: per condition and model, AP50 and the DSB score (AP averaged over
IoU 0.5..0.95), pooled over the images, and the mean over the degraded conditions.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402


def chosen_items(data: Path, kind: str, n: int) -> list:
    """``n`` evenly spaced test items of ``kind`` by name (all of them when ``n`` is 0)."""
    items = sorted(dsb_full.split(data, kinds=(kind,))["test"], key=lambda i: i.name)
    if n <= 0 or n >= len(items):
        return items
    return [items[round(i * len(items) / n)] for i in range(n)]


def score(
    model, meta, pairs, background: str = "keep", chosen=None, denoise: str = "auto"
) -> tuple[float, float]:
    """Pooled ``(AP50, DSB score)`` of ``model`` with its own post-processing on ``pairs``.

    ``model`` None: the built-in model ``auto`` chooses for each image, counted in
    ``chosen`` (name -> images).
    """
    from napari_unet import evaluate, pretrained, segment, summarize
    from napari_unet.core.models.pretrained import choose_pretrained

    evaluations = []
    for image, truth in pairs:
        net, info = model, meta
        if model is None:
            name = choose_pretrained(image)
            chosen[name] = chosen.get(name, 0) + 1
            net, info = _BUILT_IN.get(name) or _BUILT_IN.setdefault(name, pretrained(name))
            net.eval()
        with warnings.catch_warnings():  # the contrast and size warnings: not scored here
            warnings.simplefilter("ignore")
            labels = segment(net, image, metadata=info, background=background, denoise=denoise)
        evaluations.append(evaluate(truth, labels))
    s = summarize(evaluations)
    return s["per_threshold"][0]["ap"], s["ap"]


#: Built-in models loaded for ``auto``, by name.
_BUILT_IN: dict = {}


def main(argv=None) -> int:
    """Print the table."""
    import torch

    from napari_unet import load_model
    from napari_unet.core.models.pretrained import resolve_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--models", nargs="+", default=["nuclei"], help="files or built-in names")
    p.add_argument("--kind", default="fluo", choices=sorted(dsb_full.KINDS))
    p.add_argument("--n", type=int, default=20, help="test images (0: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", choices=("test", "val"), default="test")
    p.add_argument("--background", nargs="+", default=["keep"],
                   choices=("keep", "auto", "flatten"), help="background modes (columns)")
    p.add_argument("--denoise", nargs="+", default=["auto"], choices=("auto", "off"),
                   help="few-photon smoothing modes (columns)")
    p.add_argument("--conditions", nargs="+", default=["none", *dsb_full.DEGRADATIONS],
                   choices=("none", *dsb_full.DEGRADATIONS, *dsb_full.PHOTONS))  # fmt: skip
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = [(None, None) if m == "auto" else load_model(resolve_model(m)) for m in args.models]
    if args.images == "val":
        items = dsb_full.split(args.data, kinds=(args.kind,))["val"]
    else:
        items = chosen_items(args.data, args.kind, args.n)
    clean = [dsb_full.load(args.data, item) for item in items]
    print(f"{len(items)} DSB2018 {args.kind} {args.images} images; AP50 / DSB score, pooled")
    print()
    names = [Path(m).name if Path(m).suffix else m for m in args.models]
    settings = [(b, d) for b in args.background for d in args.denoise]
    modes = [mode for _ in models for mode in settings]
    models = [m for m in models for _ in settings]
    shown = [", ".join(([b] if args.background != ["keep"] else [])
                       + ([f"denoise {d}"] if args.denoise != ["auto"] else []))
             for b, d in settings]  # fmt: skip
    names = [f"{n}, {extra}" if extra else n for n in names for extra in shown]
    print("| condition | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    sums = [[0.0, 0.0] for _ in models]
    for condition in args.conditions:
        pairs = clean
        if condition != "none":
            pairs = [(dsb_full.degraded(im, condition, seed=i), gt)
                     for i, (im, gt) in enumerate(clean)]  # fmt: skip
        cells = []
        for k, (model, meta) in enumerate(models):
            chosen: dict = {}
            ap50, dsb = score(model and model.eval(), meta, pairs, modes[k][0], chosen,
                              denoise=modes[k][1])
            picks = ", ".join(f"{n} {c}" for n, c in sorted(chosen.items()))
            cells.append(f"{ap50:.3f} / {dsb:.3f}" + (f" ({picks})" if picks else ""))
            if condition != "none":
                sums[k][0] += ap50
                sums[k][1] += dsb
        print(f"| {condition} | " + " | ".join(cells) + " |", flush=True)
    n = len([c for c in args.conditions if c != "none"])
    if not n:
        return 0
    means = [f"{a / n:.3f} / {d / n:.3f}" for a, d in sums]
    print("| mean of the degraded | " + " | ".join(means) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
