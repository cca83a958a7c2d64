"""The review file (``OUTPUT/review.json``): read, checked, and written by one session at a time.

A review file is ``{"format": 1, "current": NAME, "images": {NAME: ENTRY, ...}}``; each entry
an object naming its image (``"name"``), with its ``status``, ``seconds``, ``hash``... A
file edited by hand or written by another program is checked before anything of it is
used: one that is not of this shape is refused with :class:`InputError` (before, an entry
that was a string or had no ``name`` raised a raw ``TypeError`` or ``AttributeError``).

Two sessions on one output folder (two napari windows, the dock and a console) each read
the file, merge and write it under :func:`locked`, a lock on a file beside it
(``.review.json.lock``): the read and the write of one session are never interleaved with
the other's, so neither writes the other's entries away.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["STATUSES", "file_wins", "locked", "read_review_file", "saved_entries", "stamp"]

#: What a reviewer can say of an image ("corrected": accepted after edits).
STATUSES = ("unreviewed", "accepted", "corrected", "needs-work", "rejected")
#: How long a save waits for another session's (seconds) before it writes anyway.
LOCK_WAIT_S = 10.0


def stamp() -> str:
    """When an entry changes: UTC, ISO 8601, to the microsecond (before, to the second)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def file_wins(saved: dict, ours: dict, written: dict | None) -> bool:
    """Whether a session saving takes the file's entry ``saved`` of an image over ``ours``.

    It does when the session did not change ``ours`` since it last read or wrote it
    (``written``), and when the file's was changed later (``updated``). Before, only a
    later ``updated`` was taken: two sessions' verdicts stamped within one second tied,
    and the earlier one's idle autosave put its older verdict back over the later one.
    """
    return ours == written or (saved.get("updated") or "") > (ours.get("updated") or "")


def _problem(name, value) -> str | None:
    """What is wrong with the entry ``value`` of image ``name`` (None: nothing)."""
    if not isinstance(value, dict):
        return f"the entry of {name!r} is not an object"
    if value.get("name") != name:
        return f'the entry of {name!r} does not name it (its "name" is {value.get("name")!r})'
    if value.get("status", "unreviewed") not in STATUSES:
        return f"the entry of {name!r} has an unknown status {value.get('status')!r}"
    seconds = value.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return f"the entry of {name!r} has seconds {seconds!r}, not a number"
    if not math.isfinite(seconds) or seconds < 0:
        return f"the entry of {name!r} has seconds {seconds!r}, not a time"
    if not isinstance(value.get("updated") or "", str):  # compared as text when merging
        return f'the entry of {name!r} has an "updated" that is not a date'
    if not isinstance(value.get("extra", {}), dict):
        return f'the entry of {name!r} has an "extra" that is not an object'
    return None


def read_review_file(path: Path) -> dict:
    """The review file at ``path``, checked; raises :class:`InputError` if it is not one."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable review file ({exc})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("images"), dict):
        problem = '"images" is not an object of image names'
    else:
        problem = next(
            (p for n, v in saved["images"].items() if (p := _problem(n, v)) is not None), None
        )
    if problem is not None:
        raise InputError(f"{path}: not a readable review file ({problem})")
    return saved


def saved_entries(path: Path) -> dict[str, dict]:
    """The well-formed entries of the review file at ``path`` ({} if none can be read).

    For merging before a save: a damaged entry (another program's) is left out.
    """
    try:
        images = json.loads(path.read_text(encoding="utf-8"))["images"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(images, dict):
        return {}
    return {n: v for n, v in images.items() if _problem(n, v) is None}


@contextlib.contextmanager
def locked(path: Path) -> Iterator[bool]:
    """Hold the lock of the file ``path`` (``.NAME.lock`` beside it) against other sessions.

    Yields whether the lock is held: where the file system has no locks (some network
    shares), or another session held it for :data:`LOCK_WAIT_S`, the caller goes on
    without it rather than not saving at all.
    """
    try:
        handle = open(path.with_name(f".{path.name}.lock"), "a+b")  # noqa: SIM115
    except OSError:
        yield False
        return
    with handle:
        held = _acquire(handle)
        try:
            yield held
        finally:
            if held:
                _release(handle)


def _acquire(handle) -> bool:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            _lock(handle, release=False)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        except OSError:  # no locks here
            return False


def _release(handle) -> None:
    with contextlib.suppress(OSError):
        _lock(handle, release=True)


def _lock(handle, release: bool) -> None:
    """Take (without waiting: BlockingIOError when held elsewhere) or give back the lock."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK if release else msvcrt.LK_NBLCK, 1)
        except PermissionError as exc:  # held by another process
            raise BlockingIOError(str(exc)) from None
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN if release else fcntl.LOCK_EX | fcntl.LOCK_NB)
