"""Stored labels that no longer fit their image (an image re-acquired at another size).

The reviewed labels of an image whose file changed since it was reviewed, and whose shape is
no longer the image's, are moved aside (``labels/<stem>_labels.old.tif``) and the image is
predicted again. Before, the shape error blocked the image for good. Labels that do not fit
an unchanged image (a label file of another image) stay an error, which says what to do.
"""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.review.stems import files_stem

__all__ = ["SET_ASIDE_ENDING", "free_name", "refit", "set_aside"]

#: What the name of labels set aside ends with before its suffix: ``<stem>_labels.old.tif``
#: (``.old2``, ``.old3``... when taken); ``measure`` and ``evaluate`` skip such files.
SET_ASIDE_ENDING = "_labels.old"


def free_name(path: Path) -> Path:
    """``path``, or ``NAME2.SUFFIX``, ``NAME3.SUFFIX``...: the first that does not exist."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}{n}{path.suffix}")
    return candidate


def refit(review, name: str, stored: tuple, shape: tuple, image_shape: tuple, changed: bool):
    """Labels ``stored`` (``(labels, source)``) of image ``name`` do not have ``shape``.

    Reviewed labels of an image whose file ``changed`` are moved aside (:func:`set_aside`);
    otherwise an :class:`InputError` names the labels and what to do.
    """
    labels, source = stored
    if source == "reviewed" and changed:
        set_aside(review, name, labels.shape, shape)
        return
    if source == "reviewed":
        todo = f"move {review.labels_path(name)} elsewhere to predict the image again"
    elif source.startswith("file "):
        todo = "that label file is not of this image: fix or move it"
    else:
        todo = f"delete {review.prediction_path(name)} to predict the image again"
    raise InputError(
        f"{name}: its labels ({source}) have shape {labels.shape}, the image {image_shape}; {todo}"
    )


def set_aside(review, name: str, was: tuple, now: tuple) -> Path:
    """Move the reviewed labels of ``name`` aside; returns where they went.

    To ``labels/<stem>_labels.old.tif`` (``.old2``...: never over another file); an image
    whose files are named in full: ``labels/a.tif_labels.old.tif``. The image
    is unreviewed again, and its entry says why (``extra["changed"]``, shown by the dock)
    until its next verdict.
    """
    path = review.labels_path(name)
    aside = free_name(path.with_name(f"{files_stem(review, name)}{SET_ASIDE_ENDING}{path.suffix}"))
    path.rename(aside)
    status = review.entries[name].status
    review.set_status(name, "unreviewed")
    review.mark_edited(name, False)
    entry = review.entries[name]
    entry.source = entry.objects = None
    entry.extra["changed"] = (
        f"{name} changed since it was reviewed ({status}) and no longer fits its labels "
        f"(shape {now}, the labels {was}): they were moved to labels/{aside.name}, and it "
        "is predicted again"
    )
    review.save()
    return aside
