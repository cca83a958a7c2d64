"""``napari-unet weights``: the U-Net training target and weight map of an instance-label image."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_unet.cli._args import add_option, progress_bar, whole_pixels
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
    from napari_unet.core.training.targets import MODES, WeightMapSettings

    d = WeightMapSettings
    add_option(parser, "labels", key="labels", type=Path)
    add_option(
        parser, "-o", "--output", key="weights_output", type=Path, required=True, metavar="OUT"
    )
    add_option(parser, "--w0", key="w0", type=float, default=d.w0)
    add_option(parser, "--sigma", key="sigma", type=float, default=d.sigma)
    add_option(parser, "--gap", key="gap", type=whole_pixels, default=d.gap)
    add_option(
        parser, "--class-weights", key="class_weights", default=d.class_weights,
        metavar="balanced|none|W,W[,W]",
    )  # fmt: skip
    add_option(parser, "--mode", key="mode", choices=MODES, default=d.mode)
    # --region is the annotated region's name in the docks; --mask, its first name, still works
    add_option(
        parser, "--region", "--mask", key="mask_file", dest="mask", type=Path, metavar="MASK"
    )
    add_option(parser, "--target", key="target_file", type=Path, metavar="OUT")
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
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


def check_settings(args: argparse.Namespace, class_weights, shape, mask) -> None:
    """Raise :class:`InputError` for settings the weight map refuses, before any work starts."""
    import numpy as np

    from napari_unet.core.training.targets import check_parameters
    from napari_unet.core.training.weightmap import class_weight_values

    check_parameters(args.w0, args.sigma, args.gap, args.mode)
    n_classes = 2 if args.mode == "binary" else 3
    class_weight_values(np.zeros(1, np.uint8), class_weights, n_classes)
    # (Y, X, 1), a mask saved with a samples axis, is its plane (as labels of that shape are)
    if mask is not None and mask.shape not in (tuple(shape), (*shape, 1)):
        raise InputError(
            f"{args.mask}: the mask has shape {mask.shape}, but the labels have shape "
            f"{tuple(shape)}; they must be the same"
        )


def run(args: argparse.Namespace) -> int:
    """Compute and write the weight map; return the exit status."""
    import numpy as np

    from napari_unet.cli.measure import check_label_store
    from napari_unet.core.images.io import check_writable, read_image, write_image
    from napari_unet.core.images.labels import check_ids, check_labels
    from napari_unet.core.progress import drain
    from napari_unet.core.training.weightmap import iter_target_and_weights

    class_weights = parse_class_weights(args.class_weights)
    check_label_store(args.labels, "weights")  # an OME-Zarr image: grey levels, not labels
    from napari_unet.core.files import check_outputs

    check_outputs([args.output, args.target], [args.labels, args.mask])
    if args.target is not None and args.target.resolve() == args.output.resolve():
        raise InputError(f"--target and -o are both {args.output}; give two file names")
    for path in (args.output, args.target):
        if path is not None and path.exists() and not args.overwrite:
            raise InputError(f"{path} exists; pass --overwrite to replace it")
    labels = read_image(args.labels, labels=True)
    # RGB, float...: the error before the progress bar is drawn; (Y, X, 1) read as (Y, X)
    labels = check_labels(labels)
    # A Zarr stack's negative ids, and a 0/255 mask (every cell one id, as `train` refuses
    # it): before, the mask gave no border term, silently, and a negative id in a stack's
    # last plane was refused only after the planes before it were computed.
    check_ids(labels, str(args.labels))
    for path, dtype in ((args.output, np.float32), (args.target, np.uint8)):
        if path is not None:  # before the work: a format written, that holds the result
            check_writable(path, np.broadcast_to(np.zeros((), dtype), labels.shape))
    mask = None
    if args.mask is not None:
        mask = np.asarray(read_image(args.mask))
        if mask.ndim == 3 and mask.shape[-1] in (3, 4) and mask.ndim > labels.ndim:
            mask = mask[..., :3].any(axis=-1)  # painted in colour: any colour (not alpha)
        mask = mask != 0
        if not mask.any():
            raise InputError(
                f"{args.mask}: the mask is empty (no non-zero pixel), so nothing is annotated "
                "and every weight would be 0"
            )
    check_settings(args, class_weights, labels.shape, mask)  # the errors before the bar
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
    with progress_bar("weight map", "plane", total=n_planes, disable=n_planes < 2) as bar:
        target, weights = drain(gen, bar=bar)
    outputs = [(args.output, weights)] + ([(args.target, target)] if args.target else [])
    for path, array in outputs:  # both refused before either is written
        check_writable(path, array)
    for path, array in outputs:
        write_image(path, array)
    print(
        f"wrote {args.output}: {weights.dtype} {'x'.join(map(str, weights.shape))}, "
        f"weights {float(weights.min()):.3g} to {float(weights.max()):.3g}"
        + (f"; target {args.target}" if args.target is not None else "")
    )
    return 0
