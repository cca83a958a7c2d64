"""Layer-list callbacks kept by their dock: napari holds them weakly, a closed dock leaves none.

napari's event emitters hold a plain function for good and a bound method weakly (dropped
once its object is gone). The Live dock's pickers connected plain closures to the layer
list: every closed Live dock left them connected, called at every layer added, removed,
moved or renamed.
"""

from __future__ import annotations

from collections.abc import Callable

from napari_unet.widgets import _layers

__all__ = ["follow_layers"]


class _Hook:
    """Calls a function; connected as a bound method, so napari holds it weakly."""

    def __init__(self, callback: Callable) -> None:
        self._callback = callback

    def call(self, *args) -> None:
        self._callback(*args)


def follow_layers(dock, callback: Callable) -> None:
    """Call ``callback`` when a layer is added, removed, moved or renamed, while ``dock`` lives.

    The dock keeps the callback (which must hold the dock weakly, if at all); the viewer's
    layer list does not: once the dock is gone, napari drops it at the next event.
    """
    hook = _Hook(callback)
    hooks = getattr(dock, "_layer_hooks", None)
    if hooks is None:
        hooks = dock._layer_hooks = []
    hooks.append(hook)
    _layers.on_layers_changed(dock._viewer, hook.call)
