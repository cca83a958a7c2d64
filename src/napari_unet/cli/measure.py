"""``napari-unet measure``: per-object measurements of label images, written to CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_unet.cli._args import add_option, progress_bar
from napari_unet.cli._label_pairs import (  # pair_images: train's too, imported from here
    image_name,
    is_probabilities,
    note_probabilities,
    one_pair_by_name,
    pair_images,
    without_set_aside,
)
from napari_unet.cli._predict_sources import named_after
from napari_unet.core.errors import InputError
from napari_unet.core.images.io import is_zarr


def add_parser(subparsers) -> None:
    """Register the ``measure`` subcommand."""
    parser = subparsers.add_parser(
        "measure",
        help="measure every object of label images (area, shape, intensity) into a CSV file",
        description=(
            "Measure each object of instance label images: area, centroid, bounding box, "
            "equivalent diameter, perimeter, eccentricity, solidity; the mean, min and max "
            "intensity of each channel with --images; the same in micrometres when the pixel "
            "size is known. Writes one CSV row per object (with its image's name) and, with "
            "--summary, one row per image. See docs/measure.md."
        ),
    )
    add_option(parser, "labels", key="measure_labels", type=Path, nargs="+", metavar="LABELS")
    add_option(parser, "--images", key="measure_images", type=Path, nargs="+", metavar="IMAGE")
    add_option(parser, "-o", "--output", key="measure_output", type=Path, required=True,
               metavar="OUT.csv")  # fmt: skip
    add_option(parser, "--summary", key="summary", type=Path, metavar="SUMMARY.csv")
    add_option(parser, "--pixel-size", key="pixel_size", type=pixel_size_arg, metavar="UM|Y,X")
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    parser.set_defaults(func=run)


def pixel_size_arg(text: str) -> tuple[float, float]:
    """``--pixel-size``: one size in micrometres, or ``Y,X``; returns ``(y, x)``."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(1e-6 <= v <= 1e6 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected a positive pixel size in micrometres (0.65) or Y,X (0.5,0.25), 1e-6 to 1e6 "
            f"(beyond, areas overflow to inf or vanish to 0); got {text!r}"
        )
    return values[0], values[-1]


def collect_labels(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """``(label files, the images beside them)`` of the ``LABELS`` given.

    In a folder, files named after an image beside them (``NAME_cp_masks.png``,
    ``NAME_labels.tif`` beside ``NAME.png``) are the label files and those images are
    images, as the Review dock reads a folder
    (:func:`~napari_unet.core.review.folders.images_only`): before, the images were read as
    label files too. An image is a file such a label file names, or one whose name has no
    label ending: ``tissue_mask.png`` beside ``tissue_mask_labels.tif`` is an image (before,
    it was measured as labels). A folder without such pairs holds label files only; files
    and stores given by name are label files.

    Raises
    ------
    InputError
        A path that does not exist or a folder without images, or an OME-Zarr image (not
        a label image) given as labels (:func:`check_label_store`).
    """
    from napari_unet.cli._whole_names import whole_name
    from napari_unet.cli.predict import collect_inputs, once
    from napari_unet.core.review.folders import OUTPUT_ENDINGS, images_only, stem_of

    labels: list[Path] = []
    images: list[Path] = []
    for p in paths:
        found = collect_inputs([p])
        alone = images_only(found) if p.is_dir() and not is_zarr(p) else found
        whole = {q.name for q in found}  # cells.tif_labels.tif beside cells.tif (in full)
        alone = [q for q in alone if whole_name(q, OUTPUT_ENDINGS) not in whole]
        named = {image_name(q, OUTPUT_ENDINGS) for q in found if q not in alone}
        beside = [] if len(alone) == len(found) else [
            q for q in alone if q.stem in named or stem_of(q) in named or q.name in named
            or image_name(q, OUTPUT_ENDINGS) == q.stem
        ]  # fmt: skip
        labels += [q for q in found if q not in beside]
        images += beside
    labels = once(labels, "measure")  # a file given twice (by name, in a folder given too)
    for p in labels:
        check_label_store(p)
    return labels, images


def collect_images(paths: list[Path]) -> list[Path]:
    """The images of ``--images``: a folder's, less label files named after one of them."""
    from napari_unet.cli.predict import collect_inputs
    from napari_unet.core.review.folders import images_only

    found: list[Path] = []
    for p in paths:
        inside = collect_inputs([p])
        found += images_only(inside) if p.is_dir() and not is_zarr(p) else inside
    # slide.zarr/0 named after its root slide.zarr, as predict and the Review name it
    return [named_after(p) for p in found]


def check_label_store(path: Path, command: str = "measure") -> None:
    """Refuse an OME-Zarr image (or its ``labels`` group) given as labels; name its labels.

    An OME-Zarr image's pixels are grey levels, not object ids (measured as objects before);
    its label images are ``IMAGE/labels/NAME`` (``napari-unet slide`` writes them there).
    ``command`` (``measure``, ``weights``) words the advice (only measure takes ``--images``).
    """
    if not is_zarr(path):
        return
    from napari_unet.core.images.omezarr import label_names, ome_kind

    kind = ome_kind(path)
    if kind == "image":
        image, names = path, [path / "labels" / n for n in label_names(path)]
        what = "an OME-Zarr image, not a label image (no 'image-label' metadata)"
    elif kind == "group" and path.name == "labels":
        image, names = path.parent, [path / n for n in label_names(path.parent)]
        what = "the labels group of an OME-Zarr image, not a label image"
    else:  # a label image, a plain array, or a group open_image names
        return
    if names:
        shown = ", ".join(map(str, names))
        how = f"{'measure' if command == 'measure' else 'give'} its label image(s) instead: {shown}"
        how += f" (--images {image} for intensities)" if command == "measure" else ""
    else:
        how = "it has no label images (IMAGE/labels/NAME, as napari-unet slide writes them)"
    raise InputError(f"{path} is {what}; {how}")


def _check_outputs(args: argparse.Namespace, inputs: list[Path]) -> list[Path]:
    from napari_unet.core.files import check_outputs

    outputs = [p for p in (args.output, args.summary) if p is not None]
    for flag, path in zip(("-o", "--summary"), outputs, strict=False):
        if path.suffix.lower() != ".csv":
            raise InputError(f"{flag} must name a .csv file; got {path}")
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise InputError(f"-o and --summary both name {args.output}; give two files")
    check_outputs(outputs, inputs)
    for path in outputs:
        if path.exists() and not args.overwrite:
            raise InputError(f"{path} exists; pass --overwrite to replace it")
    return outputs


def _measure(name: str, label_path: Path, image_path: Path | None, pixel_size):
    """``(table, summary row, pixel size used)`` of one label file (and its image)."""
    import numpy as np

    from napari_unet.core.images.io import read_image
    from napari_unet.core.images.labels import has_sample_axis
    from napari_unet.core.images.omezarr import recorded_pixel_size
    from napari_unet.core.review.folders import image_source
    from napari_unet.core.review.measure import measure_objects, summarize

    labels = np.asarray(read_image(label_path, labels=True))
    # a bioformats2raw root (slide.zarr) is read as its one series, as the Review reads it
    image_path = None if image_path is None else image_source(image_path)
    image = None if image_path is None else np.asarray(read_image(image_path))
    if pixel_size is None:
        pixel_size = recorded_pixel_size(image_path if image_path is not None else label_path)
        if pixel_size is None and image_path is not None:
            pixel_size = recorded_pixel_size(label_path)
    try:
        table = measure_objects(labels, image, pixel_size=pixel_size)
    except InputError as exc:
        shown = label_path if image_path is None else f"{label_path} with {image_path}"
        raise InputError(f"{shown}: {exc}") from None
    _warn_if_mask(label_path, labels)
    # A (Y, X, 1) file is one plane, as measured (before: Y "planes" in the summary).
    planes = labels.shape[0] if labels.ndim == 3 and not has_sample_axis(labels.shape) else None
    return table, summarize(table, name, planes=planes), pixel_size


def _warn_if_mask(label_path: Path, labels) -> None:
    """Warn when a label file looks like a binary mask: one id over separate pieces.

    As ``evaluate`` warns (:func:`~napari_unet.core.images.labels.mask_pieces`; cheap: only
    a file of a single id is labelled). Before, a 0/255 mask (Fiji's Convert to Mask) was
    measured as one object, its area all the foreground, without a word.
    """
    from tqdm import tqdm

    from napari_unet.core.images.labels import mask_pieces

    found = mask_pieces(labels)
    if found is not None:
        tqdm.write(  # above the progress bar
            f"napari-unet measure: warning: {label_path} looks like a binary mask (its one id "
            f"{found[0]} covers {found[1]} separate pieces): measured as one object; label it "
            "first (scipy.ndimage.label, or Fiji's Analyze Particles) for one row per object",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """Measure every label file; write the CSV file(s); return 0 on success."""
    from napari_unet.core.review.measure import table_rows, write_csv

    labels, beside = collect_labels(args.labels)
    given = [p for p in args.labels if not p.is_dir() or is_zarr(p)]  # always measured
    probabilities = [p for p in labels if is_probabilities(p.stem) and p not in given]
    if probabilities:
        note_probabilities("measure", [p.name for p in probabilities])
    labels = without_set_aside([p for p in labels if p not in probabilities], "measure", given)
    images = collect_images(args.images) if args.images else beside
    loose = len(labels) == len(images) == 1 and one_pair_by_name(args.labels, args.images or [])
    pairs = pair_images(labels, images, by_order=bool(args.images), loose=loose)
    _check_outputs(args, [*labels, *images])
    rows, summaries, columns, sized = [], [], {"image": None}, 0
    with progress_bar("measure", "file", total=len(pairs)) as bar:
        for name, label_path, image_path in pairs:
            table, summary, size = _measure(name, label_path, image_path, args.pixel_size)
            columns |= dict.fromkeys(table)
            rows += table_rows(table, image=name)
            summaries.append(summary)
            sized += size is not None
            bar.update()
    write_csv(args.output, rows, columns=list(columns))
    line = f"measured {len(pairs)} label file(s), {len(rows)} objects -> {args.output}"
    if args.summary is not None:
        write_csv(args.summary, summaries)
        line += f"; summary -> {args.summary}"
    print(line + _size_note(args.pixel_size, sized, len(pairs)))
    return 0


def _size_note(given, sized: int, n: int) -> str:
    if given is not None:
        return f"; pixel size {given[0]:g} x {given[1]:g} µm (--pixel-size)"
    if sized == n:
        return "; pixel size from the files' metadata (µm columns)"
    if sized == 0:
        return "; no pixel size recorded: pixels only (give --pixel-size for µm)"
    return f"; pixel size recorded in {sized} of {n} files (the others: pixels only)"
