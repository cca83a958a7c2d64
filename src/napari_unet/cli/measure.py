"""``napari-unet measure``: per-object measurements of label images, written to CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_unet.cli._args import add_option, progress_bar
from napari_unet.core.errors import InputError
from napari_unet.core.images.io import is_zarr
from napari_unet.core.review import folders as review_folders

#: Endings of label file names that name the image they belong to: NAME_labels.tif
#: (napari-unet predict), NAME_cp_masks.png and NAME_masks.tif (Cellpose), NAME_label.tif,
#: NAME_mask.tif: the Review dock's (one list, so a folder is read alike everywhere).
LABEL_ENDINGS = review_folders.LABEL_ENDINGS


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


def image_name(label: Path, endings: tuple[str, ...] = LABEL_ENDINGS) -> str:
    """The name of the image a label file belongs to: its stem less a label ending.

    The endings match whatever their case (``A_Masks.tif`` belongs to ``A``). An OME-Zarr
    label image ``IMAGE.zarr/labels/NAME`` belongs to ``IMAGE.zarr``: its
    name is the image's (``cells.ome`` for ``cells.ome.zarr``, as
    :func:`~napari_unet.core.review.folders.stem_of` names it).
    """
    if label.parent.name == "labels" and is_zarr(label) and is_zarr(label.parent.parent):
        return label.parent.parent.stem
    stem = label.stem
    for ending in endings:
        if _ends(stem, ending) and len(stem) > len(ending):
            return stem[: -len(ending)]
    return stem


def is_probabilities(stem: str) -> bool:
    """Whether a file of this stem is one ``predict --probabilities`` wrote."""
    return _ends(stem, "_probabilities")


def note_probabilities(command: str, names: list[str]) -> None:
    """Say that the probability files ``predict --probabilities`` wrote are skipped.

    They lie beside the labels and are no label images (nor labels without ground truth).
    """
    print(f"napari-unet {command}: note: skipping {len(names)} probability file(s) "
          f"({names[0]}...)", file=sys.stderr)  # fmt: skip


def _ends(stem: str, ending: str) -> bool:
    """Whether ``stem`` ends with ``ending`` whatever its case (``A_Masks`` in ``_masks``).

    As :func:`~napari_unet.core.review.folders.images_only` matches them (before,
    ``A_Masks.tif`` lost its image ``A.png``).
    """
    return stem.lower().endswith(ending)


#: What may follow an image's name in its label file's name (``img1_seg``, ``img1 mask``).
SEPARATORS = ("_", "-", ".", " ")


def _by_prefix(lost: list[Path], left: list[Path]) -> dict[Path, Path]:
    """Label files paired with the image whose name begins theirs (``img1_seg.tif``, ``img1``).

    The longest such image name followed by ``_``, ``-``, ``.`` or a space wins; an image
    two label files claim is left to the order. Before, only the order paired them, and two
    folders sort differently (``img10_x`` before ``img1_x``; ``img1`` before ``img10``):
    a label file went with another image, unseen but for a note.
    """
    from napari_unet.core.review.folders import stem_of

    claims: dict[Path, Path] = {}
    for label in lost:
        name = label.stem
        starts = [(len(stem), i) for i in left for stem in {i.stem, stem_of(i)}
                  if name.startswith(stem) and name[len(stem):][:1] in SEPARATORS]  # fmt: skip
        if starts:
            claims[label] = max(starts, key=lambda found: found[0])[1]
    taken = list(claims.values())
    return {label: i for label, i in claims.items() if taken.count(i) == 1}


def pair_images(
    labels: list[Path], images: list[Path] | None, command: str = "measure",
    endings: tuple[str, ...] = LABEL_ENDINGS, what: str = "label files", flag: str = "--images",
    by_order: bool = True,
) -> list[tuple[str, Path, Path | None]]:
    """``(image name, label file, image file or None)`` for each label file.

    A label file goes with the image of the same name (:func:`image_name` with these
    ``endings``, or its own stem); label files whose names match no image are paired with
    the images left over when there are as many: the image whose name begins theirs
    (:func:`_by_prefix`), else in the order given (a note on stderr names the pairs); files
    that match keep their image. Without ``by_order`` they get
    no image instead (the images found beside label files in their folder). The errors
    name ``command``, the files' kind (``what``) and the option that gave the images
    (``flag``).

    Raises
    ------
    InputError
        Naming a label file without an image, two images of the same name, or two label
        files of the same image.
    """
    note = None
    if not images:
        pairs = [(image_name(p), p, None) for p in labels]
    else:
        from napari_unet.cli._whole_names import stem_hint, whole_pairs
        from napari_unet.core.review.folders import stem_of

        # cells.tif_labels.tif (named in full: a review's, when cells.png had the stem) goes
        # with cells.tif only, and cells_labels.tif never with it (cells.png's)
        claimed = whole_pairs(labels, images, endings, flag, strict=by_order)
        by_stem: dict[str, Path] = {}
        for p in [i for i in images if i not in claimed.values()]:
            if p.stem in by_stem and by_stem[p.stem] != p:
                raise InputError(f"two images are named {p.stem!r}: {by_stem[p.stem]}, {p}")
            by_stem[p.stem] = p
        for p in images:  # a.ome.tif is also "a", as the review and export name its labels
            if p not in claimed.values():
                by_stem.setdefault(stem_of(p), p)
        found = [claimed.get(p) or next((by_stem[k] for k in (image_name(p, endings), p.stem)
                                         if k in by_stem), None) for p in labels]  # fmt: skip
        lost = [p for p, i in zip(labels, found, strict=True) if i is None and by_order]
        left = [i for i in images if i not in found]
        if lost and len(lost) != len(left):
            stem = image_name(lost[0], endings)
            raise InputError(
                f"{lost[0]}: no image named {stem!r} among the {len(images)} images of "
                f"{flag}{stem_hint(stem, claimed)}; name them alike (NAME.tif and "
                f"NAME_labels.tif) or give as many images as {what}, in the same order"
            )
        if lost:
            by_prefix = _by_prefix(lost, left)
            order = iter(i for i in left if i not in by_prefix.values())
            found = [i if i is not None else by_prefix.get(p) or next(order)
                     for p, i in zip(labels, found, strict=True)]  # fmt: skip
            chosen = dict(zip(labels, found, strict=True))
            shown = ", ".join(f"{p.name} with {chosen[p].name}" for p in lost)
            note = (f"napari-unet {command}: note: {len(lost)} file(s) match no image by name; "
                    f"paired by how names begin, else in the order given: {shown}")  # fmt: skip
        pairs = [(image_name(p) if i is None else i.name if p in claimed else _name(i, by_stem),
                  p, i) for p, i in zip(labels, found, strict=True)]  # fmt: skip
    seen: dict[str, Path] = {}
    one = what.removesuffix("s")
    hint = "measure them in separate runs" if command == "measure" else f"give one {one} per image"
    for name, label, _ in pairs:
        if name in seen:
            raise InputError(
                f"two {what} are for the image {name!r}: {seen[name]}, {label}; {hint}"
            )
        seen[name] = label
    if note:  # after the checks: a refused pairing prints its error alone
        print(note, file=sys.stderr)
    return pairs


def _name(image: Path, by_stem: dict[str, Path]) -> str:
    """An image's name without suffix (``a`` for ``a.ome.tif``, unless ``a.tif`` is there)."""
    from napari_unet.core.review.folders import stem_of

    return stem_of(image) if by_stem.get(stem_of(image)) == image else image.stem


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
    return found


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
    from napari_unet.core.review.measure import measure_objects, summarize

    labels = np.asarray(read_image(label_path, labels=True))
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
    # A (Y, X, 1) file is one plane, as measured (before: Y "planes" in the summary).
    planes = labels.shape[0] if labels.ndim == 3 and not has_sample_axis(labels.shape) else None
    return table, summarize(table, name, planes=planes), pixel_size


def run(args: argparse.Namespace) -> int:
    """Measure every label file; write the CSV file(s); return 0 on success."""
    from napari_unet.core.review.measure import table_rows, write_csv

    labels, beside = collect_labels(args.labels)
    given = [p for p in args.labels if not p.is_dir() or is_zarr(p)]  # always measured
    probabilities = [p for p in labels if is_probabilities(p.stem) and p not in given]
    if probabilities:
        note_probabilities("measure", [p.name for p in probabilities])
        labels = [p for p in labels if p not in probabilities]
    images = collect_images(args.images) if args.images else beside
    pairs = pair_images(labels, images, by_order=bool(args.images))
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
