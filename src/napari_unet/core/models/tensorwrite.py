"""Every safetensors file napari-unet writes goes through :func:`write_tensors`.

safetensors reports a failed write (a full disk, a folder removed meanwhile) as its own
``SafetensorError``, not an ``OSError``: the handlers that keep a run's model when its file
cannot be written (fallback files, warnings, the command's ``error:`` line) catch
``OSError``, and before, a full disk at the end of a run ended it with a traceback and the
trained weights were lost. Here it becomes an ``OSError`` with the same message (and the
system's error number, such as ``ENOSPC``, where safetensors gives it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from napari_unet.core.files import atomic_write

_OS_ERROR = re.compile(r"(?:I/O error: )?([^:]*?) \(os error (\d+)\)")


def write_tensors(
    path: str | os.PathLike, tensors: dict, metadata: dict[str, str], *, overwrite: bool = True
) -> Path:
    """Write ``tensors`` and string ``metadata`` to the safetensors file ``path``, atomically.

    ``overwrite=False``: a file at ``path``, even one written meanwhile, is never replaced
    (InputError; :func:`~napari_unet.core.files.atomic_write`).

    Raises
    ------
    OSError
        If the file could not be written (``[Errno 28] No space left on device: PATH``),
        also where safetensors raised its own error.
    InputError
        If the folder does not exist or ``path`` is a folder (:func:`atomic_write`), or,
        with ``overwrite=False``, a file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    path = Path(path)
    try:
        with atomic_write(path, overwrite=overwrite) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except SafetensorError as exc:
        raise as_os_error(exc, path) from exc
    return path


def as_os_error(exc: BaseException, path: Path) -> OSError:
    """An ``OSError`` for the failed write of ``path`` that safetensors reported as ``exc``."""
    text = str(exc)
    found = _OS_ERROR.search(text)
    if found is None:
        return OSError(f"could not write {path}: {text}")
    return OSError(int(found.group(2)), found.group(1).strip() or text, str(path))
