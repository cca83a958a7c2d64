"""The Annotate dock's count of a whole stack, made in a worker (:class:`StackCounter`).

Recounting a 60 x 2048 x 2048 stack after every stroke on the GUI thread froze napari for
0.8 s; the plane on screen is counted by the dock itself (a plane is quick).
"""

from __future__ import annotations

from collections.abc import Callable

from napari.qt.threading import create_worker

__all__ = ["StackCounter"]


class StackCounter:
    """The cells of a whole stack, counted in a worker; a request while one runs comes next.

    ``on_counts`` gets ``(cells, pixels)`` on the GUI thread. The plane on screen is counted
    by the dock itself (a plane is quick); the stack's figure follows a moment later.
    """

    def __init__(self, count: Callable, on_counts: Callable) -> None:
        self._count, self._on_counts = count, on_counts
        self._running = self._again = False
        self.data = None

    def request(self, data) -> None:
        """Count ``data`` (read in the worker: a stroke meanwhile is counted next time)."""
        self.data = data
        if self._running:
            self._again = True
            return
        self._running = True
        worker = create_worker(self._count, data, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._on_counts)
        worker.finished.connect(self._finished)
        worker.start()

    def _finished(self) -> None:
        self._running = False
        if self._again:
            self._again = False
            self.request(self.data)
