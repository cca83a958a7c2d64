"""An exclusive lock around a read-modify-write of a Zarr group's metadata.

:func:`locked` holds a lock file in a folder (``image.zarr/labels/.napari-unet.lock``)
while its ``labels`` list is read, changed and written back
(:func:`~napari_unet.core.images.omezarr.add_label_name`). Before, two ``slide`` runs adding
different names to one image at once could each write back the list it had read, and one
name was lost: its label image written but not listed. The lock is the file system's
(``flock``; on Windows ``msvcrt.locking``), so a killed process never leaves it held, and
the file is removed by the holder before it lets go (whoever waited on the removed file
takes the lock again on a new one). Where locks cannot be taken (a read-only folder, a file
system without them) or a holder keeps it past :data:`WAIT` seconds, the update goes on
without it, as before: the labels are written by then, and an error would hide them too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_NAME", "WAIT", "lock_file", "locked", "wait_for_lock"]

#: The lock file's name, in the folder whose metadata it guards.
LOCK_NAME = ".napari-unet.lock"
#: Seconds to wait for the lock (its holders keep it for one small file write).
WAIT = 60.0


@contextlib.contextmanager
def locked(folder: str | os.PathLike, wait: float = WAIT) -> Iterator[bool]:
    """Hold the exclusive lock of ``folder``; yield whether it is held (see the module)."""
    path = Path(folder) / LOCK_NAME
    handle = _take(path, time.monotonic() + wait)
    try:
        yield handle is not None
    finally:
        if handle is not None:
            with contextlib.suppress(OSError):  # Windows: an open file stays
                path.unlink()  # while held: a waiter finds its file gone and starts over
            with contextlib.suppress(OSError):
                lock_file(handle, release=True)
            handle.close()


def _take(path: Path, deadline: float):
    """The open, locked lock file at ``path``; None where it cannot be had (see the module)."""
    while True:
        try:
            handle = open(path, "a+b")  # noqa: SIM115 - closed by locked()
        except OSError:  # a read-only folder: the write after fails with its own message
            return None
        try:
            if not wait_for_lock(handle, deadline):
                handle.close()
                return None
            if _same_file(handle, path):
                return handle
        except BaseException:
            handle.close()
            raise
        with contextlib.suppress(OSError):  # its holder removed it meanwhile: a new one
            lock_file(handle, release=True)
        handle.close()


def wait_for_lock(handle, deadline: float) -> bool:
    """Take the lock of the open file ``handle``, waiting until ``deadline`` (monotonic).

    False where it was not had by then, or the file system has no locks.
    """
    while True:
        try:
            lock_file(handle, release=False)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        except OSError:  # no locks on this file system
            return False


def _same_file(handle, path: Path) -> bool:
    try:
        here, there = os.fstat(handle.fileno()), os.stat(path)
    except OSError:  # removed by its holder
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def lock_file(handle, release: bool) -> None:
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
