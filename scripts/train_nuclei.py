"""Train a nuclei model on the full DSB2018 set: the recipe of the built-in models.

Trains on the train rows of ``dsb2018_full`` of the chosen kinds (its fixed split; the
validation images of :func:`dsb_full.split` are held out of training), keeps the checkpoint
with the best validation AP50, chooses the post-processing on the validation images (DSB
score), then scores the test images of every kind, the 19 that were held out of the older
82-image subset among them. Test images are never trained or tuned on.

Usage::

    python scripts/train_nuclei.py --data DSB2018_FULL --head distance --minutes 45 \\
        --work WORKDIR [--output src/napari_unet/data/nuclei.unet.safetensors]

``--minutes`` fits the number of steps to the budget on this machine (trials of 5 and 30
steps measure the set-up and a step, so the learning-rate schedule runs to its end);
``--steps`` sets it. ``--init MODEL`` fine-tunes a model; with a ``--head`` other than its
own, every layer but the output layer starts from it. The
model file is written to WORKDIR, and to ``--output`` when given (the package file), with its
provenance (recipe, split, device, steps) and its validation and test scores.

Candidates: the checkpoint with the best validation AP50 during training (raw
post-processing), the last one, and the ``--init`` model the run started from. Each gets its
post-processing chosen on the validation images (``--post-grid wide`` searches higher
thresholds and minimum sizes) and the one with the better validation DSB score is kept, so a
fine-tune that does not beat its start model gives the start model back. ``--finalize`` does
this choice again on a finished run in WORKDIR without training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dsb_full  # noqa: E402


def parse(argv=None) -> argparse.Namespace:
    """The recipe's settings."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--kinds", nargs="+", default=["fluo"], choices=sorted(dsb_full.KINDS))
    p.add_argument(
        "--head", choices=("paper", "3class", "distance"),
        help="the network's head (default: distance; with --init, the init's own head)",
    )  # fmt: skip
    p.add_argument(
        "--extra-val", type=int, default=12, help="train images of each kind moved to validation"
    )
    p.add_argument("--w0", type=float, default=10.0)
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--minutes", type=float, help="training budget (sets the steps)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--zoom", type=float, default=0.0)
    p.add_argument("--val-every", type=int, default=0, help="0: a tenth of the steps")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision", default="auto", help="auto (fp16 on CUDA, else fp32), fp32, fp16, bf16"
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--init",
        help="fine-tune this model file or built-in model (with another --head: every layer "
        "but the output layer)",
    )  # fmt: skip
    p.add_argument(
        "--inverted-fluo", type=int, default=0, metavar="N",
        help="also train on N fluorescence train images with their contrast inverted",
    )  # fmt: skip
    p.add_argument(
        "--colour", action="store_true",
        help="a colour network (RGB input; grey images as grey RGB); a grey --init is widened",
    )  # fmt: skip
    p.add_argument(
        "--robust", action="store_true",
        help="train with a worse microscope's blur, shading and noise, and choose on the "
        "validation images plus their degraded copies (dsb_full.DEGRADATIONS)",
    )  # fmt: skip
    p.add_argument(
        "--augment-set", nargs="+", default=[], metavar="KEY=VALUE",
        help="augmentation settings over the recipe's (AugmentConfig fields, e.g. shading=1.5 "
        "blur=0; after --robust's)",
    )  # fmt: skip
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--output", type=Path, help="also write the model here (the package file)")
    p.add_argument(
        "--post-grid", default="narrow", choices=("narrow", "wide"),
        help="post-processing grid searched on the validation images",
    )  # fmt: skip
    p.add_argument(
        "--finalize", action="store_true",
        help="no training: choose, score and write the model of a finished run in --work",
    )  # fmt: skip
    return p.parse_args(argv)


def config_of(args, steps: int):
    """The training settings of the recipe."""
    from napari_unet import TrainConfig
    from napari_unet.core.training.augment import AugmentConfig

    model = {
        "arch": "unet", "base_channels": args.base_channels, "depth": args.depth,
        "padding": "same", "batch_norm": True,
    }  # fmt: skip
    if args.init is None:  # fine-tuning keeps the start model's head (see start_model)
        model["head"] = args.head or "distance"
    return TrainConfig(
        model=model, steps=steps, batch_size=args.batch_size, crop_size=args.crop_size,
        lr=args.lr, w0=args.w0, val_every=args.val_every or max(steps // 10, 1),
        augment=AugmentConfig(**augment_settings(args)).to_dict(),
        device=args.device, seed=args.seed,
        precision=args.precision,
    )  # fmt: skip


def augment_settings(args) -> dict:
    """The run's augmentation: the zoom, ``--robust``'s settings, then ``--augment-set``.

    Each value is read as its setting's type (``elastic_grid=4`` an integer, ``flips=false``
    a truth value); an unknown setting is refused by name.
    """
    from dataclasses import fields

    from napari_unet.core.training.augment import ROBUST, AugmentConfig

    types = {f.name: f.type for f in fields(AugmentConfig)}
    settings = {"scale": args.zoom, **(ROBUST if args.robust else {})}
    for item in args.augment_set:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise SystemExit(f"--augment-set {item}: give KEY=VALUE, KEY one of {sorted(types)}")
        kind = types[key]
        if kind in (bool, "bool"):
            settings[key] = value.lower() in ("1", "true", "yes")
        else:
            settings[key] = int(value) if kind in (int, "int") else float(value)
    AugmentConfig.from_dict(settings)  # refuses values out of range, by name
    return settings


def fit_steps(pairs, val, config, minutes: float, init=None) -> int:
    """The steps that fit ``minutes`` of training here (validation included), by two trials.

    A run's set-up (targets and weight maps of every image, the first steps' warm-up) is paid
    once: runs of 5 and of 30 steps tell it apart from the cost of a step, so the budget is
    neither overrun nor left unused (one 30-step trial put a 75-minute fine-tune at 53).
    """
    from napari_unet import train
    from napari_unet.core.device import choose_device
    from napari_unet.core.training.validation import evaluate_pairs

    def trial(steps: int):
        # A given rate: the automatic one would score the start model on every training
        # image first (minutes for a fine-tune of hundreds), which is no part of a step's cost.
        start = time.perf_counter()
        run = replace(config, steps=steps, val_every=1000, lr=config.lr or 1e-3)
        return train(pairs, run, init=init).model, time.perf_counter() - start

    _, short = trial(5)
    model, long = trial(30)
    per_step = max(long - short, 1e-3) / 25
    fixed = max(short - 5 * per_step, 0.0)
    start = time.perf_counter()
    evaluate_pairs(model, val, config.normalization, choose_device(config.device))
    per_eval = time.perf_counter() - start
    return max(10, int((minutes * 60 - fixed - 10 * per_eval) / per_step))


#: Options whose values are paths of this machine: recorded as placeholders.
PATH_OPTIONS = {"--data": "DSB2018_FULL", "--work": "WORKDIR", "--output": "OUTPUT"}


def recipe_line(argv) -> str:
    """The command line of the run, with no path of this machine in it.

    ``--init`` keeps a built-in model's name; a model file becomes ``INIT_MODEL``.
    """
    from napari_unet.core.models.pretrained import is_pretrained_name

    words, previous = [], None
    for word in argv:
        if previous in PATH_OPTIONS:
            words.append(PATH_OPTIONS[previous])
        elif previous == "--init" and not is_pretrained_name(word):
            words.append("INIT_MODEL")
        else:
            words.append(word)
        previous = word
    return " ".join(["scripts/train_nuclei.py", *words])


def start_model(args):
    """The ``--init`` model as the run's start: widened to colour, given another head.

    ``--colour`` widens a grey model: its first convolution is split over R, G, B, so it
    computes on grey RGB what the grey model computes on the grey image, and on colour nearly
    what it computes on the mean colour (the channels are normalised one by one); fine-tuning
    starts from the grey model's skill and can learn colour. A ``--head`` other than the
    model's own keeps every layer but the output layer, which starts afresh, so a new head
    starts from the features the model has learnt. Returns ``args.init`` when neither applies.
    """
    from napari_unet import load_model, save_model
    from napari_unet.core.models import build_model
    from napari_unet.core.models.heads import head_of
    from napari_unet.core.models.pretrained import resolve_model

    if args.init is None:
        return None
    model, meta = load_model(resolve_model(args.init))
    colour = args.colour and model.in_channels != 3
    rehead = args.head is not None and args.head != head_of(model)
    if not (colour or rehead):
        return args.init
    config = {**model.config, "in_channels": 3 if args.colour else model.in_channels}
    if rehead:
        config = {k: v for k, v in config.items() if k != "n_classes"} | {"head": args.head}
    start = build_model(config)
    state, fresh = model.state_dict(), start.state_dict()
    if colour:
        (first,) = [k for k, t in state.items() if t.ndim == 4 and t.shape[1] == 1]
        state[first] = state[first].repeat(1, 3, 1, 1) / 3
    start.load_state_dict({
        k: t if t.shape == fresh[k].shape else fresh[k] for k, t in state.items()
    })
    kept = ("normalization", "object_size", "separation_gap")
    if not rehead:
        kept += ("class_names", "postprocess")
    kept = {k: meta[k] for k in kept if k in meta}
    return save_model(args.work / "start.safetensors", start, **kept)


def trained(args, argv, parts) -> tuple[list, dict, dict]:
    """Train (or, with ``--finalize``, read the finished run): candidates, metadata, run facts."""
    import torch

    from napari_unet import load_model, train

    facts_path = args.work / "train.json"
    if args.finalize:
        best, _ = load_model(args.work / "nuclei.best.safetensors")
        last, meta = load_model(args.work / "nuclei.safetensors")
        meta.pop("training", None)  # the resume state (loss history): not for the package
        facts = json.loads(facts_path.read_text()) if facts_path.exists() else {}
        return [("best validation AP50", best), ("last", last)], meta, facts
    if args.threads:
        torch.set_num_threads(args.threads)
    config = config_of(args, args.steps)
    channels = 3 if args.colour else 1
    pairs = dsb_full.make_pairs_of(args.data, parts["train"], config, channels)
    if parts.get("inverted_fluo"):
        pairs += dsb_full.make_pairs_of(
            args.data, parts["inverted_fluo"], config, channels, invert=True
        )
    val = dsb_full.make_pairs_of(args.data, parts["val"], config, channels, robust=args.robust)
    init = start_model(args)
    if args.minutes:
        config = config_of(args, fit_steps(pairs, val, config, args.minutes, init))
    print(f"training {config.steps} steps on {len(pairs)} images", flush=True)
    start = time.perf_counter()
    result = train(pairs, config, val=val, init=init, output=args.work / "nuclei.safetensors")
    facts = {
        "recipe": recipe_line(sys.argv[1:] if argv is None else argv),
        "steps": config.steps,
        "train_minutes": round((time.perf_counter() - start) / 60, 1),
    }
    facts_path.write_text(json.dumps(facts))
    candidates = [("best validation AP50", result.best_model()), ("last", result.model)]
    return candidates, dict(result.metadata), facts


def chosen(args, candidates, meta, parts) -> tuple:
    """The candidate with the best validation DSB score after its post-processing choice."""
    val = [dsb_full.load(args.data, item) for item in parts["val"]]
    if args.robust:
        val = dsb_full.degraded_copies(val)
    if args.init:
        from napari_unet import load_model
        from napari_unet.core.models.pretrained import resolve_model

        start, _ = load_model(resolve_model(args.init))
        candidates = [*candidates, ("start model", start)]
    images, truths = [im for im, _ in val], [lab for _, lab in val]
    wide = args.post_grid == "wide"
    best = None
    for name, model in candidates:
        model = model.eval()
        post, key = dsb_full.choose_post(model, meta, images, truths, wide, args.device)
        print(f"{name}: validation DSB {key[0]:.3f}, AP50 {key[1]:.3f} with {post}", flush=True)
        if best is None or key > best[3]:
            best = (name, model, post, key)
    return best


def main(argv=None) -> int:
    """Train, choose the checkpoint and the post-processing, score, write the model file."""
    from napari_unet import save_model

    args = parse(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    parts = dsb_full.split(args.data, kinds=tuple(args.kinds), extra_val=args.extra_val)
    if args.inverted_fluo:  # fluorescence train rows, evenly spaced: never a val or test row
        fluo = dsb_full.split(args.data, kinds=("fluo",), extra_val=0)["train"]
        step = max(1, len(fluo) // args.inverted_fluo)
        parts["inverted_fluo"] = fluo[step // 2 :: step][: args.inverted_fluo]
    candidates, meta, facts = trained(args, argv, parts)
    name, model, post, key = chosen(args, candidates, meta, parts)
    if name == "start model":
        print("no checkpoint beat the start model on the validation images: nothing written")
        return 0
    meta["postprocess"] = post
    test = {}
    for kind in ("fluo", "histo", "brightfield"):
        items = dsb_full.split(args.data, kinds=(kind,))["test"]
        test[kind] = dsb_full.score_items(model, meta, args.data, items, device=args.device)
    held_out = [i for i in parts["test"] if i.subset]
    if held_out:
        test["held_out_19"] = dsb_full.score_items(
            model, meta, args.data, held_out, device=args.device
        )
    validation = {"checkpoint": name, "dsb": key[0], "ap50": key[1], "post_grid": args.post_grid}
    meta["metrics"] = {**meta.get("metrics", {}), "validation": validation, "test": test}
    recipe = [facts.get("recipe")]
    if args.finalize:
        recipe.append(recipe_line(sys.argv[1:] if argv is None else argv))
    meta["provenance"] = {
        **meta["provenance"],
        "recipe": "; then ".join(r for r in recipe if r),
        "data_source": "DSB2018 stage1_train (dsb2018_full, fixed split), CC0",
        "split": {k: [i.name for i in v] for k, v in parts.items()},
        "train_minutes": facts.get("train_minutes"),
    }
    path = save_model(args.work / "nuclei.final.safetensors", model, **meta)
    if args.output is not None:
        path = save_model(args.output, model, **meta)
    summary = {"steps": facts.get("steps"), "validation": validation, "post": post, **test}
    print(json.dumps(summary, indent=1))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
