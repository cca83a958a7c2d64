"""Which image each label file goes with, for ``measure`` and ``train`` (and the names used).

A label file named after its image (``NAME_labels.tif``, :data:`LABEL_ENDINGS`) goes with
that image only; files whose names name no image are paired by how names begin, else in the
order given. The files ``predict --probabilities`` writes and the labels a review set aside
(``NAME_labels.old.tif``) are no label images to measure: the commands skip them, with a note.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import is_zarr
from napari_unet.core.review import folders as review_folders

__all__ = [
    "LABEL_ENDINGS", "image_name", "is_probabilities", "is_set_aside", "note_probabilities",
    "one_pair_by_name", "pair_images", "without_set_aside",
]  # fmt: skip

#: Endings of label file names that name the image they belong to: NAME_labels.tif
#: (napari-unet predict), NAME_cp_masks.png and NAME_masks.tif (Cellpose), NAME_label.tif,
#: NAME_mask.tif: the Review dock's (one list, so a folder is read alike everywhere).
LABEL_ENDINGS = review_folders.LABEL_ENDINGS


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


def is_set_aside(stem: str) -> bool:
    """Whether a file of this stem holds labels a review set aside (``b_labels.old``, ``.old2``).

    The Review moves the labels of an image re-acquired at another size to
    ``labels/<stem>_labels.old.tif`` (:func:`~napari_unet.core.review.refit.set_aside`).
    """
    from napari_unet.core.review.refit import SET_ASIDE_ENDING

    return re.fullmatch(rf".+{re.escape(SET_ASIDE_ENDING)}\d*", stem) is not None


def without_set_aside(files: list[Path], command: str, keep=()) -> list[Path]:
    """``files`` less the labels a review set aside (:func:`is_set_aside`), with a note.

    ``keep``: files given by name, used whatever their names. Before, measure measured
    them as an image ``b_labels.old`` or refused them, evaluate and train refused a review's
    labels folder.
    """
    aside = [p for p in files if is_set_aside(p.stem) and p not in keep]
    if aside:
        names = [p.name for p in aside]
        print(f"napari-unet {command}: note: skipping {len(names)} label file(s) a review set "
              f"aside ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}): the labels "
              "of an image that changed since it was reviewed; give a file by name to use it",
              file=sys.stderr)  # fmt: skip
    return [p for p in files if p not in aside]


def one_pair_by_name(images, labels) -> bool:
    """Whether one image and one label file are given, both by name (no folder).

    Such a pair goes together whatever the names (``measure seg_labels.tif --images
    raw.tif``), as ``evaluate`` pairs two files given by name; else a label file named after
    a missing image goes with no other (:func:`pair_images`).
    """
    named = all(Path(p).is_file() or is_zarr(p) for p in [*images, *labels])
    return len(images) == len(labels) == 1 and named


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
    labels: list[Path],
    images: list[Path] | None,
    command: str = "measure",
    endings: tuple[str, ...] = LABEL_ENDINGS,
    what: str = "label files",
    flag: str = "--images",
    by_order: bool = True,
    loose: bool = False,
) -> list[tuple[str, Path, Path | None]]:
    """``(image name, label file, image file or None)`` for each label file.

    A label file goes with the image of the same name (:func:`image_name` with these
    ``endings``, or its own stem); label files whose names name no image (no label ending:
    ``seg1.tif``, ``img10_Object Identities.tif``) and match none are paired with
    the images left over when there are as many: the image whose name begins theirs
    (:func:`_by_prefix`), else in the order given (a note on stderr names the pairs); files
    that match keep their image. A file that names its image (``b_labels.tif``) goes with no
    other (refused, :func:`_refuse_named`; before, it took another image in order), unless
    ``loose``: one label file and one image given by name, paired whatever their names
    (as ``evaluate`` pairs two files given by name). Without ``by_order`` they get
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
        if not loose:
            _refuse_named(lost, images, endings, flag, claimed, what)
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
    _refuse_twice(pairs, what, command)
    if note:  # after the checks: a refused pairing prints its error alone
        print(note, file=sys.stderr)
    return pairs


def _refuse_twice(pairs: list[tuple[str, Path, Path | None]], what: str, command: str) -> None:
    """Refuse two label files of one image (``a_labels.tif`` and ``a_masks.tif``)."""
    seen: dict[str, Path] = {}
    one = what.removesuffix("s")
    hint = "measure them in separate runs" if command == "measure" else f"give one {one} per image"
    for name, label, _ in pairs:
        if name in seen:
            raise InputError(
                f"two {what} are for the image {name!r}: {seen[name]}, {label}; {hint}"
            )
        seen[name] = label


def _refuse_named(
    lost: list[Path],
    images: list[Path],
    endings: tuple[str, ...],
    flag: str,
    claimed: dict[Path, Path],
    what: str,
) -> None:
    """Refuse label files that name their image (``b_labels.tif``: ``b``) when it is missing.

    Before, such a file went with another image by how names begin or in the order given
    (``b_labels.tif`` with ``c.tif`` when ``b.tif`` had left the folder), measured or trained
    on the wrong image with only a note; ``evaluate`` refused it ("no image for").
    """
    from napari_unet.cli._whole_names import stem_hint

    named = [p for p in lost if image_name(p, endings) != p.stem]
    if not named:
        return
    stem = image_name(named[0], endings)
    others = f" (no image for {len(named)} {what}: {', '.join(p.name for p in named[:5])}"
    others += " ...)" if len(named) > 5 else ")"
    raise InputError(
        f"{named[0]}: no image named {stem!r} among the {len(images)} images of {flag}"
        f"{stem_hint(stem, claimed)}; the file is named after its image, so no other image "
        f"goes with it: give that image, or move the file away{others if len(named) > 1 else ''}"
        f" (only {what} whose names name no image are paired in the order given)"
    )


def _name(image: Path, by_stem: dict[str, Path]) -> str:
    """An image's name without suffix (``a`` for ``a.ome.tif``, unless ``a.tif`` is there)."""
    from napari_unet.core.review.folders import stem_of

    return stem_of(image) if by_stem.get(stem_of(image)) == image else image.stem
