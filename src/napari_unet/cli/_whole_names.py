"""Label files named after their image's whole name (``cells.tif_labels.tif``).

When an image arrives with the stem of another image of a review (``cells.png`` left the
folder, a different ``cells.tif`` came in), the Review dock names the new image's files by its
whole name (:mod:`napari_unet.core.review.stems`): ``cells.tif_labels.tif`` holds the labels of
``cells.tif``, and ``cells_labels.tif`` beside it those of the other image (``cells.png``).
``evaluate`` and ``measure`` pair such a file with the image or ground truth of exactly that
whole name, and a file named by the stem never with that image. Before, ``cells.tif_labels.tif``
was taken for the labels of an image named ``cells.tif`` without suffix: ``evaluate`` scored
``gt/cells.tif`` against ``cells_labels.tif`` (the other image's labels) or found no
prediction, and ``measure`` found no image ``cells.tif``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.review.folders import LABEL_ENDINGS, stem_of

__all__ = [
    "by_whole_name", "missing_hint", "note_whole_pair", "stem_hint", "whole_name", "whole_pairs",
]  # fmt: skip


def whole_name(label: Path, endings: tuple[str, ...] = LABEL_ENDINGS) -> str | None:
    """The whole image name a label file is named after (``cells.tif``), or None.

    ``cells.tif_labels.tif``: its name less a label ending ends in an image suffix.
    ``a.ome_labels.tif`` (as ``predict`` names the labels of ``a.ome.tif``) is none.
    """
    from napari_unet.core.images.io import IMAGE_SUFFIXES

    stem = Path(label).name[: -len(Path(label).suffix) or None]
    for ending in endings:
        if stem.lower().endswith(ending) and len(stem) > len(ending):
            name = stem[: -len(ending)]
            suffix = Path(name).suffix
            return name if suffix.lower() in IMAGE_SUFFIXES and len(name) > len(suffix) else None
    return None


def by_whole_name(files: list[Path]) -> dict[str, list[Path]]:
    """The label files among ``files`` named in full, by the whole name of their image."""
    found: dict[str, list[Path]] = {}
    for f in files:
        name = whole_name(f)
        if name is not None:
            found.setdefault(name, []).append(f)
    return found


def note_whole_pair(truth: Path, found: Path, other: list[Path], what: str) -> None:
    """Say that ``truth`` is scored against the file named after its whole name, not ``other``.

    ``other`` (``cells_labels.tif``) would have fitted ``cells.tif`` by its stem: it is the
    labels of another image of that stem (the ``cells.png`` a review named by it).
    """
    if other and other[0] != found:
        print(
            f"napari-unet evaluate: note: {truth} is scored against {found.name}, the {what} "
            f"named after its whole name {truth.name!r}; {other[0].name} is of another image "
            f"named {stem_of(truth)!r} (a review names an image's files in full when another "
            "image had its stem)", file=sys.stderr,
        )  # fmt: skip


def missing_hint(missing: list[Path], whole: dict[str, list[Path]]) -> str:
    """Why a ground-truth file without a partner did not take a file named in full, or ""."""
    for truth in missing:
        names = {stem_of(truth), truth.name[: -len(truth.suffix) or None]}
        for name, files in sorted(whole.items()):
            if stem_of(name) in names or name.lower() == truth.name.lower():
                return (
                    f"; {files[0].name} holds the labels of the image {name!r} (named in full), "
                    f"which cannot be told to be the image of {truth.name}: name its ground "
                    f"truth {name}, or give the two files by name"
                )
    return ""


def whole_pairs(
    labels: list[Path],
    images: list[Path],
    endings: tuple[str, ...],
    flag: str,
    strict: bool = True,
) -> dict[Path, Path]:
    """``{label file: image}`` for the label files named after an image's whole name.

    Raises
    ------
    InputError
        With ``strict`` (images given, ``flag``), a label file named in full whose image is
        not among ``images``: it names its image, so no other image is paired with it (by
        how names begin, or in order). Without, it has no image.
    """
    by_name = {image.name: image for image in images}
    stems = {image.stem for image in images} | {stem_of(image) for image in images}
    pairs = {}
    for label in labels:
        name = whole_name(label, endings)  # cells.tif_labels.tif of cells.tif.tif: by stem
        if name is None or (name not in by_name and (not strict or name in stems)):
            continue
        if name not in by_name:
            raise InputError(
                f"{label}: no image named {name!r} among the {len(images)} images of {flag}; "
                f"the file is named after its image's whole name (as a review names the "
                f"files of an image whose stem another image had): give {name}"
            )
        pairs[label] = by_name[name]
    return pairs


def stem_hint(stem: str, claimed: dict[Path, Path]) -> str:
    """Why the image of stem ``stem`` a label file named in full claims is not its image."""
    for label, image in claimed.items():
        if stem in (image.stem, stem_of(image)):
            return (
                f" ({image} is the image of {label.name}, named after its whole name; "
                f"the labels named {stem!r} are those of another image of that stem)"
            )
    return ""
