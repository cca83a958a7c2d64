"""Callbacks for napari's workers that never keep a closed dock alive.

napari keeps every worker made while a viewer is open (its task manager's list, to cancel
them all when the window closes), and with it what the worker's signals are connected to:
a function holding a dock kept that dock, closed, for good (with its model and layers).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

__all__ = ["weakly"]


def weakly(owner, method: str | Callable, *tail):
    """A callback calling ``owner.<method>(*args, *tail)`` while ``owner`` lives.

    ``method`` is the name of ``owner``'s method, or a function, called as
    ``method(owner, *args, *tail)``. ``owner`` is held by a weak reference: the callback
    never keeps it alive; once it is gone the callback does nothing.
    """
    ref = weakref.ref(owner)

    def call(*args):
        target = ref()
        if target is None:
            return None
        if isinstance(method, str):
            return getattr(target, method)(*args, *tail)
        return method(target, *args, *tail)

    return call
