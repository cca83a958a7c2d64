"""``napari-unet predict``: segment TIFF/PNG files, folders and Zarr stores with a model file."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from napari_unet.core.errors import InputError


def add_parser(subparsers) -> None:
    """Register the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="segment images with a trained model (seamless tiles, any size)",
        description=(
            "Predict instance labels (and optionally class probabilities) for TIFF/PNG files, "
            "folders of them and Zarr stores, by seamless tiled prediction. Writes "
            "NAME_labels.tif (NAME_labels.zarr for Zarr input) into OUTDIR; never overwrites "
            "an input."
        ),
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="model file (.safetensors), or a built-in model name: nuclei",
    )
    parser.add_argument(
        "inputs", type=Path, nargs="+", metavar="INPUT", help="image files, folders or .zarr"
    )
    parser.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    parser.add_argument("--tile", type=int, default=None, help="input tile size (default: auto)")
    parser.add_argument("--batch", type=int, default=None, help="tiles per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--precision", default="fp32", choices=("fp32", "fp16", "bf16"), help="CUDA autocast"
    )
    parser.add_argument(
        "--probabilities", action="store_true", help="also write the class probabilities"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="foreground threshold (default: the model's recommendation, else 0.5)",
    )
    parser.add_argument(
        "--min-size",
        type=int,
        default=None,
        help="smallest object in pixels (default: the model's recommendation, else 10)",
    )
    parser.add_argument(
        "--split",
        type=float,
        default=None,
        metavar="PX",
        help="split joined cells whose two halves rise PX pixels above the neck "
        "(distance-transform watershed; 0 = off; default: the model's recommendation, else 0)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler address: predict chunk by chunk on that cluster",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)


def collect_inputs(paths: list[Path]) -> list[Path]:
    """Expand folders into the images they hold (not recursively); keep files and stores."""
    from napari_unet.core.io import IMAGE_SUFFIXES, is_zarr

    found: list[Path] = []
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if is_zarr(p) or p.is_file():
            found.append(p)
        elif p.is_dir():
            inside = sorted(
                q
                for q in p.iterdir()
                if q.suffix.lower() in IMAGE_SUFFIXES and not q.name[0] == "."
            )
            if not inside:
                raise InputError(f"{p}: the folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
            found.extend(inside)
    return found


def _outputs(src: Path, outdir: Path, probabilities: bool) -> dict[str, Path]:
    from napari_unet.core.io import is_zarr

    suffix = ".zarr" if is_zarr(src) else ".tif"
    stem = src.name[: -len(src.suffix)] if src.suffix else src.name
    out = {"labels": outdir / f"{stem}_labels{suffix}"}
    if probabilities:
        out["probabilities"] = outdir / f"{stem}_probabilities{suffix}"
    return out


def _check_outputs(plan: list[tuple[Path, dict]], overwrite: bool) -> None:
    inputs = {src.resolve() for src, _ in plan}
    seen: set[Path] = set()
    for _, outs in plan:
        for path in outs.values():
            r = path.resolve()
            if r in inputs or any(parent in inputs for parent in r.parents):
                raise InputError(f"{path} is an input; refusing to overwrite it")
            if r in seen:
                raise InputError(f"two inputs would both write {path}; rename one of them")
            seen.add(r)
            if path.exists() and not overwrite:
                raise InputError(f"{path} exists; pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    """Predict every input; return 0 on success."""
    import numpy as np
    from tqdm import tqdm

    from napari_unet.core.io import is_zarr, read_image, write_image
    from napari_unet.core.modelfile import load_model
    from napari_unet.core.postprocess import iter_segment, label_planes, postprocess_settings
    from napari_unet.core.predict_dask import iter_predict_to_zarr
    from napari_unet.core.pretrained import resolve_model

    for name in ("tile", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name} must be a positive integer; got {value}")
    if args.split is not None and args.split < 0:
        raise InputError(f"--split must be >= 0 pixels (0 turns it off); got {args.split}")
    sources = collect_inputs(args.inputs)
    if args.outdir.exists() and not args.outdir.is_dir():
        raise InputError(f"{args.outdir} exists and is not a folder")
    plan = [(src, _outputs(src, args.outdir, args.probabilities)) for src in sources]
    _check_outputs(plan, args.overwrite)
    args.outdir.mkdir(parents=True, exist_ok=True)
    model, metadata = load_model(resolve_model(args.model), device="cpu")
    post = postprocess_settings(
        metadata, threshold=args.threshold, min_size=args.min_size, split=args.split
    )
    options = {"tile": args.tile, "batch": args.batch, "device": args.device}
    options["precision"] = args.precision
    for src, outs in plan:
        image = read_image(src)
        lazy = is_zarr(src) or args.scheduler
        bar = tqdm(desc=src.name, unit="tile", file=sys.stderr, disable=None, leave=False)
        if lazy:
            import dask.array as da

            if not isinstance(image, da.Array):
                image = da.from_array(image, chunks="auto")
            store = outs.get("probabilities", args.outdir / f".{src.stem}.probabilities.tmp.zarr")
            gen = iter_predict_to_zarr(
                model, image, store, scheduler=args.scheduler, metadata=metadata, **options
            )
            probs = _drain(gen, bar)
            fg = probs[1].compute() if probs.shape[0] > 1 else probs[0].compute()
            labels = label_planes(fg, **post)
            if "probabilities" not in outs:
                shutil.rmtree(store, ignore_errors=True)
        else:
            gen = iter_segment(model, image, metadata=metadata, **post, **options)
            labels, probs = _drain(gen, bar)
            if "probabilities" in outs:
                write_image(outs["probabilities"], np.asarray(probs, np.float32))
        bar.close()
        write_image(outs["labels"], labels)
        n = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
        print(f"{src} -> {outs['labels']} ({n} objects)")
        if "probabilities" in outs:
            print(f"{src} -> {outs['probabilities']} (probabilities)")
    return 0


def _drain(gen, bar):
    """Run a progress generator, updating a tqdm bar; return its result."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        bar.total = event.total
        bar.n = event.done
        bar.refresh()
