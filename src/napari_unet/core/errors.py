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


def in_words(exc: BaseException) -> str:
    """``exc`` as one line for a user: its message, "out of memory (...)", or its type's name.

    A ``MemoryError`` (or an ``OSError`` raised bare) has no text: a worker's failure read
    "could not save: " with nothing after it.
    """
    return memory_message(exc) or str(exc) or type(exc).__name__


def memory_message(exc: BaseException) -> str | None:
    """``"out of memory"`` (with the size asked for when known) if ``exc`` says so; else None.

    Python's ``MemoryError`` often has no text; PyTorch's CPU allocator raises a
    ``RuntimeError`` naming its C++ source line (``[enforce fail at alloc_cpu.cpp:127] ...
    DefaultCPUAllocator: can't allocate memory: you tried to allocate 8589934592 bytes``),
    CUDA a ``torch.OutOfMemoryError``. Users read one plain line for all of them.
    """
    import re

    text = str(exc)
    if not isinstance(exc, MemoryError) and not (
        isinstance(exc, RuntimeError)
        and (type(exc).__name__ == "OutOfMemoryError" or "allocate memory" in text
             or "not enough memory" in text or "out of memory" in text.lower())
    ):  # fmt: skip
        return None
    found = re.search(r"allocate (\d+) bytes", text)
    if found:
        return f"out of memory (an array of {int(found.group(1)) / 2**30:.1f} GiB did not fit)"
    found = re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]iB)", text)  # CUDA's words
    return f"out of memory (an array of {found.group(1)} did not fit)" if found else "out of memory"
