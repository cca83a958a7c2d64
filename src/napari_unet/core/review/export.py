"""Exporting a review: the accepted and corrected labels, their measurements, one summary.

Everything goes into ``OUTPUT/export``::

    labels/<stem>_labels.tif        accepted and corrected labels (Zarr for huge images)
    measurements/<stem>.csv         one row per object (measure.measure_objects)
    summary.csv                     one row per exported image (measure.summarize), with
                                    its status and the reviewer's time
    report.txt                      the one-line report (accepted, corrected, rejected...)
    export-files.json               the list of the files above (what the next export may
                                    replace; anything else in the folder makes it refuse)

Rejected images and those that still need work are left out (the report counts them).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_folder, atomic_write
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.images.omezarr import recorded_pixel_size
from napari_unet.core.review.folders import MANIFEST, foreign_entry, manifest_text
from napari_unet.core.review.measure import _pixel_size, measure_objects, summarize, write_csv
from napari_unet.core.review.session import Review, stem_of

__all__ = ["ExportProgress", "ExportResult", "export_review", "iter_export"]

#: The statuses whose labels are exported.
EXPORTED = ("accepted", "corrected")


@dataclass(frozen=True)
class ExportProgress:
    """One image exported (``done`` of ``total``)."""

    done: int
    total: int
    name: str


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    folder: Path
    images: int
    objects: int
    report: str
    skipped: tuple[str, ...] = ()
    #: The summary rows (one per exported image), as written to summary.csv.
    summary: tuple[dict, ...] = ()


def iter_export(
    review: Review, pixel_size: float | tuple[float, float] | None = None
) -> Generator[ExportProgress, None, ExportResult]:
    """Export the accepted and corrected images of ``review``, yielding progress.

    ``pixel_size`` (micrometres) overrides what each image file or store records (see
    :func:`~napari_unet.core.images.omezarr.recorded_pixel_size`). A ``pixel_size`` that is
    not a positive number (or a pair of them) is an :class:`InputError` before anything is
    written: before, each image was skipped as "could not be measured", and the empty
    export replaced the last complete one.
    """
    _pixel_size(pixel_size)  # InputError, naming the value: the last export stays
    folder = review.output / "export"
    # An output folder gone meanwhile is made again, as a save makes it (before, the export
    # failed until a save of labels or verdicts had made it).
    review.output.mkdir(parents=True, exist_ok=True)
    # An export with no list of its files (an older version's) owns only the files named
    # after the images of the review (those of images no longer listed too).
    foreign = foreign_entry(folder, [*review.names, *review._missing])
    if foreign is not None:
        raise InputError(
            f"{folder} holds {foreign.relative_to(folder)}, which no export wrote; an export "
            "replaces that folder whole, so move it elsewhere (or choose another output folder)"
        )
    with atomic_folder(folder) as tmp:  # an export replaces the last one whole, when complete
        result = yield from _export_into(review, tmp, pixel_size)
    return replace(result, folder=folder)


def _export_into(review: Review, folder: Path, pixel_size) -> Generator:
    """:func:`iter_export` into ``folder``."""
    for sub in ("labels", "measurements"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    names = [n for n in review.names if review.entries[n].status in EXPORTED]
    rows, skipped, objects = [], {}, 0
    for done, name in enumerate(names, 1):
        try:
            table, row = _export_one(review, name, folder, pixel_size)
        except _Skip as why:
            skipped[name] = str(why)
        else:
            objects += len(table["label"])
            rows.append(row)
        yield ExportProgress(done, len(names), name)
    write_csv(folder / "summary.csv", rows, columns=("image", "status"),
              leading=("image", "status", "planes"))  # fmt: skip
    report = review.report()
    for reason in dict.fromkeys(skipped.values()):
        which = [n for n, r in skipped.items() if r == reason]
        report += f"; not exported, {reason}: {', '.join(which)}"
    with atomic_write(folder / "report.txt") as tmp:
        # a name that is not UTF-8 (Latin-1 bytes) as its bytes on disk, as in summary.csv
        tmp.write_text(report + "\n", encoding="utf-8", errors="surrogateescape")
    text = manifest_text(folder)  # what this export wrote: what the next one may replace
    with atomic_write(folder / MANIFEST) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return ExportResult(folder, len(rows), objects, report, tuple(skipped), tuple(rows))


class _Skip(Exception):
    """An image left out of an export, and why (named in the report)."""


def _export_one(review: Review, name: str, folder: Path, pixel_size) -> tuple[dict, dict]:
    """Write the labels and measurements of image ``name``; its table and summary row.

    An image whose labels are gone, whose file changed since it was reviewed, or that
    cannot be read or measured is skipped (:class:`_Skip`): before, a changed file's new
    pixels were measured under the old labels, and one unreadable image stopped the export.
    """
    entry = review.entries[name]
    source = review.labels_path(name)
    if not source.exists():  # accepted in a review file whose labels were deleted
        raise _Skip("accepted without saved labels")
    try:
        if review.changed_since_review(name):
            raise _Skip("the image changed since it was reviewed (check its labels again)")
        labels = np.asarray(read_image(source, labels=True))
        image = np.asarray(read_image(review.path(name)))
        size = pixel_size if pixel_size is not None else recorded_pixel_size(review.path(name))
        table = measure_objects(labels, image, pixel_size=size)
    except (InputError, OSError) as exc:
        raise _Skip(f"could not be measured ({exc})") from None
    write_image(folder / "labels" / source.name, labels, pixel_size=size)  # TIFF: its tags
    write_csv(folder / "measurements" / f"{stem_of(name)}.csv", table)
    planes = labels.shape[0] if labels.ndim == 3 else None
    row = summarize(table, name, planes=planes)
    return table, row | {"status": entry.status, "review_seconds": entry.seconds}


def export_review(review: Review, pixel_size=None) -> ExportResult:
    """:func:`iter_export` run to the end."""
    from napari_unet.core.progress import drain

    return drain(iter_export(review, pixel_size))
