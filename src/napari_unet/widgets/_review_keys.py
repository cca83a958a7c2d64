"""The Review dock's keys in the viewer's keymap: held weakly, taken out when the dock closes.

The dock binds PageDown, PageUp, Home, Alt+A, Alt+W and Alt+R on the viewer
(:data:`~napari_unet.widgets._review_form.KEYS`). Before, they stayed bound after the dock
was removed, and their functions held the removed dock (its images, its threads' objects)
for as long as the viewer lived. Now each key holds the dock by a weak reference, and
removing the dock (or closing napari) takes its keys out (:func:`unbind_keys`): a key another
dock or the user bound since is left alone, and one the dock took over is given back (unless
it was a Review dock's that closed since). A removed dock added again binds them again when
it opens a folder.
"""

from __future__ import annotations

import weakref

from napari_unet.widgets._review_form import KEYS

__all__ = ["bind_keys", "unbind_keys"]


def _key_function(dock, method: str, what: str):
    """What a key calls: ``dock.<method>()`` while the dock lives and has not closed."""
    ref = weakref.ref(dock)

    def press(_viewer) -> None:
        found = ref()
        if found is not None and not press.closed:
            getattr(found, method)()

    press.__name__ = press.__qualname__ = f"review_{method}"
    press.__doc__ = f"Review: {what}."
    press.dock, press.closed, press.previous = ref, False, None
    return press


def _live(func) -> bool:
    """Whether ``func`` may be bound again: not a Review key whose dock closed or went."""
    if getattr(func, "dock", None) is None or not hasattr(func, "closed"):
        return True  # another binding (the user's, napari's)
    return not func.closed and func.dock() is not None


def bind_keys(viewer, dock, bound: dict | None = None) -> dict:
    """Bind the Review keys of ``dock`` on ``viewer``; returns ``key -> function`` bound.

    ``bound``: what an earlier call returned; kept as it is unless :func:`unbind_keys` took
    it out since.
    """
    if bound and not any(press.closed for press in bound.values()):
        return bound
    bound = {}
    for key, (method, what) in KEYS.items():
        press = _key_function(dock, method, what)
        press.previous = viewer.bind_key(key, press, overwrite=True)
        bound[key] = press
    weakref.finalize(dock, unbind_keys, viewer, bound).atexit = False  # dropped undocked
    return bound


def unbind_keys(viewer, bound: dict) -> None:
    """Take out the keys :func:`bind_keys` bound, where they are still the dock's own."""
    from napari.utils.key_bindings import coerce_keybinding

    for key, press in bound.items():
        press.closed = True
        if viewer.keymap.get(coerce_keybinding(key)) is not press:
            continue  # bound since by another dock or the user: theirs now
        previous = press.previous
        while previous is not None and not _live(previous):
            previous = getattr(previous, "previous", None)
        viewer.bind_key(key, previous, overwrite=True)  # None: unbound
