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
from dataclasses import dataclass, field
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.metalock import lock_file, wait_for_lock

__all__ = [
    "STATUSES",
    "Entry",
    "entry_of",
    "file_wins",
    "locked",
    "merge_entry",
    "read_review_file",
    "saved_entries",
    "stamp",
]

#: What a reviewer can say of an image ("corrected": accepted after edits).
STATUSES = ("unreviewed", "accepted", "corrected", "needs-work", "rejected")
#: How long a save waits for another session's (seconds) before it writes anyway.
LOCK_WAIT_S = 10.0


def entry_of(value: dict) -> Entry:
    """An entry of the review file (fields this version does not know are left out)."""
    return Entry(**{k: v for k, v in value.items() if k in Entry.__dataclass_fields__})


@dataclass
class Entry:
    """What the review file says of one image."""

    name: str
    status: str = "unreviewed"
    seconds: float = 0.0
    hash: str | None = None
    objects: int | None = None
    #: Where the labels shown came from: "reviewed", "file NAME" or "prediction (MODEL)".
    source: str | None = None
    #: Key of the model whose cached prediction is in predictions/ (None: none cached).
    predicted_with: str | None = None
    updated: str | None = None
    extra: dict = field(default_factory=dict)


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


def merge_entry(saved: dict, ours: dict, written: dict | None) -> dict:
    """The entry of an image a saving session writes: the file's ``saved`` and ``ours``, merged.

    Field by field (and key by key of ``extra``): what only one side changed since this
    session last read or wrote the entry (``written``) is taken from that side; what both
    changed is taken from the later one (``updated``). Before, the later entry was taken
    whole: a second window saving its edits (which stamps the entry) wrote its stale
    "unreviewed" over the first window's verdict. Without ``written`` (an entry this
    session never read nor wrote) :func:`file_wins` picks one whole, as before.

    The reviewer time (``seconds``) both sides added is added up: the base's, plus what each
    added since (before, the later side's was taken, and the other session's time was lost).
    """
    if written is None:
        return saved if file_wins(saved, ours, None) else ours
    if ours == written:
        return saved
    later = saved if (saved.get("updated") or "") > (ours.get("updated") or "") else ours
    merged = _three_way(saved, ours, written, later)
    merged["seconds"] = _seconds(saved, ours, written, merged.get("seconds", 0.0))
    extras = [d.get("extra") if isinstance(d.get("extra"), dict) else {}
              for d in (saved, ours, written, later)]  # fmt: skip
    merged["extra"] = _three_way(*extras)
    merged["updated"] = max(saved.get("updated") or "", ours.get("updated") or "") or None
    return merged


_MISSING = object()


def _seconds(theirs: dict, mine: dict, base: dict, merged) -> float:
    """The review time of an entry both sides changed: each side's time added to the base's.

    The session sets its base (``written``) to what it wrote, the sum: its next save adds
    only what either side spent since, never the other's time twice.
    """
    values = [d.get("seconds", 0.0) for d in (theirs, mine, base)]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return merged
    a, b, old = values
    if a == old or b == old:  # one side's time, or none: as merged
        return merged
    return round(max(0.0, a + b - old), 2)


def _three_way(theirs: dict, mine: dict, base: dict, later: dict) -> dict:
    """Each key's value of the side that changed it since ``base`` (both: ``later``'s)."""
    out = {}
    for key in [*theirs, *(k for k in mine if k not in theirs)]:
        old, a, b = base.get(key, _MISSING), theirs.get(key, _MISSING), mine.get(key, _MISSING)
        value = a if b == old else b if a == old else later.get(key, _MISSING)
        if value is not _MISSING:
            out[key] = value
    return out


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
        held = wait_for_lock(handle, time.monotonic() + LOCK_WAIT_S)
        try:
            yield held
        finally:
            if held:
                _release(handle)


def _release(handle) -> None:
    with contextlib.suppress(OSError):
        lock_file(handle, release=True)
