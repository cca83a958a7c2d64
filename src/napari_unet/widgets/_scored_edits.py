"""The scored layers of the Evaluate dock's tables edited since those tables were made."""

from __future__ import annotations

from napari_unet.widgets._redrawn import REDRAW, edited_since, labels_fingerprint


class ScoredEdits:
    """The names of the scored layers edited since a run began (painted, erased, new data).

    Before, tables stayed current after the ground truth was corrected with the brush or
    its data replaced (accepted, reloaded): "AP 1.000" for labels no longer shown. Each
    edit calls ``on_edit`` (the dock greys its tables and says why). ``names`` are those
    of the tables shown; a run records its own (:meth:`watch`) and they become the
    tables' only when it ends with results (:meth:`adopt`). Before, a run's start forgot
    the tables' record, and after a Cancel or a failed run the tables were current again
    for a ground truth edited since.

    An undo or redo (Ctrl+Z) sends only napari's ``set_data``, as a new slice does: a
    Labels layer redrawn counts as edited when it differs from when the run began
    (:func:`._redrawn.edited_since`). Before, the tables of a stroke undone after
    Evaluate looked current.
    """

    EVENTS = ("data", "paint", "labels_update")

    def __init__(self, on_edit) -> None:
        self.on_edit = on_edit
        self.names: list[str] = []
        self._watched: list = []  # (layer, event, callback) of the tables shown
        self._run: tuple[list[str], list] | None = None  # (names, watched) of a run

    def watch(self, layers) -> None:
        """A run begins: record edits of ``layers`` from now on, apart from ``names``."""
        self.drop()
        names: list[str] = []
        self._run = (names, self._connect(layers, names))

    def adopt(self) -> None:
        """The run ended with results: its record is now the tables'."""
        if self._run is not None:
            self._disconnect(self._watched)
            (self.names, self._watched), self._run = self._run, None

    def drop(self) -> None:
        """The run ended without results (cancelled, failed): its record goes."""
        if self._run is not None:
            self._disconnect(self._run[1])
            self._run = None

    def forget(self, layers) -> None:
        """Stop watching the tables' layers no longer in ``layers`` (removed: not kept alive).

        Their names stay in ``names``: the tables say they were edited or removed.
        """
        kept = [w for w in self._watched if any(w[0] is layer for layer in layers)]
        self._disconnect([w for w in self._watched if w not in kept])
        self._watched = kept

    def close(self) -> None:
        """Report no more edits (the dock is closing)."""
        self.drop()
        self._disconnect(self._watched)
        self._watched, self.names = [], []

    def _connect(self, layers, names: list[str]) -> list:
        watched = []
        for layer in layers:
            edited, redrawn = self._callbacks(layer, names)
            for event in self.EVENTS:
                emitter = getattr(layer.events, event, None)
                if emitter is not None:
                    emitter.connect(edited)
                    watched.append((layer, event, edited))
            if hasattr(layer.events, "paint"):  # Labels: an undo or redo only redraws it
                getattr(layer.events, REDRAW).connect(redrawn)
                watched.append((layer, REDRAW, redrawn))
        return watched

    @staticmethod
    def _disconnect(watched: list) -> None:
        for layer, event, callback in watched:
            getattr(layer.events, event).disconnect(callback)

    def _callbacks(self, layer, names: list[str]):
        """``(edited, redrawn)``: an edit event, and a redraw that differs from the start."""
        before = [labels_fingerprint([layer])]  # as the run is about to read the layer

        def edited(_event=None) -> None:
            before.clear()  # edited: redraws tell nothing more (nor keep its old array)
            if layer.name not in names:
                names.append(layer.name)
            self.on_edit()

        def redrawn(_event=None) -> None:  # read-only (being copied): history held apart
            if before and layer.editable and edited_since(before[0], [layer]):
                edited()

        return edited, redrawn
