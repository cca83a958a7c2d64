"""Displays for ``napari-unet demo``: is there one Qt can open a window on, or a virtual one.

Qt aborts the whole process (exit status 134, a page of plugin messages) when it finds no
display, an unreachable one, or lacks a system library; no Python code runs after that. So
:func:`display_problem` asks a child process to start Qt first and turns its failure into one
line. :func:`virtual_display` starts ``Xvfb`` for headless screenshots. Hand-written because
the only dependency they need is the Qt binding or the ``Xvfb`` program itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

from napari_unet.core.errors import InputError

#: Qt platform plugins that draw without any display server (``QT_QPA_PLATFORM``).
HEADLESS_PLATFORMS = frozenset(
    {"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay"}
)

#: Seconds the child process may take to start Qt (a display that never answers).
PROBE_TIMEOUT_S = 30.0

# The child: no core file when Qt aborts; the same binding (qtpy, QT_API) napari will use.
# qtpy reports a binding that is installed but cannot load (a missing system library such as
# libglib-2.0.so.0) as "no binding found", so the child prints each binding's own error first.
_PROBE = """
import importlib, importlib.util, resource, sys
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
try:
    from qtpy.QtGui import QGuiApplication
except ImportError:
    for name in ("PyQt6", "PySide6", "PyQt5", "PySide2"):
        try:
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name + ".QtGui")
        except ImportError as error:
            print(f"{name}: {error}", file=sys.stderr)
    raise
app = QGuiApplication(sys.argv[:1])
print(app.platformName())
"""

#: How a missing system library shows in what Qt or Python printed (``ld.so``'s words).
_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


def display_problem(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why Qt could not open a window in this environment (one line), or None if it can.

    Only on Linux and other X11/Wayland systems (Windows and macOS always have a screen).
    A ``QT_QPA_PLATFORM`` that needs no display (``offscreen``, ``minimal``...) is taken
    as the user's choice. Otherwise, with ``DISPLAY`` or ``WAYLAND_DISPLAY`` set, a child
    process starts Qt (about 0.1 s) and its failure is described instead of aborting here.
    """
    if sys.platform.startswith(("win", "darwin", "cygwin")):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if platform in HEADLESS_PLATFORMS:
        return None
    where = _display_name()
    if where is None:
        return "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    try:
        child = subprocess.run(
            [sys.executable, "-c", _PROBE],
            # QT_DEBUG_PLUGINS: Qt then says which library its platform plugin could not load.
            env={**os.environ, "QT_DEBUG_PLUGINS": "1"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"the display {where} did not answer within {timeout:.0f} s"
    if child.returncode == 0:
        return None
    return _reason(child.stderr, where)


def _display_name() -> str | None:
    """``:0``-style X display, else the Wayland socket, else None."""
    return os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or None


def _reason(stderr: str, where: str) -> str:
    """One line from what Qt (or Python) printed before the child ended."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = "\n".join(lines).lower()
    missing = _MISSING_LIBRARY.search(stderr)
    if missing is not None:  # before "no binding": qtpy says that for a binding that can't load
        return (
            f"Qt cannot start on the display {where}: a system library is missing "
            f"({missing.group(0)}; Debian/Ubuntu: run scripts/setup.sh, or apt-get install "
            "the package that has it)"
        )
    if "no module named" in text or "qtbindingsnotfounderror" in text:
        return 'no Qt binding is installed (pip install "napari[pyqt6]")'
    if "could not connect to display" in text or "failed to create wl_display" in text:
        return f"cannot connect to the display {where}"
    for line in lines:
        if "is needed to load the qt" in line.lower():  # a missing system library
            return f"Qt cannot start on the display {where}: {line.split(': ', 1)[-1]}"
    if "could not load the qt platform plugin" in text:
        return f"Qt could not load its platform plugin for the display {where}"
    return f"Qt could not open a window on the display {where}"


def _die_with_parent() -> None:
    """In the child before ``exec``: be killed when the parent dies (Linux; elsewhere nothing).

    Without it, a ``kill -9`` of napari-unet left its Xvfb running forever.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


#: ``prctl`` option: the signal the calling process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (1920, 1200)) -> Iterator[str]:
    """Start Xvfb, point ``DISPLAY`` at it, yield the display name, then stop it.

    SIGTERM meanwhile stops Xvfb, then ends the process as SIGTERM does (status 143 in the
    shell); before, Xvfb ran on forever. Not an exception: napari runs much of its code in
    callbacks that swallow one, and the run went on. Xvfb is also killed when this process
    dies (Linux), after a ``kill -9`` too.
    """
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise InputError(
            "no usable display and no Xvfb found: run under a desktop session or install Xvfb "
            "(Debian/Ubuntu: apt-get install xvfb, or run scripts/setup.sh)"
        )
    with _xvfb(xvfb, size) as (name, proc), _sigterm_stops(proc):
        yield name


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def _sigterm_stops(proc: subprocess.Popen) -> Iterator[None]:
    """SIGTERM stops ``proc``, then ends this process by SIGTERM's default action."""
    import signal

    from napari_unet.cli._signals import handling

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up is not cut short
        print("napari-unet: terminated (SIGTERM)", file=sys.stderr, flush=True)
        _stop(proc)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    with handling([signal.SIGTERM], on_sigterm):
        yield


@contextlib.contextmanager
def _xvfb(xvfb: str, size: tuple[int, int]) -> Iterator[tuple[str, subprocess.Popen]]:
    """Xvfb on a free display: ``(DISPLAY, process)`` with ``DISPLAY`` set meanwhile."""
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
        preexec_fn=_die_with_parent,  # Xvfb dies with this process, even a kill -9
    )
    try:
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise InputError("Xvfb did not start (no display number reported)")
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = f":{number}"
        try:
            yield os.environ["DISPLAY"], proc
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old
    finally:
        _stop(proc)
