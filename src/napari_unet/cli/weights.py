"""``napari-unet weights``: the U-Net training target and weight map of an instance-label image."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_unet.core.errors import InputError


def add_parser(subparsers) -> None:
    """Register the ``weights`` subcommand."""
    parser = subparsers.add_parser(
        "weights",
        help="compute the U-Net boundary weight map (and target) of instance labels",
        description=(
            "Compute the U-Net weight map w = w_c + w0 * exp(-(d1 + d2)^2 / (2 sigma^2)) of an "
            "instance-label image (TIFF, PNG or Zarr; 2D or a stack processed plane by plane) "
            "and write it as float32 TIFF or Zarr. Touching cells are first separated by a "
            "background gap, which the border term then weights heavily."
        ),
    )
    parser.add_argument("labels", type=Path, help="instance labels (0 background, 1..N cells)")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT", help="weight map (.tif, .zarr)"
    )
    parser.add_argument("--w0", type=float, default=10.0, help="border weight (default 10)")
    parser.add_argument(
        "--sigma", type=float, default=5.0, help="border width in pixels (default 5)"
    )
    parser.add_argument(
        "--gap", type=int, default=2, help="gap in pixels between touching cells (default 2)"
    )
    parser.add_argument(
        "--class-weights",
        default="balanced",
        metavar="balanced|none|W,W[,W]",
        help="class balance w_c: 'balanced' (default), 'none', or one weight per class",
    )
    parser.add_argument(
        "--mode", choices=("binary", "3class"), default="binary", help="target classes"
    )
    parser.add_argument(
        "--mask", type=Path, metavar="MASK", help="annotated region (non-zero); weight 0 outside"
    )
    parser.add_argument(
        "--target", type=Path, metavar="OUT", help="also write the uint8 target (.tif/.png/.zarr)"
    )
    parser.set_defaults(func=run)


def parse_class_weights(text: str):
    """``"balanced"``, ``"none"`` or a comma-separated list of numbers."""
    if text in ("balanced", "none"):
        return text
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(
            f"--class-weights must be 'balanced', 'none' or numbers such as 1,5; got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Compute and write the weight map; return the exit status."""
    import numpy as np
    from tqdm import tqdm

    from napari_unet.core.io import read_image, write_image
    from napari_unet.core.weightmap import iter_target_and_weights

    class_weights = parse_class_weights(args.class_weights)
    for out in (args.output, args.target):
        if out is not None and out.resolve() == args.labels.resolve():
            raise InputError(f"the output {out} would overwrite the input labels")
    labels = read_image(args.labels)
    mask = None
    if args.mask is not None:
        mask = np.asarray(read_image(args.mask))
        if mask.ndim == 3 and mask.shape[-1] in (3, 4) and mask.ndim > labels.ndim:
            mask = mask[..., 0]  # a PNG painted in colour: any non-zero first channel
        mask = mask != 0
    gen = iter_target_and_weights(
        labels,
        gap=args.gap,
        w0=args.w0,
        sigma=args.sigma,
        class_weights=class_weights,
        mask=mask,
        mode=args.mode,
    )
    n_planes = labels.shape[0] if labels.ndim == 3 else 1
    with tqdm(total=n_planes, unit="plane", disable=n_planes < 2, file=None) as bar:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                target, weights = stop.value
                break
            bar.update(event.done - bar.n)
    write_image(args.output, weights)
    if args.target is not None:
        write_image(args.target, target)
    print(
        f"wrote {args.output}: {weights.dtype} {'x'.join(map(str, weights.shape))}, "
        f"weights {float(weights.min()):.3g} to {float(weights.max()):.3g}"
        + (f"; target {args.target}" if args.target is not None else "")
    )
    return 0
