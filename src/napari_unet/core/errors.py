"""Errors that napari-unet reports to users as messages, not tracebacks."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input.

    The message says what was wrong and what is expected. The CLI prints it as one
    error line with a non-zero exit; widgets show it as a napari notification.
    """


def check_int(name: str, value, low: int = 1, note: str = "") -> int:
    """``value`` as an int >= ``low`` (numpy integers too), else :class:`InputError`.

    The one message for a bad whole-number setting: ``"steps must be a positive integer,
    got 0"``; ``note`` is added to what is expected (``"(0: automatic)"``).
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise InputError(f"{name} must be {what}{' ' + note if note else ''}, got {value!r}")
    return int(value)
