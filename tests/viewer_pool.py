"""One napari viewer per test process, handed to one test after another.

napari's own ``make_napari_viewer`` fixture makes and closes a whole Qt main window for
every test: about 0.4 s of a warm test process each time (109 Predict dock tests in one
process: 237 s with napari's fixture, 195 s with this one, measured back to back), for some
750 tests. Here the first ``make_napari_viewer()`` of a test (no arguments, not shown) gets
the process's kept viewer instead, put back as a fresh one would be before the test gets
it: its dock widgets and layers removed, what earlier tests connected to its events
disconnected (a removed dock may live on, held by a worker napari keeps: it would pick up
the next test's layers), its model (dims, camera, grid, overlays, title...) and key
bindings as they were when it was made. Any other call (arguments, ``show=True``, a second
viewer in the same test) gets a new viewer, closed after the test as napari's fixture does.

A test that closes the kept viewer (or its window) just closes it: the next test gets a new
one. A test marked ``fresh_viewer`` always gets a new viewer. A test that fails discards
the kept viewer, so that what it left cannot reach the tests after it. With
``NAPARI_UNET_FRESH_VIEWERS=1`` every test gets napari's own fixture (tests/conftest.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from contextlib import suppress
from unittest.mock import patch

import pytest

#: Fields of the viewer model that are not put back (the layers are removed instead).
_NOT_RESET = {"layers", "size", "mouse_over_canvas"}


class _Kept:
    viewer = None
    state: dict | None = None
    keymap: dict | None = None


def _alive(viewer) -> bool:
    """Whether the viewer's window is still there (a test may have closed it)."""
    window = getattr(viewer, "window", None)
    qt_window = getattr(window, "_qt_window", None)
    if qt_window is None:
        return False
    from napari._qt.qt_main_window import _QtMainWindow

    try:
        qt_window.objectName()  # raises once Qt has deleted the window
    except RuntimeError:
        return False
    # a closed window (its close button, viewer.close()) leaves napari's list of windows
    return qt_window in _QtMainWindow._instances and getattr(window, "_qt_viewer", None) is not None


def _close(viewer) -> None:
    """Close a viewer as napari's fixture does: without saving the window settings."""
    with suppress(AttributeError, RuntimeError):
        qt_window = viewer.window._qt_window
        with patch.object(qt_window, "_save_current_window_settings"):
            viewer.close()
            return
    with suppress(AttributeError, RuntimeError):
        viewer.close()


def _fields(model) -> list[str]:
    fields = getattr(type(model), "model_fields", None) or type(model).__fields__
    return [name for name in fields if name not in _NOT_RESET]


def _snapshot(value):
    """A model's settings as nested dicts (models, and mappings of models), copies below."""
    from napari.utils.events import EventedModel

    if isinstance(value, EventedModel):
        return {name: _snapshot(getattr(value, name)) for name in _fields(value)}
    if isinstance(value, Mapping):
        return {key: _snapshot(v) for key, v in value.items()}
    return copy.copy(value)


def _restore(model, saved: dict) -> None:
    """Put a model's settings back from :func:`_snapshot`, nested models in place."""
    from napari.utils.events import EventedModel

    for name, value in saved.items():
        current = model[name] if isinstance(model, Mapping) else getattr(model, name)
        if isinstance(value, dict) and isinstance(current, (EventedModel, Mapping)):
            known = (k for k in value if not isinstance(current, Mapping) or k in current)
            _restore(current, {k: value[k] for k in known})
        elif not _same(current, value):
            if isinstance(model, Mapping):
                model[name] = copy.copy(value)
            else:
                setattr(model, name, copy.copy(value))


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _emitters(viewer) -> list:
    """Every event emitter of the viewer's model: its own, its layer list's, nested models'."""
    from napari.utils.events import EmitterGroup, EventedModel

    found, todo, seen = [], [viewer, viewer.layers, viewer.layers.selection], set()
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        group = getattr(obj, "events", None)
        if isinstance(group, EmitterGroup):
            found += [group, *group.emitters.values()]
        if isinstance(obj, EventedModel):
            todo += [getattr(obj, name) for name in _fields(obj)]
        elif isinstance(obj, Mapping):
            todo += list(obj.values())
    return found


def _ours(callback) -> bool:
    """Whether a callback is napari's own (kept), not a dock's or a test's (disconnected)."""
    import functools

    if isinstance(callback, functools.partial):
        callback = callback.func
    if isinstance(callback, tuple):  # (weakref to an object, method name)
        obj = callback[0]()
        module = "" if obj is None else type(obj).__module__
    else:
        module = getattr(callback, "__module__", None) or type(callback).__module__
    return module.split(".")[0] in ("napari", "vispy", "app_model", "superqt", "psygnal")


def _disconnect_others(viewer) -> None:
    """Disconnect what earlier tests connected to the viewer's events (a dock still alive).

    A dock removed from the window may live on (a worker napari keeps holds it), still
    connected to the viewer's layer list: it would pick up the next test's layers.
    """
    for emitter in _emitters(viewer):
        keep = [i for i, cb in enumerate(emitter._callbacks) if _ours(cb)]
        for name in ("_callbacks", "_callback_refs", "_callback_pass_event"):
            items = getattr(emitter, name)
            setattr(emitter, name, [items[i] for i in keep])


def _reset(viewer) -> None:
    """Put a kept viewer back as it was made: no docks, no layers, its first settings."""
    viewer.window.remove_dock_widget("all")
    _disconnect_others(viewer)
    viewer.layers.clear()
    _restore(viewer, _Kept.state)
    viewer.keymap.clear()
    viewer.keymap.update(_Kept.keymap)
    viewer.reset_view()


def _kept_viewer():
    from napari import Viewer

    if _Kept.viewer is not None and _alive(_Kept.viewer):
        _reset(_Kept.viewer)
        return _Kept.viewer
    _Kept.viewer = viewer = Viewer(show=False, show_welcome_screen=False)
    _Kept.state = _snapshot(viewer)
    _Kept.keymap = dict(viewer.keymap)
    return viewer


def _discard_kept() -> None:
    if _Kept.viewer is not None:
        viewer, _Kept.viewer = _Kept.viewer, None
        _close(viewer)


@pytest.fixture
def make_napari_viewer(qtbot, request, monkeypatch):
    """napari's ``make_napari_viewer``, with one viewer kept between tests (see module)."""
    from napari import Viewer
    from napari.settings import get_settings

    monkeypatch.setattr("napari._qt.threads.status_checker.StatusChecker.start", lambda *a: None)
    if "enable_console" not in request.keywords:
        from qtpy.QtWidgets import QWidget

        def _dummy_console(*_):
            widget = QWidget()
            widget._update_theme = lambda *a: None
            return widget

        monkeypatch.setattr("napari._qt.qt_viewer.QtViewer._get_console", _dummy_console)
    fresh = request.node.get_closest_marker("fresh_viewer") is not None
    made = []
    used_kept = []

    def factory(*args, ViewerClass=Viewer, strict_qt=None, **kwargs):
        kwargs.setdefault("show_welcome_screen", False)
        plain = not args and ViewerClass is Viewer and not kwargs.get("show", False)
        plain = plain and set(kwargs) <= {"show", "show_welcome_screen"}
        if plain and not fresh and not used_kept and not made:
            used_kept.append(True)
            return _kept_viewer()
        kwargs["show"] = kwargs.get("show", False)
        viewer = ViewerClass(*args, **kwargs)
        made.append(viewer)
        if kwargs["show"]:
            qtbot.wait_exposed(viewer.window._qt_window, timeout=5000)
        return viewer

    yield factory

    with suppress(AttributeError):
        get_settings().reset()
    for viewer in made:
        _close(viewer)
    failed = getattr(request.node, "rep_call", None)
    if used_kept and (failed is None or failed.failed):
        _discard_kept()


def discard_at_exit() -> None:
    """Close the kept viewer when the test process ends."""
    _discard_kept()
