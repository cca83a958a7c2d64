"""The Weight map dock's edit watch, and its maps shaped as the labels layer."""

from __future__ import annotations

import numpy as np

__all__ = ["EditWatch", "layer_shaped"]


def layer_shaped(maps: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The maps of a ``(Y, X, 1)`` labels layer (computed as ``(Y, X)``) in the layer's shape.

    Before, the 2D maps were placed with the layer's three-axis scale and translate: napari
    raised, no layer appeared and the dock's status said "Computing..." for good.
    """
    shape = tuple(shape)
    return tuple(
        m.reshape(shape) if m.shape != shape and m.size == int(np.prod(shape)) else m for m in maps
    )


class EditWatch:
    """Calls ``callback`` on every edit of one layer at a time (its data and paint events).

    ``redraw``, if given, is called when the layer is redrawn (``set_data``: an undo or a
    redo of a Labels layer, but also a new slice), which may or may not be an edit.
    """

    def __init__(self, callback, redraw=None) -> None:
        self._callbacks = {"data": callback, "paint": callback, "set_data": redraw}
        self.layer = None

    def follow(self, layer) -> bool:
        """Watch ``layer`` (None: nothing) instead; True when it is another layer than before."""
        if layer is self.layer:
            return False
        for event, callback in self._events(self.layer):
            event.disconnect(callback)
        self.layer = layer
        for event, callback in self._events(layer):
            event.connect(callback)
        return True

    def _events(self, layer) -> list:
        if layer is None:
            return []
        return [
            (getattr(layer.events, name), callback)
            for name, callback in self._callbacks.items()
            if callback is not None and hasattr(layer.events, name)
        ]
