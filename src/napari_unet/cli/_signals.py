"""Signals to commands: Ctrl-C and SIGTERM stop, save and clean up instead of killing.

Apart from the argument helpers (:mod:`napari_unet.cli._args`), which import the command
table, so that the entry point can name :class:`Terminated` without an import cycle.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

__all__ = [
    "TERMINATED_STATUS",
    "Terminated",
    "handle_signals",
    "restore_signals",
    "sigint_stops",
    "sigterm_raises",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every clean-up (``finally``) runs."""


#: The exit status of a command ended by SIGTERM (128 + 15), as a shell reports it.
TERMINATED_STATUS = 128 + signal.SIGTERM


def handle_signals(signums, handler) -> dict:
    """Install ``handler`` for ``signums``; the handlers replaced (none off the main thread)."""
    old = {}
    for signum in signums:
        with contextlib.suppress(ValueError):  # not the main thread: no handler
            old[signum] = signal.signal(signum, handler)
    return old


def restore_signals(old: dict) -> None:
    """Put back the handlers :func:`handle_signals` replaced."""
    for signum, handler in old.items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def sigterm_raises():
    """Turn SIGTERM into :class:`Terminated`; a second one waits for the clean-up."""

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up is not cut short
        raise Terminated

    old = handle_signals([signal.SIGTERM], on_sigterm)
    try:
        yield
    finally:
        restore_signals(old)


@contextlib.contextmanager
def sigint_stops(stop: threading.Event):
    """Ctrl-C or SIGTERM sets ``stop`` (training ends after the step and saves); a second aborts.

    SIGTERM (a batch job's time limit, ``timeout``, ``kill``) stops as Ctrl-C does; before,
    the process died at once and kept nothing since the last best model. ``stop.exit_status``
    is then :data:`TERMINATED_STATUS` (None otherwise), the status to exit with once the
    model is saved. A second signal raises :class:`KeyboardInterrupt` (:class:`Terminated`
    for SIGTERM) in the step, and the run still saves.
    """
    stop.exit_status = None

    def on_signal(signum, frame):
        if stop.is_set():
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        stop.set()
        if signum == signal.SIGTERM:
            stop.exit_status = TERMINATED_STATUS
            print("\nterminated (SIGTERM): stopping after the current step and saving "
                  "(a second SIGTERM or Ctrl-C aborts the step)", file=sys.stderr)  # fmt: skip
        else:
            print("\nstopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

    old = handle_signals([signal.SIGINT, signal.SIGTERM], on_signal)
    try:
        yield stop
    finally:
        restore_signals(old)
