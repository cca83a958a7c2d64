"""The Review dock's keys leave the viewer's keymap with the dock, and never hold it.

Old: PageDown, PageUp, Home, Alt+A, Alt+W and Alt+R stayed bound on the viewer after the
Review dock was removed, their functions holding the removed dock (and what it held) for as
long as the viewer lived.
"""

from __future__ import annotations

import gc
import weakref

import pytest

pytest.importorskip("napari")

KEYS = ("PageDown", "PageUp", "Home", "Alt-A", "Alt-W", "Alt-R")


def _bound(viewer, key):
    from napari.utils.key_bindings import coerce_keybinding

    return viewer.keymap.get(coerce_keybinding(key))


def test_removing_the_dock_takes_its_keys_out(make_napari_viewer, qtbot):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer(show=False)

    def own_home(_viewer):  # the user's own binding, taken over by the dock
        return None

    viewer.bind_key("Home", own_home)
    first, second = ReviewWidget(viewer), ReviewWidget(viewer)
    docks = [viewer.window.add_dock_widget(w, name=n) for w, n in [(first, "A"), (second, "B")]]
    viewer.bind_key("Alt-R", own_home, overwrite=True)  # bound after the docks: the user's
    assert all(_bound(viewer, k) is not None for k in KEYS)
    viewer.window.remove_dock_widget(docks[1])  # the second dock's keys go to the first's
    moved = [k for k in KEYS if k != "Alt-R"]
    assert all(getattr(_bound(viewer, k), "dock", lambda: None)() is first for k in moved)
    viewer.window.remove_dock_widget(docks[0])
    assert [k for k in KEYS if _bound(viewer, k) is not None] == ["Home", "Alt-R"]
    assert _bound(viewer, "Home") is own_home and _bound(viewer, "Alt-R") is own_home


def test_the_keys_never_keep_a_dropped_dock_alive(make_napari_viewer):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer(show=False)
    widget = ReviewWidget(viewer)  # never docked: nothing but the keymap could hold it
    gone = weakref.ref(widget)
    del widget
    gc.collect()
    assert gone() is None  # old: held by the keys' functions for the viewer's life
    assert all(_bound(viewer, k) is None for k in KEYS)
