"""What the Annotate dock counts as an edit, and the layers it no longer saves.

napari sends the labels ``set_data`` event at every redraw (moving the plane slider, showing
a hidden layer), and the same event (and nothing else) after Ctrl+Z and Ctrl+Shift+Z;
on a hidden layer undo sends no event at all. :class:`EditWatcher` tells them apart by
napari's undo history: a paint or data event is an edit, a redraw only refreshes the
counts, and a change of the undo history (looked at after each redraw and a few times a
second) is an undo or redo. Before, a redraw counted as an edit: moving the slider of a
session that painted nothing wrote an empty project.

A redraw with the undo history unchanged may still be a script's in-place edit
(``labels.data[20:30, 20:30] = 9; labels.refresh()``, as napari documents): it is handed
on as a possible edit (``on_edit``), and the dock's autosave compares the layer with its
last save in a worker and writes only what differs (an untouched session writes nothing).
Before, such an edit was saved only at the next stroke or on closing. Painting sends no
redraw; a redraw costs the GUI thread only a timer restarted.

:class:`LockedLayers` keeps an annotations layer the dock no longer saves (Start on another
image, the image layer removed) read-only, with its undo history kept for when its image
is started again: before, strokes painted on it were never saved. Its lock nests with
Evaluate's and an accept's (:mod:`._held_layers`): the last to let go makes it editable.

The id *New cell* handed out (:attr:`EditWatcher.fresh`) stays a new cell's: an undo, redo
or another dock's write that brings it into use moves the selected label on to the next
free id. Before, n after Ctrl+Z picked the undone cell's id, Ctrl+Shift+Z brought that cell
back, and the next cell painted merged with it.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
from qtpy.QtCore import QTimer

from napari_unet.core.annotation.edits import next_free_id
from napari_unet.core.errors import InputError
from napari_unet.widgets import _history
from napari_unet.widgets._evaluate_work import restore_history
from napari_unet.widgets._held_layers import hold, release
from napari_unet.widgets._private import real

__all__ = ["POLL_MS", "EditWatcher", "LockedLayers", "chosen_file", "read_only_why", "real"]

#: Milliseconds between two looks at the undo history (an undo on a hidden layer).
POLL_MS = 300


def chosen_file(value) -> Path | None:
    """The file a FileEdit names; None when empty (its value is then ``Path('.')``) or a folder."""
    if value is None or str(value).strip() in ("", "."):
        return None
    path = Path(value)
    return None if path.is_dir() else path


class EditWatcher:
    """Call ``on_edit()`` at each real edit of a Labels layer, ``on_redraw()`` at redraws.

    Where this napari keeps no readable undo history, a redraw may be an undo: ``on_edit``
    is called too, and the dock saves what differs.
    """

    def __init__(self, parent, on_edit: Callable[[], None], on_redraw: Callable[[], None]):
        self.layer = None
        self._on_edit, self._on_redraw = on_edit, on_redraw
        self._seen: tuple | None = None
        #: The id the dock handed out as a new cell's (New cell, n) until a stroke paints it.
        self.fresh: int | None = None
        self.timer = QTimer(parent)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.check)

    def attach(self, layer) -> None:
        """Watch ``layer`` (a Labels layer) until :meth:`detach`."""
        self.detach()
        self.layer = layer  # before _history() reads it: on None it said "no history"
        self._seen = self._history()
        layer.events.paint.connect(self._edited)
        layer.events.data.connect(self._edited)
        layer.events.set_data.connect(self._redrawn)
        self.timer.start()

    def detach(self) -> None:
        """Stop watching."""
        with contextlib.suppress(RuntimeError):  # the timer may be gone at tear-down
            self.timer.stop()
        if self.layer is None:
            return
        self.layer.events.paint.disconnect(self._edited)
        self.layer.events.data.disconnect(self._edited)
        self.layer.events.set_data.disconnect(self._redrawn)
        self.layer = self._seen = None

    def _history(self) -> tuple | None:
        deques = _history.history_deques(self.layer)
        if deques is None:
            return None
        undo, redo = deques
        return len(undo), len(redo), undo[-1] if undo else None, redo[-1] if redo else None

    def _edited(self, event=None) -> None:
        self._seen = self._history() or self._seen
        if getattr(event, "type", None) != "paint":  # the data replaced (a script)
            self._keep_fresh(None)
        elif self._fresh_selected():
            how = _writes(event.value, self.fresh, undoing=False)
            if how in ("stroke", "unknown"):  # the user's own stroke: that cell's id now
                self.fresh = None
            elif how is not None:  # another dock's write (Live's accept), before napari's
                self._keep_fresh(True, _largest(event.value))  # write: above its ids
        self._on_edit()

    def _redrawn(self, _event=None) -> None:
        self._on_redraw()
        if self.layer is None:
            return
        if self._history() is None:
            self._keep_fresh(None)
            self._on_edit()  # no history to tell an undo from a redraw
            return
        if not self.check() and self.layer.editable:
            self._on_edit()  # a script's in-place edit, perhaps: autosave looks (see above)

    def _fresh_selected(self) -> bool:
        return self.fresh is not None and self.layer.selected_label == self.fresh

    def _keep_fresh(self, taken: bool | None, above: int = 0) -> None:
        """Move the selected label on when the fresh id is in use (``taken``; None: look).

        The new id is above every id in use and above ``above``.
        """
        if not self._fresh_selected():
            return
        data = np.asarray(self.layer.data)
        if taken is None:
            taken = bool(np.any(data == self.fresh))
        with contextlib.suppress(InputError):  # no id free: the label stays (n says why)
            nxt = max(next_free_id(data), above + 1) if taken else None
            if nxt is not None and nxt <= np.iinfo(data.dtype).max:
                self.layer.selected_label = self.fresh = nxt

    def _undone_or_redone(self, seen: tuple | None, now: tuple) -> bool | None:
        """Whether the one undo or redo between ``seen`` and ``now`` wrote the fresh id."""
        if seen is None or not self._fresh_selected():
            return None
        undo, redo = _history.history_deques(self.layer)
        how = "unknown"  # several steps (a hidden layer): look at the layer
        if now[:2] == (seen[0] - 1, seen[1] + 1):
            how = _writes(redo[-1], self.fresh, undoing=True)
        elif now[:2] == (seen[0] + 1, seen[1] - 1):
            how = _writes(undo[-1], self.fresh, undoing=False)
        return None if how == "unknown" else how is not None

    def check(self) -> bool:
        """An undo or redo since the last look is an edit (one on a hidden layer too).

        Returns whether one was found (and ``on_edit`` called).
        """
        if self.layer is None or not self.layer.editable:
            return False  # read-only: napari dropped the history, nothing can be painted
        now = self._history()
        if now is None or not (now[0] or now[1]):  # a history napari reset is no edit
            return False
        seen = self._seen
        if (
            seen is not None
            and now[:2] == seen[:2]
            and all(a is b for a, b in zip(now[2:], seen[2:], strict=True))
        ):
            return False
        self._seen = now
        self._keep_fresh(self._undone_or_redone(seen, now))
        self._on_edit()
        return True


def _writes(item, label: int, undoing: bool) -> str | None:
    """How napari's history ``item`` writes ``label``, undone or redone (or painted).

    ``"stroke"``: a brush stroke, fill or polygon of that label alone (napari writes one
    value per step); ``"other"``: among arrays of ids (an accept, an import); None: not;
    ``"unknown"``: an item of another form (another napari's).
    """
    stroke = False
    for atom in item:
        values = _history.atom_values(atom, undoing)
        if values is None:
            return "unknown"
        values = np.asarray(values)
        if np.any(values == label):
            if values.ndim or undoing:
                return "other"
            stroke = True
    return "stroke" if stroke else None


def _largest(item) -> int:
    """The largest id napari's history ``item`` writes (when redone or painted)."""
    values = (_history.atom_values(atom) for atom in item)
    return max((int(np.max(v, initial=0)) for v in values if v is not None), default=0)


#: The annotations layers running sessions save, each with its docks' :class:`LockedLayers`.
_IN_SESSION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Annotations layers an Accept prediction writes into now (its pixels chosen beforehand).
ACCEPTING: weakref.WeakSet = weakref.WeakSet()
#: Annotations layers left read-only because no session saves them (:class:`LockedLayers`).
_LOCKED: weakref.WeakSet = weakref.WeakSet()
#: The holder (:mod:`._held_layers`) of those: one for every dock, as Start in any takes them.
UNSAVED = object()
#: Those a closed dock kept read-only: the layer itself -> its undo history.
_LEFT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Each annotations layer a session saved -> (a weak reference to) the image it annotates.
_IMAGE_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def read_only_why(layer) -> str | None:
    """Why an Annotate dock keeps ``layer`` read-only: ``"accepting"``, ``"unsaved"``, or None.

    Other docks (Live's accepts) ask before writing into a read-only layer: before, they
    wrote into it anyway, and the cells collided with an accept's or were never saved.
    """
    if layer in ACCEPTING:
        return "accepting"
    return "unsaved" if layer in _LOCKED else None


class LockedLayers:
    """Annotations layers left read-only, each with the undo history it had.

    A layer another dock's session still saves (two Annotate docks on one image) is not
    locked: before, Start on another image in one dock made it read-only under the other.
    """

    def __init__(self) -> None:
        self._held: list[tuple] = []

    def _release(self, layer) -> bool:
        """Drop this dock from ``layer``'s sessions; True if another dock's still saves it."""
        owners = _IN_SESSION.get(real(layer))
        if owners is None:
            return False
        owners.discard(self)
        return bool(owners)

    def lock(self, layer) -> None:
        """Make ``layer`` read-only (nothing saves it now); its undo history is kept."""
        if self._release(layer) or any(real(held) is real(layer) for held, _ in self._held):
            return
        history = hold(layer, UNSAVED).history  # as before Evaluate's lock, if it holds it
        self._held.append((layer, history))
        _LOCKED.add(real(layer))

    def unlock(self, layer, image=None) -> None:
        """Make ``layer`` editable again, with its undo history (a session saves it again).

        ``image``: the image it annotates, for :meth:`held_for` once it is read-only again.
        """
        _IN_SESSION.setdefault(real(layer), weakref.WeakSet()).add(self)
        if image is not None:
            _IMAGE_OF[real(layer)] = weakref.ref(real(image))
        _LOCKED.discard(real(layer))
        kept = [i for i, (held, _) in enumerate(self._held) if real(held) is real(layer)]
        history = self._held.pop(kept[0])[1] if kept else _LEFT.pop(real(layer), None)
        before = release(layer, UNSAVED, history)
        if before is None:  # Evaluate or an accept still holds it: editable when they end
            return
        if not layer.editable:
            layer.editable = True
        if history is not None:  # kept by this dock, or by a closed one
            restore_history(layer, *history)

    def held_for(self, image, shape: tuple, viewer):
        """The read-only annotations layer of ``image`` in ``viewer``, whatever its name now.

        This dock's (its latest first), then a closed dock's, then another dock's: Start
        takes it back. Before, Start looked for ``"<image> annotations"`` only: a renamed
        layer stayed read-only for good and a new one was made beside it. None if none is.
        """
        mine = [real(held) for held, _ in reversed(self._held)]
        for layer in (*mine, *list(_LEFT.keys()), *list(_LOCKED)):
            of = _IMAGE_OF.get(layer)
            if (
                of is not None
                and of() is real(image)
                and layer in _LOCKED
                and tuple(layer.data.shape) == tuple(shape)
                and any(real(shown) is layer for shown in viewer.layers)
            ):
                return layer
        return None

    def keep_history(self, layer, history: tuple) -> None:
        """Give held ``layer`` this undo history (its own, from before napari dropped it)."""
        if history != (None, None):
            mine = real(layer)
            self._held = [(held, history if real(held) is mine else h) for held, h in self._held]

    def hand_over(self) -> None:
        """The dock closes: its read-only layers' undo history goes to the next Start."""
        for held, history in self._held:
            _LEFT[real(held)] = history
        self._held = []

    def forget(self, layer) -> None:
        """``layer`` leaves the viewer: keep nothing of it."""
        _LEFT.pop(real(layer), None)
        _IMAGE_OF.pop(real(layer), None)
        self._release(layer)
        if real(layer) in _LOCKED:
            release(layer, UNSAVED)
        _LOCKED.discard(real(layer))
        self._held = [(held, h) for held, h in self._held if real(held) is not real(layer)]
