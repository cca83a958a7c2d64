"""Safe file writing: atomic replacement, the user's permissions, no debris; output checks.

Every file napari-unet writes (images, model files, optimiser state, annotations, logs of
scores) goes through :func:`atomic_write`: the data is written to a temporary file in the
destination folder and renamed over the destination only when complete, so a crash or a
kill leaves either the old file or the new one, never half of one. The temporary name holds
the writer's process id; a later write to the same destination removes temporaries whose
writer is gone. Written files get the permissions the user's umask gives new files
(``tempfile`` alone would leave them readable by their owner only). Hand-written: the
``atomicwrites`` package is no longer maintained, and these few lines also handle the umask
and the debris of killed writers.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = [
    "atomic_folder",
    "atomic_write",
    "available_memory",
    "check_outputs",
    "no_folder",
    "recover_folder",
    "same_file",
    "stale_temporaries",
    "temporary_folder",
]


def _read_umask() -> int:
    """The process umask, read without changing it where the system says it (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore, once, at import (main thread)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no process id at all
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or we cannot tell: keep its file
    return True


#: The ending of the name an old store is renamed to while :func:`atomic_folder` swaps it.
ASIDE = ".old.tmp"


def _temporary_name(path: Path) -> re.Pattern:
    """The names this module (and the scratch of whole-slide runs) gives temporaries of ``path``.

    ``.<name>.<pid>.<random>[<ending>].tmp``, the ending one of ``path``'s suffix
    (:func:`atomic_write`), ``.old`` (:data:`ASIDE`) or ``.scratch`` (a slide's scratch), or
    none (:func:`atomic_folder`). Exactly these: before, ``.<name>.*.tmp`` also matched the
    temporaries of other names starting with ``<name>.`` (those of ``cells.v2`` for
    ``cells``), and a second run removed a running one's scratch.
    """
    endings = {"", path.suffix, ".old", ".scratch"}
    ending = "|".join(re.escape(e) for e in sorted(endings, key=len, reverse=True))
    return re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]+(?:{ending})\.tmp")


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files and folders of earlier writes to ``path`` whose writer is gone.

    A temporary whose writer's process is alive is never stale, however old: a whole-slide
    run takes hours (before, a temporary older than an hour was removed even so, and a
    second run deleted the scratch of a first one still going). The process id is this
    machine's: on a file system shared between machines, two runs writing the same
    ``path`` at once from two machines are not told apart.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = _temporary_name(path)
    stale = []
    with contextlib.suppress(OSError):
        for tmp in folder.glob(f".{glob.escape(path.name)}.*.tmp"):
            match = pattern.fullmatch(tmp.name)
            if match is not None and not _alive(int(match.group(1))):
                stale.append(tmp)
    return stale


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, suffix: str | None = None, *, overwrite: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic:
    readers see either the old file or the complete new one, never a partial write. On
    error the temporary file is removed and ``path`` is left untouched. A symbolic link is
    followed: the file it points to is replaced (before, the link itself was replaced by a
    regular file), as :func:`atomic_folder` does.

    Parameters
    ----------
    path : path-like
        The file to (over)write.
    suffix : str, optional
        Suffix of the temporary file (some writers choose the format from it). Defaults to
        the suffix of ``path``.
    overwrite : bool
        False: never replace a file (InputError). The new file goes in with a hard link,
        which fails where one is: a file another run wrote meanwhile is kept (before, two
        ``export`` runs without ``--overwrite`` both said they wrote the package, and only
        the second's was there). Without hard links: a check, then the rename (racy).

    Raises
    ------
    InputError
        If the folder does not exist or ``path`` is a folder (or, not to overwrite, a file).
    """
    path = Path(path)
    if path.is_symlink():  # os.replace would put the new file in place of the link
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise no_folder(path, folder)
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise _file_taken(path)
    for tmp in stale_temporaries(path):
        with contextlib.suppress(OSError):
            tmp.unlink()
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.",
        suffix=(suffix if suffix is not None else path.suffix) + ".tmp",
        dir=folder,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        if overwrite:
            os.replace(tmp_path, path)
        else:
            _link_new(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _link_new(tmp: Path, path: Path) -> None:
    """Put the file ``tmp`` at ``path`` only if nothing is there, then remove ``tmp``."""
    try:
        os.link(tmp, path)  # never replaces: FileExistsError where anything is
    except OSError as e:  # or no hard links on this file system: check, then rename
        if isinstance(e, FileExistsError) or path.exists() or path.is_symlink():
            raise _file_taken(path) from None
        os.replace(tmp, path)
    tmp.unlink(missing_ok=True)


def _file_taken(path: Path) -> InputError:
    return InputError(
        f"cannot write {path}: it exists (another run wrote it while this one worked, if it "
        "was not there when this one started); it was left as it is and this run wrote "
        "nothing: run again with another output, or --overwrite (overwrite=True) to replace it"
    )


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; move it onto ``path`` on success.

    For stores that are folders (Zarr). Two renames replace an existing folder: the old one
    is first renamed aside and removed only once the new one is in place. A crash between
    the renames leaves the old complete store under its aside name; the next write, or
    :func:`recover_folder`, puts it back (before, the next write deleted it as stale, and
    the store was lost). On error the temporary folder is removed and ``path`` is left as
    it was. A symbolic link is followed: the folder it points to is replaced.

    ``overwrite=False`` replaces only the folder found at ``path`` on entry (the one the
    caller's checks saw), if any: a store that another run put there meanwhile is kept and
    this one refused (InputError; the temporary folder removed). Before, two runs of
    ``slide`` without ``--overwrite`` both passed the check at their start, and the one
    that finished second replaced the first's labels. Whatever is at ``path`` at the end is
    renamed aside first and checked after that rename (same device and inode as on entry),
    so what is checked is what was moved; anything else is put back. The new folder then
    goes in with ``os.rename``, which on a local POSIX file system never replaces a
    non-empty folder (nor any folder on Windows): a store that lands between the check and
    the move makes the move fail, and this run is refused, so two runs cannot both win.
    What remains racy: an *empty* folder made in that instant is replaced (nothing in it to
    lose); while a folder is renamed aside (or put back), ``path`` is missing for a moment
    to readers; and file systems whose rename is not atomic (some network ones) promise
    none of this. With ``overwrite=True`` (the default) whatever is there is replaced.

    Raises
    ------
    InputError
        If the folder to write in does not exist or ``path`` is a file; with
        ``overwrite=False``, if another store took ``path`` while the caller worked.
    """
    import shutil

    path = Path(path)
    if path.is_symlink():  # renamed, the link itself would be moved (and onto a folder: fails)
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise no_folder(path, folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot write {path}: it is a file, and the store is a folder")
    recover_folder(path)
    for tmp in stale_temporaries(path):
        shutil.rmtree(tmp, ignore_errors=True)
    start = _identity(path)
    prefix = f".{path.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=folder))
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if path.exists() or path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=prefix, suffix=ASIDE, dir=folder))
            os.replace(path, old)
            if not overwrite and _identity(old) != start:
                raise _written_meanwhile(path)  # put back below: it is not ours to replace
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_new(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            os.replace(old, path)
        raise


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of ``path`` itself, or None when nothing is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _rename_new(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` onto ``path``, refused (InputError) if a non-empty folder is there."""
    try:
        os.rename(tmp, path)  # POSIX: fails onto a non-empty folder; Windows: onto any
    except (FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        if not (path.exists() or path.is_symlink()):
            raise
        raise _written_meanwhile(path) from e
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        raise _written_meanwhile(path) from e


def _written_meanwhile(path: Path) -> InputError:
    return InputError(
        f"cannot write {path}: another run wrote it while this one worked (it was not there, "
        "or was another store, when this run started); this run's result was not kept. Use "
        "--overwrite (overwrite=True) to replace it"
    )


def recover_folder(path: str | os.PathLike) -> bool:
    """Put back a store that a crash left renamed aside by :func:`atomic_folder`.

    When ``path`` is missing and a writer that is gone left the old store under its
    aside name, the newest such store is renamed back. Returns whether one was.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        return False
    asides = [t for t in stale_temporaries(path) if t.name.endswith(ASIDE) and t.is_dir()]
    if not asides:
        return False
    try:
        os.replace(max(asides, key=lambda t: t.stat().st_mtime_ns), path)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A new folder in the system's temporary folder, removed at the end whatever happens.

    Named ``<prefix><pid>-<random>``: those this user's killed writers left (their process
    is gone) are removed first, so a ``kill -9`` costs the disk nothing for long.
    """
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)-[a-z0-9_]+")
    with contextlib.suppress(OSError):
        for old in Path(tempfile.gettempdir()).glob(f"{glob.escape(prefix)}*"):
            match = pattern.fullmatch(old.name)
            mine = not hasattr(os, "getuid") or old.lstat().st_uid == os.getuid()
            if match and mine and not _alive(int(match.group(1))):
                shutil.rmtree(old, ignore_errors=True)  # never follows a symbolic link
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as folder:
        yield Path(folder)


def no_folder(path: Path, folder: Path) -> InputError:
    """The error for writing ``path`` in ``folder``, which is no folder.

    Says which part is a file (``notes.txt/model.safetensors``: ``notes.txt is a file, not a
    folder``) where one is; else that the folder does not exist.
    """
    for up in (folder, *folder.parents):
        if up.exists():
            if not up.is_dir():
                return InputError(f"cannot write {path}: {up} is a file, not a folder")
            break
    return InputError(f"cannot write {path}: the folder {folder} does not exist")


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable) -> None:
    """Refuse, before any work, outputs that are or hold an input or cannot be written.

    Parameters
    ----------
    outputs : iterable of path-like
        Files about to be written (None entries are skipped).
    inputs : iterable of path-like
        Files the work reads (None entries are skipped); an output may never be one of
        them, under any name (paths are resolved and compared as files), nor hold one: a
        Zarr store is replaced whole (before, ``-o STORE.zarr`` deleted the input
        ``STORE.zarr/cells`` read from inside it).

    Raises
    ------
    InputError
        Naming the output and what is wrong with it.
    """
    read = [Path(p) for p in inputs if p is not None]
    for out in (Path(p) for p in outputs if p is not None):
        folder = out.parent if str(out.parent) else Path(".")
        if out.is_dir() and not _zarr_store(out):  # a Zarr store is a folder: replaced whole
            raise InputError(f"cannot write {out}: it is a folder; give a file name")
        if not folder.is_dir():
            raise no_folder(out, folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"cannot write {out}: the folder {folder} is not writable")
        for src in read:
            if same_file(out, src):
                raise InputError(f"{out} is an input ({src}); refusing to overwrite it")
            if out.resolve() in src.resolve().parents:  # a store is replaced whole
                raise InputError(
                    f"{out} holds an input ({src}); refusing to overwrite it (the store is "
                    "replaced whole, and the input with it): choose another output"
                )


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (resolved, or the same file under another name)."""
    a, b = Path(a), Path(b)
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def _zarr_store(path: Path) -> bool:
    """True for a folder that is a Zarr store (format 2 or 3), which a write replaces."""
    return any((path / name).exists() for name in (".zarray", ".zgroup", "zarr.json"))


def available_memory() -> int:
    """Bytes of memory available to this process now (psutil, else /proc, else 4 GiB)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with napari
        pass
    with contextlib.suppress(OSError, ValueError):  # pragma: no cover
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 4 << 30  # pragma: no cover
