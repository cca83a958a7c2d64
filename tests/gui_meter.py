"""A measuring instrument for GUI responsiveness, used by tests and benchmarks only.

:class:`GapMeter` ticks a 10 ms QTimer on the GUI thread and records the gaps between its
ticks: a responsive GUI thread ticks about every 10 ms; a longer gap is time the GUI thread
was busy (or starved of the interpreter lock) and could neither repaint nor react.
"""

from __future__ import annotations

import time

import numpy as np
from qtpy.QtCore import QTimer


class GapMeter:
    """Gaps between the ticks of a short QTimer on the GUI thread, in ms."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.gaps_ms: list[float] = []
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        """Forget earlier gaps and start ticking."""
        self.gaps_ms.clear()
        self.resume()

    def resume(self) -> None:
        """Tick again after :meth:`stop`, keeping the gaps so far (a pause is not a gap)."""
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000.0)
        self._last = now

    def percentiles(self) -> dict[str, float]:
        """p50, p99 and max gap (ms) and the number of ticks."""
        g = np.asarray(self.gaps_ms or [0.0])
        return {
            "p50": float(np.percentile(g, 50)),
            "p99": float(np.percentile(g, 99)),
            "max": float(g.max()),
            "n": len(self.gaps_ms),
        }
