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
    "handling",
    "sigint_stops",
    "sigterm_raises",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every clean-up (``finally``) runs."""


#: The exit status of a command ended by SIGTERM (128 + 15), as a shell reports it.
TERMINATED_STATUS = 128 + signal.SIGTERM


@contextlib.contextmanager
def handling(signums, handler):
    """``handler`` for ``signums`` meanwhile (none off the main thread), then the old ones."""
    old = {}
    for signum in signums:
        with contextlib.suppress(ValueError):  # not the main thread: no handler
            old[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, before in old.items():
            signal.signal(signum, before)


@contextlib.contextmanager
def sigterm_raises():
    """Turn SIGTERM into :class:`Terminated`; a second one waits for the clean-up."""

    def on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up is not cut short
        raise Terminated

    with handling([signal.SIGTERM], on_sigterm):
        yield


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

    with handling([signal.SIGINT, signal.SIGTERM], on_signal):
        yield stop
