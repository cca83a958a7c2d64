"""Settings given by keyword: an unknown one (a typo) is an InputError naming the call.

Before, ``segment(model, image, treshold=0.3)`` passed the typo on to the Predictor and
raised Python's TypeError ("Predictor.__init__() got an unexpected keyword argument"), which
named a class the user never called and escaped ``except nu.InputError``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Iterable

from napari_unet.core.errors import InputError

__all__ = ["check_keywords", "checks_keywords", "keywords_of"]


def keywords_of(func) -> tuple[str, ...]:
    """The names ``func`` takes by keyword (not ``self``, ``*args`` or ``**kwargs``)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(func).parameters.values()
    return tuple(p.name for p in params if p.kind in kinds and p.name != "self")


def check_keywords(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """InputError for the names of ``given`` not in ``known``; a close known name suggested.

    ``what`` names the settings in the message (``"prediction"``, ``"segment"``); private
    names (a leading underscore) are neither listed nor suggested.
    """
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    known = sorted({k for k in known if not k.startswith("_")})
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        named.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise InputError(
        f"unknown {what} setting(s): {', '.join(named)}; the settings are {', '.join(known)}"
    )


def checks_keywords(what: str):
    """Decorator: a misspelt keyword to the function or class is an InputError, not a TypeError.

    On a class (a dataclass) it wraps ``__init__``, so the class is otherwise unchanged:
    positional arguments, ``fields``, ``repr``, equality and ``dataclasses.replace`` (whose
    misspelt change is an InputError too). A generator function stays one
    (``inspect.isgeneratorfunction``, which napari's ``create_worker`` asks), its keywords
    checked when it starts. ``what`` names the settings in the message.
    """

    def decorate(target):
        func = target.__init__ if isinstance(target, type) else target
        known = keywords_of(func)

        def check(kwargs) -> None:
            if kwargs:
                check_keywords(kwargs, known, what)

        @functools.wraps(func)
        def checked(*args, **kwargs):
            check(kwargs)
            return func(*args, **kwargs)

        @functools.wraps(func)
        def checked_generator(*args, **kwargs):
            check(kwargs)
            return (yield from func(*args, **kwargs))

        if inspect.isgeneratorfunction(func):  # still one (napari's workers ask)
            checked = checked_generator

        if isinstance(target, type):
            target.__init__ = checked
            return target
        return checked

    return decorate
