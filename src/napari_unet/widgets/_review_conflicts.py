"""A second session on the Review dock's output folder: its labels and verdicts are kept.

Two windows (or a window and a console) may review one output folder. When the other
session saved an image's labels, or judged it, after this window showed that image, this
window's verdict on it is refused with a message (:func:`may_judge`): its labels in the
layer are of before the other session's. Pressing the same verdict again replaces the other
session's labels and verdict on purpose. Edits saved on leaving the image or by the
autosave never go over the other session's labels: the review keeps them in
``OUTPUT/conflicts/`` (:mod:`napari_unet.core.review.guard`), and the image is read again
from disk when it is next shown.
"""

from __future__ import annotations

from dataclasses import replace

from napari_unet.core.review.reviewfile import saved_entries
from napari_unet.widgets import _layers

#: The button of each verdict, as the messages name it.
BUTTONS = {"accepted": "Accept", "needs-work": "Needs work", "rejected": "Reject"}


def shown(dock, name: str) -> None:
    """An image is shown: what this window knows of its entry (its ``updated``) is noted."""
    dock._entry_seen = dock.review.entries[name].updated
    dock._conflict = dock._conflict_note = None


def noted(dock, text: str) -> None:
    """Labels were kept aside (queued from the writer): say so until the next image shows.

    Kept in the status line, which the shown image's measurement writes again meanwhile.
    """
    if dock.review is not None:
        _layers.report_error(dock._status, text)
        dock._conflict_note = text


def labels_changed(dock, name: str) -> bool:
    """Whether another session saved labels of ``name`` since this window read or saved them."""
    return dock.review.guard.changed(name)


#: What another session did that leaves this window's labels behind the disk's.
SAVED_LABELS = "saved its labels of this image"


def _why(dock, name: str) -> str | None:
    """What another session did to ``name`` since this window showed it (None: nothing)."""
    if labels_changed(dock, name):
        return SAVED_LABELS
    dock.writer.flush()  # this window's own saves on disk first: those are no conflict
    saved = saved_entries(dock.review.review_file).get(name)
    updated = None if saved is None else saved.get("updated")
    if saved is None or updated == dock._entry_seen or dock.review.guard.mine(name, updated):
        return None
    return f'judged this image "{saved.get("status", "unreviewed")}"'


def may_judge(dock, name: str, status: str) -> bool:
    """Whether this window may give ``name`` a verdict now; if not, the dock says why.

    Refused when another session saved the image's labels or verdict since this window
    showed it; the same verdict pressed again right after is given on purpose (this
    window's labels then replace the other session's).
    """
    verdict = "accepted" if status == "corrected" else status
    if dock._conflict == (name, verdict):  # pressed again: on purpose
        dock.review.guard.take_over(name)
        saved = saved_entries(dock.review.review_file).get(name) or {}
        dock._entry_seen, dock._conflict = saved.get("updated"), None
        return True
    why = _why(dock, name)
    if why is None:
        return True
    dock._conflict = (name, verdict)
    button = BUTTONS.get(verdict, verdict)
    if why != SAVED_LABELS:  # its verdict alone: the labels on disk are this window's
        what = ("This window's labels are still in the layer; leaving the image saves them "
                "under the other session's verdict. To give this window's verdict instead, "
                f"press {button} again.")  # fmt: skip
    else:
        what = ("This window's labels are still in the layer, not saved. To see the other "
                "session's, go to another image and back (this window's edits are then kept "
                f"in {dock.review.output.name}/conflicts/); to replace the other session's "
                f"labels and verdict with this window's, press {button} again.")  # fmt: skip
    _layers.report_error(
        dock._status,
        f"{name}: another session (a second window or a console) {why} since this window "
        f"showed it; nothing was overwritten and no verdict given. {what}",
    )
    return False


def forget(dock, name: str) -> None:
    """Have the image read from disk when next shown (the other session's labels).

    The prefetcher drops an item whose image-file stamp is not the file's at its next
    ``want`` (the dock's next move): the one kept is given a stamp no file has.
    """
    item = dock.prefetcher.get(name)
    if item is not None:
        dock.prefetcher.put(replace(item, stamp=()))
