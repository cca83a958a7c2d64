"""napari's private Labels attributes the docks use, read without napari's plugin warning.

A dock napari builds gets the viewer through a proxy that warns (a ``FutureWarning``,
shown to the biologist as a notification: "Private attribute access ('Labels._redo_history')
in this context ... is deprecated") on every private attribute a plugin reads. The docks use
a few where napari has no public equivalent (the undo history, which napari signals by no
event; the partial redraw a brush stroke uses; outlines set without a redraw), each with a
fallback, said once in a ``RuntimeWarning``, for a napari that no longer has it. Those reads
and writes go through here, which keeps that one warning out of the user's sight and lets a
napari that blocks the access fall back like one that lacks it.
"""

from __future__ import annotations

import warnings

__all__ = ["private", "real", "set_private"]


def private(obj, name: str, default=None):
    """``obj``'s private attribute ``name``, or ``default`` where napari has or gives none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return getattr(obj, name, default)
        except (AttributeError, TypeError):  # blocked by a later napari
            return default


def set_private(obj, name: str, value) -> bool:
    """Set ``obj``'s private attribute ``name``; False where napari refuses it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            setattr(obj, name, value)
        except (AttributeError, TypeError):
            return False
    return True


def real(obj):
    """The napari object itself, not the proxy a dock opened from the Plugins menu is given.

    napari hands each plugin dock a proxy of the viewer, and a new proxy of each layer read
    through it: ``viewer.layers[0] is viewer.layers[0]`` is False, and a layer from an event
    or a picker is never ``is`` one read through the proxy. The docks unwrap the viewer they
    are given, so every layer they hold is napari's own (before, in a dock from the Plugins
    menu, a removed region layer went unseen and a second dock's claim looked foreign).
    """
    return getattr(obj, "__wrapped__", obj)
