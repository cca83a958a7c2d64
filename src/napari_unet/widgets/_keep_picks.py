"""Pickers that keep their layer when the layers change (a rename, a layer added or removed).

magicgui finds a picker's item again by its text, so a renamed layer's picker jumped to
another layer (and back, once put right): :func:`reset_keeping` keeps each picker on its
layer and holds the pickers' signals until the end, so a brief jump is never heard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

__all__ = ["KeepsPicks", "announcing", "reset_keeping"]


def _pickers(widget) -> list:
    """The choice widgets (ComboBox, Select) of a magicgui widget and its containers."""
    from magicgui.widgets.bases import CategoricalWidget, ContainerWidget

    if isinstance(widget, CategoricalWidget):
        return [widget]
    if isinstance(widget, ContainerWidget):
        return [p for child in widget for p in _pickers(child)]
    return []


def reset_keeping(reset: Callable, *widgets) -> None:
    """Call ``reset`` (a ``reset_choices``); each picker of ``widgets`` keeps its layer.

    magicgui finds the chosen item again by its text: a renamed layer was dropped and its
    picker jumped to the first layer, so Evaluate scored against another segmentation and
    Predict segmented another image. Values are kept by object while they are offered, and
    the pickers' signals wait until the end: the brief jump and back stopped Live training
    and reset Predict's settings on a rename; a picker whose value did change says so once.
    """
    kept = [(p, p.value) for w in widgets for p in _pickers(w)]
    combos = [p for p, _ in kept if hasattr(p.native, "currentIndexChanged")]  # not a Select's
    blocked = [(p, p.native.blockSignals(True)) for p in combos]  # no brief jump is heard:
    with contextlib.ExitStack() as held:  # neither by Qt's listeners nor by magicgui's
        for picker, _ in kept:
            held.enter_context(picker.changed.blocked())
        _keep(reset, kept, blocked)
    for picker, value in kept:  # a layer gone: its picker's new choice is said once
        if not _same_pick(picker.value, value):
            _announce(picker)


def _keep(reset: Callable, kept: list, blocked: list) -> None:
    try:  # again after a jump put back: choices that leave out another picker's layer
        for _ in range(2):  # (Evaluate's "compare with") were made during the jump
            reset()
            put = [_put_back(picker, value) for picker, value in kept]
            if not any(put):
                break
    finally:
        for picker, was in blocked:
            picker.native.blockSignals(was)


def _put_back(picker, value) -> bool:
    """Put ``picker`` back on ``value`` (what of it is still offered); whether it had moved."""
    offered = picker.choices
    if isinstance(value, list | tuple):  # a Select: the chosen that remain
        same = [v for v in value if any(v is c for c in offered)]
        if [id(v) for v in same] != [id(v) for v in picker.value]:
            picker.value = same
            return True
    elif value is not None and picker.value is not value and any(value is c for c in offered):
        picker.value = value
        return True
    return False


def _same_pick(now, before) -> bool:
    """Layers by identity, plain values (a model's name, a channel) by value."""
    if isinstance(before, list | tuple):
        return [id(v) for v in now] == [id(v) for v in before]
    return now is before or (isinstance(before, str | int | float) and now == before)


#: Pickers whose change :func:`reset_keeping` says now: the choices changed, not the user.
_ANNOUNCING: set[int] = set()


def announcing(picker) -> bool:
    """Whether ``picker``'s change now is a refresh's (a layer gone), not the user's pick."""
    return id(picker) in _ANNOUNCING


def _announce(picker) -> None:
    """Emit the picker's change as Qt would have (its listeners on Qt's own signal too)."""
    native = picker.native
    _ANNOUNCING.add(id(picker))
    try:
        if hasattr(native, "currentIndexChanged"):
            native.currentIndexChanged.emit(native.currentIndex())
        else:
            picker.changed.emit(picker.value)
    finally:
        _ANNOUNCING.discard(id(picker))


class KeepsPicks:
    """Mix into a dock (before Container): its ``reset_choices`` keeps each picker's layer."""

    def reset_choices(self, *args) -> None:
        reset_keeping(lambda: super(KeepsPicks, self).reset_choices(*args), self)
