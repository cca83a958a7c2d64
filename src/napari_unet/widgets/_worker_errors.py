"""Errors of the docks' generator jobs, passed on to their ``errored`` signal.

napari's generator workers (superqt) take a ``RuntimeError`` raised by the generator for a
deleted Qt object: they only warn, and emit neither ``errored`` nor ``finished``. A dock
waiting for them stayed on Cancel for good, and PyTorch reports a CPU out of memory (and
CUDA's) as a RuntimeError. Each dock runs its generator job through :func:`surfaced`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator

__all__ = ["WorkerFailed", "surfaced"]


class WorkerFailed(Exception):
    """A ``RuntimeError`` or ``MemoryError`` of a generator job, in words (:func:`surfaced`).

    ``result``: the error's own (a training run that failed keeps what it trained).
    """

    def __init__(self, message: str, result=None) -> None:
        super().__init__(message)
        self.result = result


def surfaced(job: Callable[..., Generator]) -> Callable[..., Generator]:
    """``job`` (a generator function) whose RuntimeError reaches the worker's ``errored``.

    Such an error, and a ``MemoryError`` (which often has no text), are raised again as
    :class:`WorkerFailed` saying what happened (``"out of memory (...)"``).
    """
    from napari_unet.core.errors import memory_message

    @functools.wraps(job)
    def run(*args, **kwargs):
        try:
            return (yield from job(*args, **kwargs))
        except (RuntimeError, MemoryError) as exc:
            text = memory_message(exc) or str(exc) or type(exc).__name__
            raise WorkerFailed(text, getattr(exc, "result", None)) from exc

    return run
