"""The "Train" dock: train or fine-tune a U-Net on painted cells, in a background thread.

Every training step, batch, evaluation, preview prediction and file write runs in a napari
thread worker (:func:`napari_unet.widgets._workers.train_job`) on the core generator
:func:`napari_unet.core.training.trainer.iter_train`; the GUI thread only updates the
progress bar, the curves and the preview layer. The worker never touches the dock: the part
of the image in view reaches it through a lock-guarded
:class:`~napari_unet.widgets._workers.ViewSource`.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)
from qtpy.QtWidgets import QSizePolicy

from napari_unet.core.options import describe
from napari_unet.core.training.config import (
    DEFAULT_LR,
    DEFAULT_PRESET,
    HOLDOUT_FRACTION,
    PRESETS,
    TrainConfig,
)
from napari_unet.widgets import _layers, _workers
from napari_unet.widgets import _train_helpers as th
from napari_unet.widgets.plot import TrainingPlot

if TYPE_CHECKING:
    import napari

BUILTIN = "built-in nuclei model"
FILE = "model file (fine-tune)"
SCRATCH = "scratch (architecture below)"
START_FROM = (BUILTIN, FILE, SCRATCH)
HOLDOUT = f"hold out {HOLDOUT_FRACTION:.0%} (bottom rows)"
#: Shortest time between two progress-bar updates during training (seconds).
BAR_INTERVAL_S = 0.5


class TrainWidget(Container):
    """Train a U-Net on Image/Labels layer pairs with live curves, preview and Stop/Resume.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers provide the training data.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer
        self._make_controls()
        self._form = Container(labels=True)
        self._form.extend(
            [
                self._image, self._labels, self._region, self._pair_buttons, self._pairs_label,
                self._start_from, self._preset, self._init_file, self._steps, self._lr,
                self._batch, self._crop, self._val_image, self._val_labels, self._val_every,
                self._device, self._save_path, self._buttons, self._progress, self._status,
            ]
        )  # fmt: skip
        self.plot = TrainingPlot()
        self._scroll = _layers.scroll_panel(self._form.native, self.plot)
        self.native.layout().addWidget(self._scroll)
        self._pairs: list[tuple[Any, Any, Any]] = []
        self._result = None
        self._worker = None
        self._view: _workers.ViewSource | None = None
        self._stop_flag = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._closing = False
        self._t0 = self._last_bar = 0.0
        self._start_step = 0
        self._connect()
        self._refresh()
        th.preimport()

    def _make_controls(self) -> None:
        d = TrainConfig
        self._image = ComboBox(label="image", choices=self._choices("Image"))
        self._labels = ComboBox(label="labels", choices=self._choices("Labels"))
        self._region = ComboBox(label="region", choices=self._region_choices)
        self._add_pair = PushButton(text="Add pair")
        self._clear_pairs = PushButton(text="Clear pairs")
        self._pairs_label = Label(value="pairs: the image/labels above")
        self._pairs_label.native.setWordWrap(True)
        self._preset = ComboBox(label="architecture", choices=list(PRESETS), value=DEFAULT_PRESET)
        self._start_from = ComboBox(label="start from", choices=list(START_FROM), value=BUILTIN)
        self._init_file = FileEdit(label="fine-tune from", mode="r", filter="*.safetensors")
        self._steps = SpinBox(label="steps", min=1, max=1_000_000, value=d.steps)
        self._lr = FloatSpinBox(
            label="learning rate", min=1e-6, max=1.0, step=1e-4, value=DEFAULT_LR[d.optimizer]
        )
        self._lr.native.setDecimals(6)
        self._batch = SpinBox(label="batch size", min=1, max=256, value=d.batch_size)
        self._crop = SpinBox(label="crop size (px)", min=16, max=2048, value=d.crop_size)
        self._val_every = SpinBox(label="validate every", min=1, max=100_000, value=d.val_every)
        self._val_image = ComboBox(label="validation", choices=self._val_choices)
        self._val_labels = ComboBox(label="val labels", choices=self._choices("Labels"))
        self._device = ComboBox(label="device", choices=["auto", "cpu", "cuda", "mps"])
        self._save_path = FileEdit(label="save to", mode="w", filter="*.safetensors")
        self._start = PushButton(text="Train")
        self._stop = PushButton(text="Stop", enabled=False)
        self._resume = PushButton(text="Resume", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=d.steps, value=0)
        self._status = Label(value="Paint a few cells, then press Train.")
        # One line that never resizes the dock: a new status text must not trigger a relayout
        # of the whole form (that cost tens of ms per update on the GUI thread).
        self._status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        for widget, key in (
            (self._image, "image"), (self._labels, "labels"), (self._region, "region"),
            (self._add_pair, "add_pair"), (self._clear_pairs, "clear_pairs"),
            (self._preset, "arch"), (self._start_from, "start_from"), (self._init_file, "init"),
            (self._steps, "steps"), (self._lr, "lr"), (self._batch, "batch_size"),
            (self._crop, "crop_size"), (self._val_every, "val_every"),
            (self._val_image, "validation"), (self._val_labels, "val_labels"),
            (self._device, "device"), (self._save_path, "save_to"), (self._start, "train"),
            (self._stop, "stop"), (self._resume, "resume_run"),
        ):  # fmt: skip
            widget.tooltip = describe(key)
        self._buttons = Container(
            widgets=[self._start, self._stop, self._resume], layout="horizontal"
        )
        self._pair_buttons = Container(
            widgets=[self._add_pair, self._clear_pairs], layout="horizontal"
        )
        for c in (self._buttons, self._pair_buttons):
            c.margins = (0, 0, 0, 0)

    def _connect(self) -> None:
        # Choosing an architecture means training it from scratch; choosing a file means
        # fine-tuning that file. The built-in starter model is the default start.
        self._preset.changed.connect(lambda _=None: setattr(self._start_from, "value", SCRATCH))
        self._init_file.changed.connect(self._on_init_file)
        self._start.changed.connect(lambda _=None: self._on_start(resume=False))
        self._resume.changed.connect(lambda _=None: self._on_start(resume=True))
        self._stop.changed.connect(self._on_stop)
        self._add_pair.changed.connect(self._on_add_pair)
        self._clear_pairs.changed.connect(self._on_clear_pairs)
        _layers.on_layers_changed(self._viewer, self._refresh)
        cam = _layers.camera(self._viewer)
        for event in (cam.events.center, cam.events.zoom, self._viewer.dims.events.current_step):
            event.connect(self._update_view)
        self._watcher = _layers.CloseWatcher(self.shutdown)
        self.native.installEventFilter(self._watcher)  # the window's too, once docked (start)
        # The viewer may delete its docks before the window's Close event: stop then too.
        self.native.destroyed.connect(lambda *_: self.shutdown())

    # -- layer choices ------------------------------------------------------------------
    def _choices(self, kind: str):
        return lambda _widget=None: _layers.layer_choices(self._viewer, kind)

    def _region_choices(self, _widget=None):
        layers = _layers.layer_choices(self._viewer, "Labels", "Shapes")
        return [("none (all annotated)", None), *layers]

    def _val_choices(self, _widget=None):
        return [(HOLDOUT, None), ("none", "none"), *self._choices("Image")()]

    def _refresh(self, _event=None) -> None:
        if not self._closing:
            self.reset_choices()

    def reset_choices(self, *_args) -> None:
        """Refresh the layer pickers (the form is not a magicgui child of this container)."""
        super().reset_choices()
        self._form.reset_choices()

    def _on_add_pair(self, _value=None) -> None:
        if self._image.value is None or self._labels.value is None:
            return
        self._pairs.append((self._image.value, self._labels.value, self._region.value))
        names = ", ".join(f"{i.name}+{lb.name}" for i, lb, _ in self._pairs)
        self._pairs_label.value = f"pairs: {names}"

    def _on_clear_pairs(self, _value=None) -> None:
        self._pairs.clear()
        self._pairs_label.value = "pairs: the image/labels above"

    # -- settings -----------------------------------------------------------------------
    def _config(self) -> TrainConfig:
        return TrainConfig(
            model=self._preset.value,
            steps=int(self._steps.value),
            lr=float(self._lr.value),
            batch_size=int(self._batch.value),
            crop_size=int(self._crop.value),
            val_every=int(self._val_every.value),
            device=str(self._device.value),
            val_fraction=HOLDOUT_FRACTION if self._val_image.value is None else 0.0,
        )

    def _update_view(self, _event=None) -> None:
        """Tell the preview which part of the trained image is in view (GUI thread)."""
        if self._view is None or self._closing:
            return
        box = _layers.visible_box(self._viewer, self._image_layer, self._view_shape)
        self._view.update(box, int(self._viewer.dims.current_step[0]))

    def _on_init_file(self, _value=None) -> None:
        if str(self._init_file.value) not in ("", "."):
            self._start_from.value = FILE

    def _init_choice(self):
        """The model file to fine-tune from (None: from scratch); raises InputError."""
        from napari_unet.core.errors import InputError
        from napari_unet.core.models.pretrained import pretrained_path

        if self._start_from.value == BUILTIN:
            return pretrained_path("nuclei")
        if self._start_from.value == SCRATCH:
            return None
        init = self._init_file.value
        if init is None or str(init) in ("", "."):
            raise InputError("choose a model file to fine-tune from, or start from scratch")
        return init

    # -- running ------------------------------------------------------------------------
    def _on_start(self, resume: bool = False) -> None:
        from napari.qt.threading import create_worker

        from napari_unet.core.errors import InputError

        if not self._done.is_set():
            return
        try:
            if resume and self._result is None:
                raise InputError("nothing to resume: train first")
            config = self._config()
            pairs = self._pairs or [(self._image.value, self._labels.value, self._region.value)]
            data = th.snapshot(pairs, self._val_image.value, self._val_labels.value)
            init = None if resume else self._init_choice()
            self._output = th.output_path(pairs[0][0], self._save_path.value)
            th.check_output(self._output, [ly for pair in pairs for ly in pair], init)
        except (InputError, FileNotFoundError) as exc:
            _layers.report_error(self._status, str(exc))
            return
        self._prepare_run(pairs[0][0], data)
        kwargs = {
            "stop": self._stop_flag,
            "init": init,
            "output": self._output,
            "resume": self._result if resume else None,
            "preview": self._view,
        }
        if not resume:
            self.plot.reset()
        self._progress.max = config.steps
        self._set_running(True)
        self._status.value = "Computing weight maps..."
        # napari's many objects make a full garbage collection pause every thread for
        # 0.1-0.4 s; frozen, they are left out of the collections that training's
        # allocations trigger (longest GUI gap 0.75 s -> 0.18 s). Unfrozen when it ends.
        gc.freeze()
        self._worker = create_worker(
            _workers.train_job, data, config, kwargs, self._done,
            _connect={
                "yielded": self._on_event, "returned": self._on_returned,
                "errored": self._on_error, "finished": self._on_finished,
            },
        )  # fmt: skip

    def _prepare_run(self, image_layer, data: dict) -> None:
        """Output path, preview layer and view source of a run (GUI thread)."""
        self._image_layer = image_layer
        window = self.native.window()  # the viewer's window once docked: stop when it closes
        if window is not self.native:
            window.installEventFilter(self._watcher)
        shape = data["labels"][0].shape
        self._view_shape = shape[-2:]
        self._view = _workers.ViewSource(data["images"][0], stack=len(shape) == 3)
        self._update_view()
        name = f"{image_layer.name} preview"
        old = self._viewer.layers[name] if name in self._viewer.layers else None
        if old is not None and old.data.shape != shape:  # from an image of another size
            self._viewer.layers.remove(old)
        if name not in self._viewer.layers:  # created now: adding a layer later would stall
            self._viewer.add_labels(np.zeros(shape, np.int32), name=name, opacity=0.5)
            self._viewer.layers.selection.active = self._labels.value
        self._stop_flag.clear()
        self._closing = False
        self._done.clear()

    def _set_running(self, running: bool) -> None:
        self._start.enabled = not running
        self._resume.enabled = not running and self._result is not None
        self._stop.enabled = running

    def _on_event(self, ev) -> None:
        from napari_unet.core.training import events

        if self._closing:
            return
        if isinstance(ev, str):
            self._status.value = ev
        elif isinstance(ev, events.TrainStarted):
            self._t0, self._start_step = time.perf_counter(), ev.start_step
            self._progress.value = ev.start_step
            self._status.value = f"Training on {ev.device}, crops {ev.input_size} px"
        elif isinstance(ev, events.TrainStep):
            self._on_step(ev)
        elif isinstance(ev, events.Evaluation):
            self.plot.add_evaluation(ev.step, ev.metrics)
        elif isinstance(ev, events.Preview):
            name = f"{self._image_layer.name} preview"
            if name in self._viewer.layers:  # unless the user deleted it
                plane = self._viewer.dims.current_step[0]
                th.paint_preview(self._viewer.layers[name], ev, plane)
        elif isinstance(ev, events.Checkpoint):
            self._status.value = f"saved {ev.kind} model: {ev.path.name}"

    def _on_step(self, ev) -> None:
        self.plot.add_step(ev.step, ev.loss)
        # Each repaint of the window costs the GUI thread 20-40 ms where OpenGL is
        # software-rendered: at most two updates a second, painted together.
        now = time.perf_counter()
        if now - self._last_bar < BAR_INTERVAL_S and ev.step < ev.total_steps:
            return
        self._last_bar = now
        th.set_progress_deferred(self._progress.native, ev.step)
        done = ev.step - self._start_step
        eta = (now - self._t0) / max(done, 1) * (ev.total_steps - ev.step)
        self._status.value = (
            f"step {ev.step}/{ev.total_steps}  loss {ev.loss:.4f}  "
            f"{ev.images_per_s:.1f} img/s  ETA {th.fmt_time(eta)}"
        )

    def _on_returned(self, result) -> None:
        self._result = result
        if self._closing:
            return
        status, trouble = th.result_status(result, self._output)
        if trouble:
            _layers.report_error(self._status, trouble)
        self._status.value = status
        self._handover(result)

    def _handover(self, result) -> None:
        """Give the (best) trained model to a docked Predict widget, if there is one."""
        model = result.best_model()
        name = self._output.stem if self._output else "trained model"
        for widget in list(self._viewer.window.dock_widgets.values()):
            if widget is not self and hasattr(widget, "set_model"):
                widget.set_model(model, dict(result.metadata), name)

    def _on_error(self, exc: Exception) -> None:
        from napari_unet.core.errors import InputError

        if not self._closing:
            msg = str(exc) if isinstance(exc, InputError) else f"Training failed: {exc}"
            _layers.report_error(self._status, msg)

    def _on_finished(self) -> None:
        gc.unfreeze()  # also when the worker ended before its generator ran
        if not self._closing:
            self._set_running(False)

    def _on_stop(self, _value=None) -> None:
        self._stop_flag.set()
        self._status.value = "Stopping after the current step..."

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop training and wait for the worker thread to end (widget or viewer closing).

        Returns
        -------
        bool
            True if no training thread is left running.
        """
        if "_done" not in self.__dict__:  # Qt reports a dock that Python is tearing down
            return True
        self._stop_flag.set()
        self._closing = True  # queued worker signals must not touch deleted widgets
        with contextlib.suppress(RuntimeError):  # the plot may be deleted already
            self.plot.close_plot()  # restarts by itself if the dock comes back
        return self._done.wait(timeout)
