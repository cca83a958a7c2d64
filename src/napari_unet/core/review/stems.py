"""The names a review gives an image's files, and the label files of other tools it matches.

The reviewed labels and the cached prediction of image ``a.png`` are
``OUTPUT/labels/a_labels.tif`` and ``OUTPUT/predictions/a_labels.tif``: named by the image's
stem (its name without suffix). An image that arrives with the stem of an image of the
review file that is not listed (``a.png`` moved out, a different ``a.tif`` in; or another
session's ``a.png``) is another image: its files are named by its whole name
(``labels/a.tif_labels.tif``), the entry says so (``extra["named_in_full"]``, kept in the
review file), and the files of ``a.png`` stay as they are. Before, ``a.tif`` was shown the
corrected labels of ``a.png`` as its own reviewed labels, and saving it overwrote them.

An image renamed (same content, :mod:`napari_unet.core.review.renames`) takes its files
along under its own stem, as before; one whose files were named in full keeps them so
(``a.tif`` renamed ``a.tiff``: ``a.tiff_labels.tif``, never the other image's ``a_labels.tif``).
"""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.review.folders import LABEL_ENDINGS, label_candidates, stem_of

__all__ = ["FLAG", "claim_stems", "files_stem", "label_file_of", "named_in_full"]

#: The key of an entry's ``extra`` that says its files are named by its whole name.
FLAG = "named_in_full"


def _flagged(value) -> bool:
    extra = value.get("extra") if isinstance(value, dict) else getattr(value, "extra", None)
    return isinstance(extra, dict) and extra.get(FLAG) is True


def named_in_full(review) -> set[str]:
    """The images (listed or not) whose files the review file says are named in full."""
    values = {**review._missing, **review.entries}
    return {name for name, value in values.items() if _flagged(value)}


def files_stem(review, name: str) -> str:
    """What the files of image ``name`` are named by: its stem, or its whole name (above)."""
    value = review.entries.get(name) or review._missing.get(name)
    in_full = name in getattr(review, "_in_full", ()) or _flagged(value)
    return name if in_full else stem_of(name)


def claim_stems(review, new: list[str]) -> list[str]:
    """Name in full the files of the images ``new`` whose stem another image's files have.

    ``new``: the images listed that had no entry in the review file. One renamed into
    (:attr:`review.renamed`) took the files of the image it was, under its own stem.
    Returns what the report says of each image named in full; the review file is saved.
    """
    notes = []  # one renamed keeps its files' naming (and the flag, carried in its entry)
    carried = {name for _, name in review.renamed}
    others = {files_stem(review, m): m for m in sorted(review._missing, reverse=True)}
    for name in new:
        old = others.get(stem_of(name))
        if name in carried or old is None or old == name:
            continue
        review.entries[name].extra[FLAG] = True
        review._in_full.add(name)
        notes.append(
            f"{name} and {old} (not listed) share the name {stem_of(name)!r} without suffix: "
            f"the labels of {name} are saved as {name}_labels.tif, those of {old} are kept"
        )
    if notes:  # saved at once: a later session must not take it for the image that left
        review.save()
    return notes


def label_file_of(
    label_files: dict[str, list[Path]], name: str, image: Path, in_full: bool = False
) -> Path | None:
    """A label file of image ``name`` among ``label_files`` (by lower-case name), or None.

    A file named after the image's whole name (``a.tif_labels.tif``, as a review names the
    files of an image whose stem another image had) comes first. Then both ``a`` and
    ``a.ome`` match for ``a.ome.tif`` (``predict`` writes ``a.ome_labels.tif``), unless
    ``in_full`` (the stem is another image's, as for the image's own files) or a file named
    in full was found: ``a_labels.tif`` is then another image's labels. Before, a review
    whose labels folder was another review's ``labels/`` showed ``a.tif`` the labels of
    ``a.png``, and never its own ``a.tif_labels.tif``. The endings are matched whatever
    their case (``NAME_masks.TIF``), the name of the image exactly; a file named exactly as
    :func:`label_candidates` says comes first. The image file ``image`` itself is no match.
    """
    whole = [c for c in label_candidates(name) if c[len(name) :].startswith(LABEL_ENDINGS)]
    found = _first(label_files, name, whole, image)
    if found is not None or in_full:
        return found
    for stem in dict.fromkeys((stem_of(name), name[: -len(Path(name).suffix) or None])):
        found = _first(label_files, stem, label_candidates(stem), image)
        if found is not None:
            return found
    return None


def _first(label_files: dict[str, list[Path]], stem: str, candidates, image: Path):
    """The first of the files named as ``candidates`` whose name begins with ``stem``."""
    for candidate in candidates:
        found = label_files.get(candidate.lower(), ())
        for p in sorted(found, key=lambda q, c=candidate: q.name != c):
            if p.name.startswith(stem) and p.resolve() != image.resolve():
                return p
    return None
