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

No two images share a file: a new image whose stem is what another image's files are named
by, or the whole name of another listed image (``a.tif.png`` beside ``a.tif``: its stem is
``a.tif``), is named in full too (``a.tif.png_labels.tif``). Before, ``a.tif`` named in full
and ``a.tif.png`` by its stem both saved into ``a.tif_labels.tif``, the second over the first,
and the export measured ``a.tif`` with the labels of ``a.tif.png``. A new image whose stem and
whole name are both taken by other images' files is refused, naming them (nothing is moved).
"""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.errors import InputError
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
    Named in full too: one whose stem is another listed image's whole name (``a.tif.png``
    beside ``a.tif``), which ``evaluate`` and ``measure`` would pair with ``a.tif``.
    Returns what the report says of each image named in full; the review file is saved.

    Raises
    ------
    InputError
        A new image whose stem and whole name both name other images' files.
    """
    notes = []  # one renamed keeps its files' naming (and the flag, carried in its entry)
    carried = {name for _, name in review.renamed}
    fresh = [name for name in new if name not in carried]
    taken = {files_stem(review, m): m for m in sorted(review._missing, reverse=True)}
    taken.update({files_stem(review, n): n for n in review.names if n not in fresh})
    for name in sorted(fresh):
        stem, old = stem_of(name), taken.get(stem_of(name))
        whole = stem != name and stem in review.entries  # a.tif.png beside a.tif
        if old is None and not whole or old == name:
            taken[stem] = name
            continue
        if name in taken:  # a.tif: a_labels.tif is a.png's, a.tif_labels.tif a.tif.png's
            raise InputError(_no_free_name(review, name, old or stem, taken[name]))
        taken[name] = name
        review.entries[name].extra[FLAG] = True
        review._in_full.add(name)
        notes.append(_note(review, name, old or stem))
    if notes:  # saved at once: a later session must not take it for the image that left
        review.save()
    return notes


def _listed(review, name: str) -> str:
    return "" if name in review.entries else " (not listed)"


def _note(review, name: str, other: str) -> str:
    """What the report says of image ``name``, named in full because of image ``other``."""
    stem, where = stem_of(name), _listed(review, other)
    if stem == other:  # a.tif.png beside a.tif (or a.tif named in full)
        why = f"{name} without suffix is {other}{where}, another image's name"
        keep = f"never {stem}_labels.tif (taken for {other}'s)"
    else:
        why = f"{name} and {other}{where} share the name {stem!r} without suffix"
        keep = f"those of {other} are kept"
    return f"{why}: the labels of {name} are saved as {name}_labels.tif, {keep}"


def _no_free_name(review, name: str, by_stem: str, by_name: str) -> str:
    """Why image ``name`` is refused: its stem's files and its whole name's are others'."""
    stem = stem_of(name)
    return (
        f"{name} cannot have label files of its own: {stem}_labels.tif would be taken for "
        f"the labels of {by_stem}{_listed(review, by_stem)}, and {name}_labels.tif holds "
        f"those of {by_name}{_listed(review, by_name)}; rename {name} (e.g. {stem}-2"
        f"{name[len(stem) :]}) and open the folder again"
    )


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
