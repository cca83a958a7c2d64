"""Read-only locks on Labels layers that nest: a layer stays read-only until all let go.

Three docks make an annotations layer read-only for a while: Evaluate while it copies
the layers (:class:`~._evaluate_work.ReadOnly`), the Annotate dock while *Accept
prediction* writes into it, and the Annotate dock for good while no session saves it
(:class:`~._annotate_edits.LockedLayers`). Each gave the layer back as it had found it;
before, Evaluate's release made editable a layer that Annotate had meanwhile left read-only
(its strokes were never saved) and unlocked a layer mid-accept. Here each holder takes
the layer (:func:`hold`) and lets go (:func:`release`); only the last gives it back, with
what it was before the first one took it (editable or not, its mode, its undo history,
which napari drops from a layer made read-only).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from napari_unet.widgets import _history
from napari_unet.widgets._private import real

__all__ = ["Before", "hold", "holders", "release"]


@dataclass
class Before:
    """A layer as it was before its first holder took it."""

    editable: bool
    mode: str
    history: tuple  # napari's (undo, redo) deques, or (None, None)
    data: Any  # its data then: new data since means the history is another array's
    holders: list = field(default_factory=list)
    cleared: int = 0  # its history started afresh since (a part written in place): too

    def data_kept(self, layer) -> bool:
        """Whether ``layer`` holds the same data, and history, as when it was first taken."""
        layer = real(layer)
        same = getattr(layer, "data", None) is self.data
        return same and _history.times_cleared(layer) == self.cleared


_HELD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hold(layer, holder) -> Before:
    """Make ``layer`` read-only for ``holder`` (again: nothing more); what it was before."""
    layer = real(layer)
    before = _HELD.get(layer)
    if before is None:
        history = _history.history_deques(layer) or (None, None)
        before = Before(layer.editable, str(layer.mode), history, getattr(layer, "data", None))
        before.cleared = _history.times_cleared(layer)
        _HELD[layer] = before
    if not any(h is holder for h in before.holders):
        before.holders.append(holder)
    if layer.editable:
        layer.editable = False
    return before


def release(layer, holder, history: tuple | None = None) -> Before | None:
    """``holder`` lets ``layer`` go; None while another holder keeps it read-only.

    Else what it was before the first holder took it (a layer no one held: as it is now),
    for the caller to give back. ``history``: the undo history kept for it instead of the
    one noted at the first hold (the last holder gets that one).
    """
    layer = real(layer)
    before = _HELD.get(layer)
    if before is None:
        data = getattr(layer, "data", None)
        return Before(layer.editable, str(layer.mode), history or (None, None), data)
    before.holders = [h for h in before.holders if h is not holder]
    if history is not None and history != (None, None):
        before.history = history
    if before.holders:
        return None
    _HELD.pop(layer, None)
    return before


def holders(layer) -> list:
    """Who holds ``layer`` read-only now (empty: no one)."""
    before = _HELD.get(real(layer))
    return [] if before is None else list(before.holders)
