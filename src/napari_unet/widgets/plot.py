"""Live training curves: matplotlib rendered off the GUI thread, shown in a Qt widget.

A matplotlib draw of even a small figure takes 50-500 ms of Python work; done on the GUI
thread during training it would freeze napari for that long at every update. So the figure
is an Agg figure drawn by a small daemon thread whenever new points arrive (at most every
``min_interval`` seconds); the GUI thread only receives the finished picture through a Qt
signal and shows it (a pixmap swap, well under a millisecond).
"""

from __future__ import annotations

import threading
import time

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QObject, QSize, Qt, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

#: Shown in place of the (empty) axes until a run's first point.
HINT = "The curves appear\nwhen training starts"


class _Pictures(QObject):
    """Carries a finished picture from the render thread to the GUI thread.

    Parentless and held by the render thread's plot: when Qt deletes the widget (its dock
    collected, napari closing), a picture emitted meanwhile reaches nobody. Before, the
    thread emitted the widget's own signal while Qt destroyed it, which crashed the process.
    """

    picture = Signal(object)


class TrainingPlot(QWidget):
    """Training/validation loss (top) and validation AP50 / pixel IoU (bottom).

    Parameters
    ----------
    parent : QWidget, optional
        Qt parent.
    min_interval : float
        Least time between two renders, in seconds.
    """

    def __init__(self, parent: QWidget | None = None, min_interval: float = 0.5) -> None:
        super().__init__(parent)
        self.min_interval = min_interval
        self._view = QLabel()
        self._view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Ignored: the picture follows the widget's size, never the other way round.
        self._view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(200, 280)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)
        self.figure = Figure(figsize=(3.2, 3.2), dpi=80, layout="constrained")
        FigureCanvasAgg(self.figure)
        self.ax_loss, self.ax_metric = self.figure.subplots(2, 1, sharex=True)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.eval_steps: list[int] = []
        self.val_losses: list[float] = []
        self.ap50: list[float] = []
        self.pixel_iou: list[float] = []
        (self._l_train,) = self.ax_loss.plot([], [], lw=1, color="tab:blue", label="train")
        (self._l_val,) = self.ax_loss.plot([], [], "o-", ms=3, color="tab:orange", label="val")
        (self._l_ap,) = self.ax_metric.plot([], [], "o-", ms=3, color="tab:green", label="AP50")
        (self._l_iou,) = self.ax_metric.plot([], [], "s--", ms=3, color="tab:purple", label="IoU")
        self.ax_loss.set_ylabel("loss")
        self.ax_loss.legend(loc="upper right", fontsize=7)
        self.ax_metric.set_ylabel("validation")
        self.ax_metric.set_xlabel("step")
        self.ax_metric.set_ylim(0, 1)
        self.ax_metric.legend(loc="lower right", fontsize=7)
        for ax in (self.ax_loss, self.ax_metric):
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        # Before a run, empty axes showed a meaningless range (-0.04..0.04): a hint instead.
        self.hint = self.figure.text(0.5, 0.5, HINT, ha="center", va="center", color="0.35")
        self.n_draws = 0
        self._size = (320, 320)
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._pictures = _Pictures()  # the render thread emits here, never on the widget
        self._pictures.picture.connect(self._show)
        closed = self._closed  # not self: the slot must not keep the widget alive
        self.destroyed.connect(lambda *_: closed.set())
        self._thread: threading.Thread | None = None
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        """Start the render thread (again, after :meth:`close_plot`) and ask for a render."""
        if self._thread is None or not self._thread.is_alive():
            self._closed.clear()
            self._thread = threading.Thread(
                target=self._render_loop, name="napari-unet-plot", daemon=True
            )
            self._thread.start()
        self._dirty.set()

    # -- data (GUI thread) ----------------------------------------------------------------
    def reset(self) -> None:
        """Forget all points (a new run)."""
        with self._lock:
            for seq in (self.steps, self.losses, self.eval_steps, self.val_losses):
                seq.clear()
            self.ap50.clear()
            self.pixel_iou.clear()
        self._ensure_thread()

    def show_history(self, history: dict | None) -> None:
        """Show a run's curves from its ``TrainResult.history`` (None: none, as :meth:`reset`).

        The points its events added during the run: training losses and evaluations.
        """
        self.reset()
        history = history or {}
        with self._lock:
            for point in history.get("train", []):
                self.steps.append(point["step"])
                self.losses.append(float(point["loss"]))
        for point in history.get("val", []):
            self.add_evaluation(point["step"], point)

    def add_step(self, step: int, loss: float) -> None:
        """Add a training-loss point."""
        with self._lock:
            self.steps.append(step)
            self.losses.append(loss)
        self._ensure_thread()

    def add_evaluation(self, step: int, metrics: dict) -> None:
        """Add validation loss, AP50 and pixel IoU at ``step``."""
        with self._lock:
            self.eval_steps.append(step)
            self.val_losses.append(float(metrics.get("val_loss", float("nan"))))
            self.ap50.append(float(metrics.get("ap50", float("nan"))))
            self.pixel_iou.append(float(metrics.get("pixel_iou", float("nan"))))
        self._ensure_thread()

    def close_plot(self) -> None:
        """Stop the render thread (the widget is going away)."""
        self._closed.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        """A modest preferred size; the picture follows whatever size the dock gives."""
        return QSize(320, 300)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Render at the new size."""
        self._size = (max(self.width(), 200), max(self.height(), 280))
        self._dirty.set()
        super().resizeEvent(event)

    def _show(self, image: QImage) -> None:
        self._view.setPixmap(QPixmap.fromImage(image))

    # -- rendering (plot thread) ----------------------------------------------------------
    def _render_loop(self) -> None:
        last = 0.0
        while not self._closed.is_set():
            if not self._dirty.wait(timeout=0.5):
                continue
            wait = self.min_interval - (time.monotonic() - last)
            if wait > 0 and self._closed.wait(wait):
                break
            self._dirty.clear()
            try:
                image = self.render()
            except Exception:  # noqa: BLE001 (a failed draw must not end the thread)
                continue
            last = time.monotonic()
            if self._closed.is_set():
                break
            try:
                self._pictures.picture.emit(image)
            except RuntimeError:  # the carrier was deleted (the process is ending)
                break

    def render(self) -> QImage:
        """Draw the figure at the widget's size and return it as a QImage."""
        with self._lock:
            data = (
                list(self.steps),
                list(self.losses),
                list(self.eval_steps),
                list(self.val_losses),
                list(self.ap50),
                list(self.pixel_iou),
            )
        steps, losses, ev, val_losses, ap, iou = data
        empty = not steps and not ev
        self.hint.set_visible(empty)
        for ax in (self.ax_loss, self.ax_metric):
            ax.set_visible(not empty)
        w, h = self._size
        dpi = self.figure.dpi
        self.figure.set_size_inches(w / dpi, h / dpi)
        self._l_train.set_data(steps, losses)
        self._l_val.set_data(ev, val_losses)
        self._l_ap.set_data(ev, ap)
        self._l_iou.set_data(ev, iou)
        positive = [v for v in losses + val_losses if v > 0]
        self.ax_loss.set_yscale("log" if positive else "linear")
        for ax in (self.ax_loss, self.ax_metric):
            ax.relim()
            ax.autoscale_view(scaley=ax is self.ax_loss)
        canvas = self.figure.canvas
        canvas.draw()
        buf = canvas.buffer_rgba()
        image = QImage(bytes(buf), buf.shape[1], buf.shape[0], QImage.Format.Format_RGBA8888)
        self.n_draws += 1
        return image.copy()
