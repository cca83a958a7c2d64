"""A virtual X display for headless runs (``napari-unet demo --screenshot``).

Hand-written because the only dependency it needs is the ``Xvfb`` program itself: it asks
Xvfb for a free display number with ``-displayfd`` and stops the server on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

from napari_unet.core.errors import InputError


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (1920, 1200)) -> Iterator[str]:
    """Start Xvfb, point ``DISPLAY`` at it, yield the display name, then stop it."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise InputError(
            "no display and no Xvfb found: run under a desktop session or install Xvfb "
            "(Debian/Ubuntu: apt-get install xvfb, or run scripts/setup.sh)"
        )
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            xvfb,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{size[0]}x{size[1]}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        raise InputError("Xvfb did not start (no display number reported)")
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
