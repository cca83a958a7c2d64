"""Finding, pairing and reading the files of ``napari-unet evaluate``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from napari_unet.cli._whole_names import by_whole_name, missing_hint, note_whole_pair, whole_name
from napari_unet.core.errors import InputError

__all__ = ["files_of", "given_by_name", "label_pairs", "match_files", "planes", "read_labels"]


def files_of(path: Path) -> list[Path]:
    """One file, a Zarr store, or the image files of a folder (sorted).

    Of a folder, the labels a review set aside (``labels/b_labels.old.tif``, of an image
    re-acquired at another size) are skipped, with a note: before, the review's labels
    folder as ground truth was refused ("no prediction for ... b_labels.old.tif").
    """
    from napari_unet.cli._label_pairs import without_set_aside
    from napari_unet.core.images.io import IMAGE_SUFFIXES, is_zarr

    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file() or is_zarr(path):
        return [path]
    found = sorted(
        p
        for p in path.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not found:
        raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    kept = without_set_aside(found, "evaluate")
    if not kept:
        raise InputError(f"{path}: the folder holds only labels a review set aside")
    return kept


def given_by_name(paths) -> bool:
    """Whether every path names one file or one Zarr store (a folder of chunks), no folder."""
    from napari_unet.core.images.io import is_zarr

    return all(Path(p).is_file() or is_zarr(p) for p in paths)


def match_files(
    pred: list[Path],
    gt: list[Path],
    what: str = "prediction",
    loose: bool = False,
    images: bool = False,
) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Pair files by name without suffix, or without a label ending (``_labels``...).

    Parameters
    ----------
    pred, gt : list of Path
        Candidate files on each side. A file goes with the one of the same stem, else with
        the one of the same image name (:func:`~napari_unet.cli._label_pairs.image_name`:
        ``cell_labels.tif``, as ``predict`` writes it, goes with ``cell.tif``); failing both,
        with the one of that name as :func:`~napari_unet.core.review.folders.stem_of` gives it
        (``a.ome.tif`` and ``a.ome_labels.tif`` answer to ``a``, as ``measure`` pairs them).
    what : str
        What the first list holds, for messages.
    loose : bool
        Two files given by name (files or Zarr stores, not folders): paired whatever their
        names.
    images : bool
        The first list holds images (the MODEL form), not labels: a file with a label ending
        (``cell_labels.tif``, ``cell_cp_masks.png``) is no candidate when ``cell.tif`` is there
        too, as ``predict -o`` or Cellpose write them beside the image. Without it, such a
        file comes first: it is the prediction, ``cell.tif`` the image.

    Returns
    -------
    pairs : list of (str, Path, Path)
        Name, first-side file and ground-truth file, in ground-truth order.
    unused : list of str
        Names on the first side that have no ground truth (skipped).

    Raises
    ------
    InputError
        If a ground-truth file has no partner, a name is ambiguous (on either side), a
        pair is one file twice, or a label file of a pair is a JPEG (:func:`check_label_file`).
    """
    if loose and len(pred) == 1 and len(gt) == 1:
        pairs, unused = [(pred[0].name, pred[0], gt[0])], []
    else:
        pairs, unused = _match_by_name(pred, gt, what, images)
    from napari_unet.core.files import same_file

    for name, first, truth in pairs:
        check_label_file(truth)  # before any image is scored
        if not images:
            check_label_file(first)
        if same_file(first, truth):
            raise InputError(
                f"the {what} and the ground truth of {name} are the same file: {first}; "
                "choose two files"
            )
    return pairs, unused


def _match_by_name(
    pred: list[Path], gt: list[Path], what: str, images: bool
) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    from napari_unet.cli._label_pairs import image_name
    from napari_unet.core.review.folders import stem_of

    if images:  # NAME_labels.tif beside NAME.tif is a result, not an image to segment
        plain = {p.stem for p in pred} | {stem_of(p) for p in pred}  # a.ome.tif is also "a"
        pred = [p for p in pred if p.stem == image_name(p) or image_name(p) not in plain]
    # Ground truth kept beside its images (NAME.tif and NAME_masks.tif in one folder): the
    # images are no ground truth, those without labels yet included. Before, the image
    # fitted the same file as its labels ("fits two ground-truth files; rename one of
    # them"), and an image without labels was scored as the ground truth of its name.
    taken, unlabelled = _images_of_pairs(gt)
    _note_lone_images(unlabelled)
    gt = [g for g in gt if g not in taken]
    # PRED holding images beside predict's labels: an image is no prediction (before, an
    # image not predicted was scored as one, its grey levels taken for ids)
    dropped, lone = (set(), set()) if images else _images_of_pairs(pred)
    pred = [p for p in pred if p not in dropped]
    by_stem = {k: [p] for k, p in _by_stem(pred, what).items()}
    # cells.tif_labels.tif (a review names the files of cells.tif in full when cells.png had
    # its stem) goes with the ground truth named cells.tif, never cells_labels.tif with it
    whole = {p.name: [p] for p in pred} if images else by_whole_name(pred)
    # the same image twice would be scored twice; cells.tif and cells.png that labels named
    # in full tell apart are two images
    _by_stem([g for g in gt if _whole_key(g, images) not in whole], "ground-truth")
    by_name: dict[str, list[Path]] = {}
    by_alias: dict[str, list[Path]] = {}  # a.ome.tif, a.ome_labels.tif: "a" (stem_of)
    alias_stems: dict[str, list[Path]] = {}
    for p in pred:
        by_name.setdefault(image_name(p), []).append(p)
        by_alias.setdefault(_alias(p), []).append(p)
        alias_stems.setdefault(stem_of(p), []).append(p)
    pairs, missing = [], []
    for g in gt:
        # Labels first (PRED GT): a file with a label ending first; predicted into the
        # images' folder, NAME.tif beside NAME_labels.tif is the image (scored as ids).
        found = _fitting(by_name.get(image_name(g), []), by_stem.get(g.stem, []))
        if not found:  # NAME.ome.tif answers to NAME too, as measure pairs it (stem_of)
            found = _fitting(by_alias.get(_alias(g), []), alias_stems.get(stem_of(g), []))
        in_full = whole.get(_whole_key(g, images), [])
        if in_full and not images:
            note_whole_pair(g, in_full[0], found, what)
        found = in_full or found
        if len(found) > 1:
            raise InputError(f"{g.name}: {len(found)} {what} files fit it: {found[0]}, {found[1]}")
        if found:
            pairs.append((g.name if in_full and not images else g.stem, found[0], g))
        else:
            missing.append(g)
    if missing:
        shown = ", ".join(g.name for g in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(
            f"no {what} for {len(missing)} ground-truth file(s): {shown}; expected a file "
            "with the same name (any image suffix; a _labels or _masks ending allowed)"
            + ("; the images beside label files in PRED are no predictions" if dropped else "")
            + ("" if images else missing_hint(missing, whole))
        )
    used = [p for _, p, _ in pairs]
    twice = {p for p in used if used.count(p) > 1}
    if twice:
        raise InputError(f"{sorted(twice)[0]} fits two ground-truth files; rename one of them")
    # An image that predict wrote NAME_labels.tif beside was not scored: its labels were. One
    # without labels in PRED has no ground truth either: skipped, as a prediction would be.
    return pairs, sorted(p.stem for p in [*pred, *lone] if p not in used)


def _whole_key(truth: Path, images: bool) -> str | None:
    """The name a file on the other side is named in full after, or None.

    ``truth``'s own whole name (labels: ``cells.tif_labels.tif``), or the image it names in
    full (model form: ``cells.tif_masks.tif`` is the ground truth of the image ``cells.tif``).
    """
    return whole_name(truth) if images else truth.name


def _fitting(named: list[Path], same_stem: list[Path]) -> list[Path]:
    """Of the files of one name, those that fit: with a label ending, else of the same stem."""
    from napari_unet.cli._label_pairs import image_name

    return [p for p in named if p.stem != image_name(p)] or same_stem or named


def _alias(path: Path) -> str:
    """The image name ``path`` also answers to, as ``stem_of`` names images (measure too).

    ``a`` for ``a.ome.tif`` and for ``a.ome_labels.tif`` (as ``predict`` names its labels),
    where :func:`~napari_unet.cli._label_pairs.image_name` says ``a.ome``.
    """
    from napari_unet.cli._label_pairs import image_name
    from napari_unet.core.review.folders import stem_of

    name = image_name(path)
    return stem_of(name + path.suffix) if path.suffix else name


def _images_of_pairs(files: list[Path]) -> tuple[set[Path], set[Path]]:
    """``(images, unlabelled)``: the images among ``files`` in folders of pairs, as ``measure``.

    ``unlabelled``: those no label file names (not labelled yet, or labels misnamed).
    A folder holds pairs when a file with a label ending is named after another one
    (``NAME_labels.tif`` or ``NAME_masks.png`` beside ``NAME.tif``, as ``predict`` and
    Cellpose write them; ``NAME_labels.tif`` beside ``NAME.ome.tif``, ``stem_of``). There a
    file is an image if such a label file names it or its name has no label ending: ``B.tif``
    not labelled yet is an image, no label file (before, it was scored as one, its grey
    levels taken for ids). A folder without such pairs holds label files only, whatever
    their names (``gt/a.tif``); files are grouped by folder.
    """
    from napari_unet.cli._label_pairs import image_name, is_probabilities
    from napari_unet.core.review.folders import stem_of

    found: set[Path] = set()
    unlabelled: set[Path] = set()
    folders: dict[Path, list[Path]] = {}
    for f in files:
        folders.setdefault(f.parent, []).append(f)
    for group in folders.values():
        # the files' own names; whole (cells.tif_labels.tif beside cells.tif, named in full)
        names = {f.stem for f in group} | {stem_of(f) for f in group} | {f.name for f in group}
        labels = [f for f in group if f.stem != image_name(f)
                  and (image_name(f) in names or _alias(f) in names)]  # fmt: skip
        named = {image_name(f) for f in labels} | {_alias(f) for f in labels}
        if not labels:
            continue
        for f in group:
            if f in labels or is_probabilities(f.stem):
                continue  # predict's NAME_probabilities.tif are no images: noted as skipped
            is_named = f.stem in named or stem_of(f) in named or f.name in named
            if is_named or f.stem == image_name(f):
                found.add(f)
                if not is_named:
                    unlabelled.add(f)
    return found, unlabelled


def _note_lone_images(unlabelled: set[Path]) -> None:
    """Say which files of a ground-truth folder of pairs are taken for images, unlabelled.

    ``c.tif`` there is an image (``b.tif`` not annotated yet) or ground truth named like
    its image: a review saw such a ``c`` skipped as "no ground truth" without a word why.
    """
    import sys

    for image in sorted(unlabelled):
        print(
            f"napari-unet evaluate: note: {image} is taken for an image, not ground truth "
            "(its folder holds images beside their labels); if it is labels, name it "
            f"{image.stem}_masks{image.suffix}", file=sys.stderr,
        )  # fmt: skip


def _by_stem(files: list[Path], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise InputError(f"two {what} files are named {f.stem!r}: {out[f.stem]}, {f}")
        out[f.stem] = f
    return out


def planes(name: str, gt, pred, per_plane: bool) -> Iterator[tuple[str, Any, Any]]:
    if per_plane and gt.ndim >= 3 and gt.shape == pred.shape:
        for z in range(gt.shape[0]):
            yield f"{name}[{z}]", gt[z], pred[z]
    else:
        yield name, gt, pred


#: Lossy formats: a label image saved in one has ids changed at the edges of its cells.
LOSSY_SUFFIXES = (".jpg", ".jpeg")


def check_label_file(path: Path) -> None:
    """Refuse a JPEG label file: JPEG is lossy, so the ids it holds are not those saved.

    Before, it was read as ids without a word: ground truth scored against a JPEG copy of
    itself got AP 0.
    """
    if Path(path).suffix.lower() in LOSSY_SUFFIXES:
        raise InputError(
            f"{path}: a JPEG label image is refused: JPEG is lossy and changes the ids "
            "(each cell's edge gets other values); save labels as PNG or TIFF"
        )


def read_labels(path: Path):
    """A label file as an array; a colour (RGB/RGBA), multi-channel or JPEG file is refused.

    A colour PNG or TIFF of labels (each cell a colour) read as ids was scored as a volume
    of 3 planes, with numbers that meant nothing. A channel axis of size 1 (an OME-Zarr
    label image's ``t, c, z, y, x`` of one plane) is dropped: before, it was kept last, so
    ``--per-plane`` scored each row of the image as a plane.
    """
    import numpy as np

    from napari_unet.core.images.io import read_image
    from napari_unet.core.images.labels import has_sample_axis, looks_like_colour

    check_label_file(path)
    labels = np.asarray(read_image(path, labels=True))
    channels = _channel_axes(path, labels.ndim)
    if channels == "C" and labels.ndim > 2 and labels.shape[-1] == 1:  # moved last on reading
        labels, channels = labels[..., 0], ""
    if has_sample_axis(labels.shape):  # (Y, X, 1): one plane, as measure reads it (before:
        labels, channels = labels[..., 0], ""  # refused, "shape (Y, X, 1) but ... (Y, X)")
    if channels or looks_like_colour(labels.shape):
        kind = "holds several channels" if channels == "C" else "is a colour image"
        hint = (
            " (a stack of 3 or 4 planes saved as RGB: save it as grey planes, e.g. "
            "tifffile.imwrite(path, labels, photometric='minisblack'))"
            if "S" in channels and path.suffix.lower() in (".tif", ".tiff")
            else ""
        )
        raise InputError(
            f"{path}: the file {kind}, shape {labels.shape}; expected instance labels, one "
            "integer id per cell and 0 for background, in a grey (Y, X) or (Z, Y, X) file, "
            f"not colour (RGB) labels{hint}"
        )
    from napari_unet.core.review.measure import integer_labels

    # A Fiji 32-bit label image of whole numbers: ids, as measure reads it (before, refused
    # by the metrics with the name of the pair, not of this file); fractions are refused.
    return integer_labels(labels, str(path))


def _channel_axes(path: Path, ndim: int) -> str:
    """The colour or channel axes a label file holds ("S" samples, "C" channels), or ""."""
    from napari_unet.core.images.io import PIL_SUFFIXES, TIFF_SUFFIXES

    suffix = path.suffix.lower()
    if suffix in PIL_SUFFIXES:  # 2D formats: a third axis is colour (a palette gives ids)
        return "S" if ndim == 3 else ""
    if suffix in TIFF_SUFFIXES:  # an RGB TIFF (photometric RGB) or an ImageJ/OME C axis
        import tifffile

        from napari_unet.core.images.io import _image_series

        with tifffile.TiffFile(path) as tf:  # read whole by read_image just before
            series = tf.series[_image_series(path, tf.series)]  # the series read_image read
            return "".join(a for a in series.axes.upper() if a in "SC")
    return _zarr_channel_axes(path)


def _zarr_channel_axes(path: Path) -> str:
    """``"C"`` if an OME-Zarr image names one channel axis (moved last on reading), else ``""``."""
    from napari_unet.core.images.io import is_zarr
    from napari_unet.core.images.omezarr import axis_letters, group_attrs, read_multiscale

    found = group_attrs(path) if is_zarr(path) else None
    if found is None or not found[0].get("multiscales"):
        return ""  # a plain Zarr array records no axes
    letters = axis_letters(found[0])
    # open_image keeps a channel axis and moves it last when the axes name each array axis
    if letters.count("C") == 1 and len(letters) == read_multiscale(path)[0].ndim:
        return "C"
    return ""


def label_pairs(pairs, per_plane: bool) -> Iterator[tuple[str, Any, Any]]:
    for name, pred_path, gt_path in pairs:
        gt, pred = read_labels(gt_path), read_labels(pred_path)
        yield from planes(name, gt, pred, per_plane)
