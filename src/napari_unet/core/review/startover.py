"""An image whose reviewed labels file vanished starts over.

The reviewed labels of an image (``OUTPUT/labels/<stem>_labels.tif``) may be removed on
purpose, to start the image over, or vanish with the output folder. They are nobody's labels
then (:mod:`~napari_unet.core.review.guard`), and the entry no longer describes what is
shown: the image is shown as it came (a label file of the labels folder, the cached
prediction, or a new one). Before, the entry kept ``source="reviewed"`` and the reviewed
labels' object count (the dock said "24 objects from reviewed" over a 23-object prediction),
and ``corrected``: **Accept** without an edit recorded "corrected", and Export and **Train
on corrected** took the bare prediction for a correction.
"""

from __future__ import annotations

from napari_unet.core.review.reviewfile import locked

#: Verdicts given on the labels themselves: without them, the image is unreviewed again.
ON_LABELS = ("accepted", "corrected")


def start_over(review, name: str) -> bool:
    """Forget the reviewed labels of ``name`` when its entry has some and their file is gone.

    The entry's ``source`` and ``objects`` go (counted again from the labels shown), and so
    does the note that they were edited. An accepted or corrected image is unreviewed again,
    and its entry says why (``extra["changed"]``, shown by the dock, kept until its next
    verdict); a rejected image or one that needs work keeps its verdict. Returns whether
    the image started over. Checked and changed under the review's lock and the review
    file's lock, in the order a save takes them: a Zarr store renamed aside for a moment by
    such a save is no vanished file, and a save meanwhile is not undone.
    """
    if review.entries[name].source != "reviewed":
        return False
    with review._lock, locked(review.review_file):  # save()'s order: no save in between
        if review.labels_path(name).exists():
            return False
        entry = review.entries[name]
        if entry.source != "reviewed":  # another thread's save or start-over came first
            return False
        _forget(review, name, entry)
    return True


def _forget(review, name: str, entry) -> None:
    entry.source = entry.objects = None
    entry.extra.pop("edited", None)
    if entry.status in ON_LABELS:
        was, entry.status = entry.status, "unreviewed"
        entry.updated = review.guard.stamp(name)
        entry.extra["changed"] = (
            f"{name}: its reviewed labels (labels/{review.labels_path(name).name}) are gone; "
            f"it was {was}, and is unreviewed again, shown with the labels it came with"
        )
