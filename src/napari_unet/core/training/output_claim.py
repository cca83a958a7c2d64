"""A training run's claim on its model file, between programs: ``NAME.lock`` beside it.

Two runs writing one model file (two ``napari-unet train -o m.safetensors`` started
together, two ``--resume m -o m`` at once, a Train dock and the command line) both said
they saved it; only the last one's model was there, their events mixed in one log, and one
run's clean-up removed the other's ``NAME.best``. Now a run claims its output when it
starts (:func:`claimed`): ``NAME.lock`` (``m.safetensors.lock``) is created with
``O_EXCL`` and names the run's process and host; a second run is refused with that name,
and the claim goes when the run ends. A claim left by a process that no longer runs on
this host (killed, crashed) is taken over; one of another host is only named (remove it
if no run is going on there).

The claim also records the model file as it was (its stamp: inode, size, time) when the
run started. At the end, a model file that changed meanwhile (written by a program that
takes no claim) is not replaced (:func:`changed`): the run's model goes to a free name.

Within one program a claim is held per thread: the command line claims its output before
its checks, and :func:`~napari_unet.core.training.trainer.iter_train` then holds it too
(nested); another thread's run on the same file is refused (the Train docks of a session
say so first, ``widgets/_train_outputs.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["changed", "claimed", "held_by", "lock_path", "wrote"]

#: Seconds after which a claim whose file holds no readable owner counts as left behind.
UNREADABLE_STALE_S = 30.0


@dataclass
class _Claim:
    lock: Path
    token: str
    thread: int
    stamp: tuple | None
    depth: int = 1


_HELD: dict[Path, _Claim] = {}
_MUTEX = threading.Lock()


def lock_path(output: str | os.PathLike) -> Path:
    """The claim file of a run writing ``output``: ``NAME.lock`` beside it."""
    p = Path(output)
    return p.with_name(p.name + ".lock")


def _stamp(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _read(lock: Path) -> dict | None:
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid) -> bool:
    """Whether process ``pid`` of this host runs (True when it cannot be told)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would end it there
        try:
            import psutil
        except ImportError:
            return True
        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _stale(lock: Path, info: dict | None, key: Path) -> bool:
    if info is None:  # being written, or damaged: left behind once old enough
        age = time.time() - (_stamp(lock) or (0, 0, time.time_ns()))[2] / 1e9
        return age > UNREADABLE_STALE_S
    if info.get("host") != socket.gethostname():
        return False  # another host's process cannot be seen from here
    if info.get("pid") == os.getpid():
        return key not in _HELD  # this program's, but no run of it holds it now
    return not _alive(info.get("pid"))


def _take_over(lock: Path, info: dict | None) -> None:
    """Remove a stale claim, unless another run replaced it meanwhile (then put back)."""
    aside = lock.with_name(f"{lock.name}.{uuid.uuid4().hex[:8]}.stale")
    try:
        os.replace(lock, aside)
    except OSError:
        return  # gone already (another run took it over)
    if _read(aside) != info:  # not the claim judged stale: a fresh one, put it back
        with contextlib.suppress(OSError):
            os.link(aside, lock)
    with contextlib.suppress(OSError):
        aside.unlink()


def _who(info: dict | None) -> str:
    if info is None:
        return "another training run (starting)"
    pid, host = info.get("pid"), info.get("host")
    where = "this program" if pid == os.getpid() else f"process {pid} on {host}"
    return f"another training run ({where}, since {info.get('started', '?')})"


def held_by(output: str | os.PathLike) -> str | None:
    """Who holds a live claim on ``output`` now, in words (None: nobody, or a stale claim).

    The Train dock asks before it picks its default file: a command-line run writing
    ``IMAGE.unet.safetensors`` moves the dock on to ``IMAGE.unet-2.safetensors``, as
    another dock's run does (before, the dock's run was refused at its start).
    """
    key = Path(output).resolve()
    lock = lock_path(key)
    if not lock.exists():
        return None
    info = _read(lock)
    return None if _stale(lock, info, key) else _who(info)


def _busy(output: Path, info: dict | None, lock: Path) -> InputError:
    who = _who(info)
    return InputError(
        f"{output.name} is being written by {who}: it is not replaced; wait for that run to "
        f"end or choose another output file. If no such run is going on, remove {lock}"
    )


def _take(key: Path, shown: Path) -> _Claim | None:
    """Create the claim file (O_EXCL); None where it cannot be made (no folder, read-only)."""
    lock = lock_path(key)
    token = uuid.uuid4().hex
    info = {"pid": os.getpid(), "host": socket.gethostname(), "token": token,
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            other = _read(lock)
            if not _stale(lock, other, key):
                raise _busy(shown, other, lock_path(shown)) from None
            _take_over(lock, other)
            continue
        except OSError:
            return None  # the output's checks say why it cannot be written
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        return _Claim(lock, token, threading.get_ident(), _stamp(key))
    raise _busy(shown, _read(lock), lock_path(shown))


@contextlib.contextmanager
def claimed(output: str | os.PathLike | None) -> Iterator[None]:
    """Hold the claim on ``output`` (None: nothing) for the ``with`` block.

    Raises
    ------
    InputError
        When another live run (another program, or another thread of this one) holds it.
    """
    if output is None:
        yield
        return
    key = Path(output).resolve()
    with _MUTEX:
        claim = _HELD.get(key)
        if claim is not None and claim.thread == threading.get_ident():
            claim.depth += 1  # nested: the command line's claim, then iter_train's
        else:
            claim = _take(key, Path(output))
            if claim is not None:
                _HELD[key] = claim
    try:
        yield
    finally:
        if claim is not None:
            _release(key, claim)


def _release(key: Path, claim: _Claim) -> None:
    with _MUTEX:
        claim.depth -= 1
        if claim.depth:
            return
        _HELD.pop(key, None)
        if (_read(claim.lock) or {}).get("token") == claim.token:
            with contextlib.suppress(OSError):
                claim.lock.unlink()


def changed(output: str | os.PathLike) -> bool:
    """Whether the model file ``output``, claimed here, changed since the claim was taken."""
    claim = _HELD.get(Path(output).resolve())
    return claim is not None and _stamp(Path(output)) != claim.stamp


def wrote(output: str | os.PathLike) -> None:
    """Note that this run wrote ``output`` (its new stamp is the one to keep)."""
    claim = _HELD.get(Path(output).resolve())
    if claim is not None:
        claim.stamp = _stamp(Path(output))
