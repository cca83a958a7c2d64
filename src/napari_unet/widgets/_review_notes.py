"""The out-of-domain warnings of the prediction the Review dock shows.

The prefetch thread finds them when it predicts an image (a grey model averaged the image's
channels that differ, most of the image called foreground, objects much larger than
expected: :mod:`~napari_unet.core.review.domain_notes`) and keeps them with the item. The
dock says them as the Predict dock does: in its status line (``Warning: ...``) while the
image is shown, and as a napari warning the first time the image is shown in a review.
Labels from disk (reviewed, another tool's file) have none.
"""

from __future__ import annotations

__all__ = ["ShownNotes", "notes_of"]


def notes_of(item) -> tuple[str, ...]:
    """The warnings of ``item``'s labels when they are a prediction (else none)."""
    if not str(item.source).startswith("prediction"):
        return ()
    return tuple(getattr(item, "notes", ()) or ())


class ShownNotes:
    """The warnings of the image shown, each image's said once as a napari warning."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.notes: tuple[str, ...] = ()
        self._review = None
        self._said: set[str] = set()

    def show(self, review, item) -> None:
        """``item`` is shown now: keep its warnings; said as a warning if not said before."""
        from napari.utils.notifications import show_warning

        if review is not self._review:  # another review (or the folder opened again)
            self._review, self._said = review, set()
        self.name, self.notes = item.name, notes_of(item)
        if self.notes and item.name not in self._said:
            self._said.add(item.name)
            for text in self.notes:
                show_warning(f"{item.name}: {text}")

    def line(self, shown: str | None) -> str:
        """What the status line adds for the image ``shown`` (``""``: no warning)."""
        if shown is None or shown != self.name:
            return ""
        return "".join(f"\nWarning: {text}" for text in self.notes)
