"""The Annotate dock closed, and its n key (used by :mod:`napari_unet.widgets.annotate`).

Closing the dock ends its session as *Start annotating* on another image does: what is
unsaved is written, its timers stop, its project folder is free for another session, and
its annotations layer stays read-only (with its undo history) until a dock starts its image
again. Before, a closed dock's session went on unseen: it kept autosaving and kept its
project folder, and a dock reopened from the Plugins menu was refused Start on that image.

n adds a cell to the layer it is pressed on, in the session that annotates that layer.
Before, n on an earlier session's layer gave the current session's layer a new id and
switched its tool to paint. The key holds its dock weakly and is unbound from the layers
the dock bound it on when the dock closes: before, n stayed bound after the dock was
removed and kept the removed dock (and all it held) alive for as long as the layer.
"""

from __future__ import annotations

import contextlib
import weakref

from napari.utils.key_bindings import coerce_keybinding

from napari_unet.widgets._annotate_edits import real
from napari_unet.widgets._docking import when_deleted
from napari_unet.widgets._layers import CloseWatcher

__all__ = ["bind_new_cell", "end_when_closed", "new_cell_key", "session_closed"]

#: Every Annotate dock: n on a layer goes to the dock whose session annotates it.
_DOCKS: weakref.WeakSet = weakref.WeakSet()
#: The n key, as napari's keymaps hold it.
_N = coerce_keybinding("n")


def end_when_closed(dock) -> None:
    """End ``dock``'s session when its dock is closed (its x, or napari deleting it)."""
    _DOCKS.add(dock)
    dock._n_layers = weakref.WeakSet()  # the layers it bound n on (:func:`bind_new_cell`)
    dock._n_ref = weakref.ref(dock)  # what its n holds
    dock._dock_watcher = CloseWatcher(dock._closed, confirmed=True)
    dock.native.installEventFilter(dock._dock_watcher)
    when_deleted(dock, "_closed")


def session_closed(dock) -> None:
    """The dock was closed: end its session; the next dock to start its image takes it up."""
    _DOCKS.discard(dock)
    with contextlib.suppress(RuntimeError):  # timers and labels Qt already deleted
        dock._counts_timer.stop()
    with contextlib.suppress(RuntimeError):  # its buttons are gone once Qt deleted the dock
        dock._detach()  # saved; the layer read-only; its project folder free
    dock._locks.hand_over()  # its undo history, for the dock that starts its image next
    for layer in list(dock._n_layers):  # n no longer calls on the closed dock
        if getattr(layer.keymap.get(_N), "dock", None) is dock._n_ref:
            layer.bind_key("n", None)
    dock._n_layers.clear()


def bind_new_cell(dock, layer) -> None:
    """Bind n on ``layer`` to ``dock``'s :func:`new_cell_key`, the dock held weakly."""
    ref = dock._n_ref

    def new_cell(pressed) -> None:
        owner = ref()
        if owner is not None:
            new_cell_key(owner, pressed)

    new_cell.dock = ref
    layer.bind_key("n", new_cell, overwrite=True)
    dock._n_layers.add(layer)


def new_cell_key(dock, layer) -> None:
    """The n key on ``layer``: a new cell in the session annotating it; else say why not."""
    for other in (dock, *_DOCKS):
        if other._annotations is not None and real(other._annotations) is real(layer):
            other._new_cell()
            return
    dock._set_status(
        f"n does nothing on {layer.name!r}: no session annotates it now (it is read-only). "
        "Pick its image and press Start annotating to add cells to it."
    )
