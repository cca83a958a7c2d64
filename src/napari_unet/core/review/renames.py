"""Images renamed in the folder since they were reviewed: their review follows them.

The review file keys each image by its file name. An image renamed after it was judged
(``b.png`` to ``b2.png``) came back unreviewed and was predicted again; its reviewed labels
(``labels/b_labels.tif``) were orphaned, the next export left them out and its report said
nothing. Each entry records the image's content hash: when the review opens, the images it
lists that have no entry are hashed (only when an image no longer there has a hash and a
verdict or saved labels), and an image whose content is that of exactly one such image takes
its entry over: the entry moves to the new name (status, seconds, objects, source, edits),
and so do its reviewed labels and its cached prediction (renamed in the output folder, never
over a file there); the review file is saved at once, without the old entry.

Nothing is carried when it is unclear: two new images with the content of one that left
(a copy), one new image with the content of two, an old image still in the folder (another
session's file), or reviewed labels already at the new name. The report says each case,
and names the judged images that left the folder without a successor.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace

from napari_unet.core.review.folders import content_hashes, stem_of
from napari_unet.core.review.stems import files_stem

__all__ = ["carry_renamed", "rename_notes"]


def carry_renamed(review, current: str | None) -> None:
    """Carry the entries of images renamed since the review file was written (see above).

    Sets ``review.renamed`` (``(old, new)`` names, in order), ``review._carried`` (the old
    names, which a save must not take back from the file) and ``review._rename_notes`` (what
    could not be carried, and why). ``current``: the image the review file was on.
    """
    review.renamed, review._carried, review._rename_notes = [], set(), []
    folders = _folders(review)
    gone = {old: v.get("hash") for old, v in review._missing.items() if _judged(review, old)}
    gone = {o: h for o, h in gone.items() if isinstance(h, str) and _left(folders, o)}
    new = [name for name in review.names if name not in review._written]
    if not gone or not new:
        return
    olds_of: dict[str, list[str]] = {}  # new name -> the old names of its content
    for name in new:
        try:
            hashes = content_hashes(review.path(name))
        except OSError:  # unreadable: it is said when it is shown
            continue
        found = sorted(old for old, digest in gone.items() if digest in hashes)
        if found:
            olds_of[name] = found
    news_of: dict[str, list[str]] = {}
    for name, olds in olds_of.items():
        for old in olds:
            news_of.setdefault(old, []).append(name)
    for old, names in sorted(news_of.items()):
        if len(names) > 1:
            review._rename_notes.append(
                f"{old} left the folder and {', '.join(names)} have its content: its review "
                "was carried to none of them"
            )
        elif len(olds_of[names[0]]) > 1:
            if old == olds_of[names[0]][0]:  # said once for the new image
                review._rename_notes.append(
                    f"{names[0]} has the content of {', '.join(olds_of[names[0]])}, which left "
                    "the folder: no review was carried to it"
                )
        else:
            _carry(review, old, names[0], current)
    if review.renamed:  # the moved files and the review file agree from now on
        review.save()


def _judged(review, old: str) -> bool:
    """Whether ``old`` has a review to carry: a verdict, or labels saved.

    An image only predicted ahead (hashed by the prefetcher) is not worth hashing the new
    images for when the folder is opened (in the GUI thread): it is predicted again.
    """
    entry = review._missing[old]
    return entry.get("status", "unreviewed") != "unreviewed" or review.labels_path(old).exists()


def _folders(review) -> set:
    """The folders of the images listed (where an image that left the review would be)."""
    return {p.parent for p in review.images}


def _left(folders: set, old: str) -> bool:
    """Whether image ``old`` is in none of ``folders`` (else: listed by another session)."""
    return not any((folder / old).exists() for folder in folders)


def _carry(review, old: str, new: str, current: str | None) -> None:
    """Move the entry, the reviewed labels and the cached prediction of ``old`` to ``new``."""
    labels = review.labels_path(old)  # a Zarr store for a huge image: one too
    in_full = files_stem(review, old) == old != stem_of(old)  # another image had its stem
    if in_full:  # its files stay named in full (a.tif_labels.tif -> a.tiff_labels.tif)
        review._in_full.add(new)
    if labels.exists():
        target = review.output / "labels" / f"{files_stem(review, new)}_labels{labels.suffix}"
        found = (target, review.labels_path(new))  # a.tif -> a.tiff: its own file, in place
        taken = next((p for p in found if p.exists() and p != labels), None)
        if taken is not None:
            review._rename_notes.append(
                f"{old} was renamed {new}, but {taken} exists: its review was not carried "
                f"over (its labels stay in {labels})"
            )
            review._in_full.discard(new)
            return
        try:
            if target != labels:
                os.rename(labels, target)  # one folder: atomic
        except OSError as exc:
            review._rename_notes.append(
                f"{old} was renamed {new}, but its labels could not be moved ({exc}): its "
                "review was not carried over"
            )
            review._in_full.discard(new)
            return
    value = review._missing.pop(old)
    entry = review.entries[new]
    known = {f.name for f in fields(entry)} - {"name"}
    entry = replace(entry, **{k: v for k, v in value.items() if k in known})
    cached, cached_new = review.prediction_path(old), review.prediction_path(new)
    if cached == cached_new:  # the same stem: the prediction is in place
        pass
    elif cached.exists() and not cached_new.exists():
        try:
            os.rename(cached, cached_new)
        except OSError:
            entry.predicted_with = None  # predicted again
    else:  # none, or another file already there: not taken for this image's prediction
        entry.predicted_with = None
    review.entries[new] = entry
    review.renamed.append((old, new))
    review._carried.add(old)
    if current == old:
        review.current = review.names.index(new)


def rename_notes(review) -> list[str]:
    """What the report says of renamed images, and of judged images that left the folder."""
    notes = [f"{old} was renamed {new}: its review carried over" for old, new in review.renamed]
    notes += review._rename_notes
    folders = _folders(review)
    left = sorted(n for n in review._missing if _judged(review, n) and _left(folders, n))
    if left:
        kept = [name for name in left if review.labels_path(name).exists()]
        note = f"{len(left)} reviewed image{'s' * (len(left) > 1)} left the folder: "
        note += ", ".join(left)
        if kept:
            whose = "their" if len(left) > 1 else "its"
            note += f"; {whose} labels stay in {review.output / 'labels'}"
        notes.append(note)
    return notes
