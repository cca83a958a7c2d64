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

__all__ = ["private", "set_private"]


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
