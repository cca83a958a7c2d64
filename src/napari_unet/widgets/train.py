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
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from qtpy.QtWidgets import QMainWindow

from napari_unet.core.errors import InputError
from napari_unet.core.options import describe
from napari_unet.widgets import _exporting, _layers, _workers
from napari_unet.widgets import _train_helpers as th
from napari_unet.widgets import _train_outputs as to
from napari_unet.widgets import _train_sent as ts
from napari_unet.widgets import _train_start as tstart
from napari_unet.widgets._docking import reveal, scroll_panel, tab_when_docked, when_deleted
from napari_unet.widgets._private import real
from napari_unet.widgets._train_form import (  # noqa: F401 - the dock's public names
    BUILTIN,
    CONTROLS,
    FILE,
    HOLDOUT,
    SCRATCH,
    START_FROM,
    TrainForm,
)
from napari_unet.widgets._worker_errors import drive, finish_quit, surfaced
from napari_unet.widgets.plot import TrainingPlot

if TYPE_CHECKING:
    import napari

PREVIEW_HALF_SIDE = th.PREVIEW_HALF_SIDE  # the largest preview's half side (data pixels)
#: Shortest time between two progress-bar updates during training (seconds).
BAR_INTERVAL_S = 0.5


class TrainWidget(_layers.KeepsPicks, Container):
    """Train a U-Net on Image/Labels layer pairs with live curves, preview and Stop/Resume.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers provide the training data.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        self._form = TrainForm(viewer)
        for name in CONTROLS:  # the form's controls are the dock's too
            setattr(self, name, getattr(self._form, name))
        self._start = PushButton(text="Train")
        self._stop = PushButton(text="Stop", enabled=False)
        self._resume = PushButton(text="Resume", enabled=False)
        for widget, key in (
            (self._start, "train"),
            (self._stop, "stop"),
            (self._resume, "resume_run"),
        ):
            widget.tooltip = describe(key)
        self._buttons = Container(
            widgets=[self._start, self._stop, self._resume], layout="horizontal"
        )
        self._buttons.margins = (0, 0, 0, 0)
        self._progress = ProgressBar(label="progress", min=0, max=self._steps.value, value=0)
        self._status = Label(value="")
        # Lines that never resize the dock: a new status text must not relayout the form
        # (that cost tens of ms per update on the GUI thread); long ones wrap, not widen it.
        _layers.message_label(self._status, lines=4)
        self._form.keep_idle(self._status)  # said from the picks, until a run says more
        self._save = PushButton(text="Save model...", enabled=False)
        self._save.tooltip = describe("save_model")
        # The trained model as a bioimage.io package, written and tested in a worker.
        self._exporter = _exporting.Exporter(self.native, self._status, self._export_source)
        self._exporter.enabled = False
        self._form.extend(
            [self._buttons, self._progress, self._status,
             _layers.row(self._save, self._exporter.button)]
        )  # fmt: skip
        self.plot = TrainingPlot()
        self._scroll = scroll_panel(self._form.native, self.plot)
        self.native.layout().addWidget(self._scroll)
        self._result = None
        self._worker = self._job = None  # the worker, and the job (generator) it runs
        self._view: _workers.ViewSource | None = None
        self._stop_flag = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._closing = False
        self._t0 = self._last_bar = 0.0
        self._start_step, self._preview_layer, self._stepped = 0, None, False
        # Model files this dock wrote, with their run ids (a later run and Resume write them
        # again; any other file is not replaced, to.claim_output), the Review dock's suggestion.
        self._written: dict[Path, set[str]] = {}
        self._suggested: Path | None = None
        self._sent = self._run_sent = self._result_sent = None  # ts.SentPairs: sent, run, last
        self._output_note, self._warned = "", []  # the run's notes: its output, its warnings
        self._lr_note = ""  # the run's base learning rate, on every progress line
        self._connect()
        self._refresh()
        th.preimport()
        tab_when_docked(self)  # opened from the Plugins menu: a tab beside the other docks

    def _connect(self) -> None:
        self._start.changed.connect(lambda _=None: self._on_start(resume=False))
        self._resume.changed.connect(lambda _=None: self._on_start(resume=True))
        self._stop.changed.connect(self._on_stop)
        self._save.changed.connect(self._on_save)
        _layers.on_layers_changed(self._viewer, self._refresh)
        _layers.connect_view(self._viewer, self._update_view)  # camera, canvas size, grid
        self._viewer.dims.events.current_step.connect(self._update_view)
        # The dock removed: stop, and let the run end in the background (before, the GUI
        # thread waited for it, seconds before its first step). napari closing (its
        # window, installed at start, or its docks deleted) waits a while for it.
        self._watcher = _layers.CloseWatcher(lambda: self.shutdown(0), confirmed=True)
        self.native.installEventFilter(self._watcher)
        self._exit_watcher = _layers.CloseWatcher(self.shutdown, confirmed=True)
        when_deleted(self, "shutdown")

    def _refresh(self, _event=None) -> None:
        if not self._closing:
            self.reset_choices()
            self._form.drop_missing()  # a pair whose layer left the viewer is not trained
            self._form.pair_labels()

    def reset_choices(self, *_args) -> None:
        """Refresh the layer pickers (the form is not a magicgui child of this container)."""
        super().reset_choices()  # each picker keeps its layer (by object)
        _layers.reset_keeping(self._form.reset_choices, self._form)

    def _update_view(self, _event=None) -> None:
        """Tell the preview which part of the trained image is in view (GUI thread)."""
        if self._view is None or self._closing:
            return
        view = th.in_view(self._viewer, self._image_layer, self._view_shape, self._planes)
        if view is not None:  # None: the view lies off the stack (the last plane stays)
            # (a box of None: no plane shown, or a view beside it; the last box stays)
            self._view.update(*view)

    # -- running ------------------------------------------------------------------------
    def _on_start(self, resume: bool = False) -> None:
        from napari.qt.threading import create_worker

        from napari_unet.core.training.checkpoint import with_start_normalization

        if not self._done.is_set():
            return
        try:
            if resume and self._result is None:
                raise InputError("nothing to resume: train first")
            config = self._form.config()
            if resume:  # before: another architecture was silently ignored
                tstart.check_resume(config.model, self._result)
            run_sent, sent_note = ts.check_sent(  # what the sender changed since (a verdict)
                self._sent, self._form, self._viewer, resume, self._result_sent
            )
            pairs = self._form.pairs()
            init = None if resume else self._form.init_choice()
            channels = th.model_channels(init, self._result if resume else None)
            val = (self._val_image.value, self._val_labels.value)  # scored in its region
            data = th.snapshot(pairs, *val, channels, th.val_region(self._viewer, val[0]))
            config = with_start_normalization(config, init, self._result if resume else None)
            self._output, note = tstart.output_of(self, pairs, init)  # claimed for the run
            self._output_note = "; ".join(n for n in (sent_note, note) if n)
        except (InputError, FileNotFoundError) as exc:
            _layers.report_error(self._status, str(exc))
            self._show_run()
            return
        self._run_sent, self._warned = run_sent, []
        self._prepare_run(pairs[0], data, config)
        kwargs = {
            "stop": self._stop_flag,
            "init": init,
            "output": self._output,
            "resume": self._result if resume else None,
            "preview": self._view,
        }
        if not resume:  # a run that trains nothing shows the kept model's curves again
            self.plot.reset()
        self._stepped = False
        self._progress.max = config.steps
        self._set_running(True)
        start = "" if resume else self._form.start_note  # auto: which built-in model
        notes = "; ".join(n for n in (start, self._output_note) if n)
        self._status.value = "Computing weight maps..." + (f" ({notes})" if notes else "")
        self._show_run(self.plot)  # Stop, the progress, the status and the curves
        # napari's many objects make a full garbage collection pause every thread for
        # 0.1-0.4 s; frozen, they are left out of the collections that training's
        # allocations trigger (longest GUI gap 0.75 s -> 0.18 s). Unfrozen when it ends.
        gc.freeze()
        self._job = surfaced(th.read_then_train)(data, config, kwargs, self._done)
        self._worker = create_worker(
            drive, self._job,
            _connect={
                "yielded": self._on_event, "returned": self._on_returned,
                "errored": self._on_error, "finished": self._on_finished,
                "warned": self._on_warned,  # no validation held out, say
            },
        )  # fmt: skip

    def _prepare_run(self, pair, data: dict, config) -> None:
        """Output path, preview layer and view source of a run (GUI thread)."""
        image_layer, labels_layer = pair[0], pair[1]
        self._image_layer, self._validation = image_layer, self._form.validation()
        window = self.native.window()  # the viewer's window once docked: stop when it closes
        if isinstance(window, QMainWindow):  # (a floating dock's hide button is no close)
            window.installEventFilter(self._exit_watcher)
        shape = data["labels"][0].shape
        self._view_shape, self._planes = shape[-2:], (shape[0] if len(shape) == 3 else 1)
        # Normalised with the whole plane's statistics, as Predict reads the pixels in view.
        self._view = _workers.ViewSource(
            data["images"][0], shape, config.normalization, data["in_channels"],
            half_side=PREVIEW_HALF_SIDE,
        )  # fmt: skip
        self._update_view()
        # Made now (adding a layer later would stall); painted by reference (renames).
        self._preview_layer, self._new_preview = th.preview_layer(
            self._viewer, image_layer, labels_layer, shape, dock=self
        )
        if self._new_preview is not None:
            self._viewer.layers.selection.active = self._labels_box.value
        self._stop_flag.clear()
        self._closing = False
        self._done.clear()

    def _set_running(self, running: bool) -> None:
        self._start.enabled = not running
        self._resume.enabled = not running and self._result is not None
        self._save.enabled = not running and self._result is not None
        self._exporter.enabled = self._save.enabled  # off while an export runs, this after
        self._stop.enabled = running

    def _show_run(self, last=None) -> None:
        """Scroll the dock to its buttons, progress and status (then ``last``, if it fits)."""
        reveal(self._scroll, self._buttons.native, last or self._status.native)

    def _on_event(self, ev) -> None:
        from napari_unet.core.training import events

        if self._closing:
            return
        if isinstance(ev, str):
            self._status.value = ev
        elif isinstance(ev, events.TrainStarted):
            self._t0, self._start_step = time.perf_counter(), ev.start_step
            self._progress.value = ev.start_step
            self._lr_note, started = th.started_text(ev, self._validation)
            if not self._stop_flag.is_set():  # "Stopping..." stays (it ends before step 1)
                self._status.value = started
        elif isinstance(ev, events.TrainStep):
            self._on_step(ev)
        elif isinstance(ev, events.Evaluation):
            self.plot.add_evaluation(ev.step, ev.metrics)
        elif isinstance(ev, events.Preview):  # on the plane it was made of (in its origin)
            if self._preview_layer in self._viewer.layers:  # unless the user deleted it
                th.paint_preview(self._preview_layer, ev)
        elif isinstance(ev, events.Checkpoint):
            self._status.value = f"saved {ev.kind} model: {ev.path.name}"

    def _on_step(self, ev) -> None:
        self._stepped = True
        self.plot.add_step(ev.step, ev.loss)
        # Each repaint of the window costs the GUI thread 20-40 ms where OpenGL is
        # software-rendered: at most two updates a second, painted together.
        now = time.perf_counter()
        if now - self._last_bar < BAR_INTERVAL_S and ev.step < ev.total_steps:
            return
        self._last_bar = now
        th.set_progress_deferred(self._progress.native, ev.step)
        self._status.value = th.step_text(ev, self._start_step, now - self._t0, self._lr_note)

    def _on_returned(self, result) -> None:
        if result is None or result.steps_done <= self._start_step:  # stopped before a step
            if not self._closing:  # nothing handed on or enabled; the last run's model stays
                kept = "; the last model is kept" if self._result is not None else ""
                self._status.value = f"stopped before the first step: nothing trained{kept}"
                self.plot.show_history(self._result and self._result.history)  # kept curves
                th.drop_blank(self._viewer, getattr(self, "_new_preview", None))  # nothing shown
            return
        self._result, self._result_sent = result, self._run_sent
        to.record(self._written, result.saved_to, result.run_id)
        if self._closing:
            return
        th.set_progress_deferred(self._progress.native, result.steps_done)  # a Stop's step
        status, trouble = th.result_status(result, self._output)
        if trouble:
            _layers.report_error(self._status, trouble)
        notes = "; ".join(n for n in (self._output_note, *self._warned) if n)
        self._status.value = status + (f" ({notes})" if notes else "")
        ts.hand_over(self, result, self._result_sent)  # Predict, Review

    def use_pairs(self, pairs, init, source: str, save_to: Path | None = None, check=None):
        """Fine-tune ``init`` on ``(name, image, labels)`` arrays another dock sends.

        Each pair becomes a hidden Image and Labels layer (``"<name> (reviewed)"``), so the
        run is the dock's usual one (curves, preview, Stop, Save) and the user sees its data.
        ``check``: the sender's callable, asked again when a run starts (Train, Resume).
        Returns the token the sender gets with the models of runs on these pairs
        (``set_model(..., run=token)``). Refused (InputError) while a run trains.
        """
        self._sent = ts.take_pairs(self, pairs, init, source, save_to, check)
        return self._sent.token

    @property
    def running(self) -> bool:
        """Whether a run is training (sent pairs are refused meanwhile)."""
        return not self._done.is_set()

    def _on_save(self, _value=None, path: Path | None = None):
        """Save the model trained so far (its last weights, resumable) to a chosen file."""
        from napari_unet.widgets import _saving

        result = self._result
        if result is None or not self._done.is_set():
            return None
        suggested = result.saved_to or self._output or Path.home() / "trained.unet.safetensors"
        path = path or _saving.ask_path(self.native, "Save model", suggested, _saving.MODEL_FILTER)
        if path is None:
            return None
        inputs = [_saving.layer_source(ly) for pair in self._form.pairs() for ly in pair if ly]

        def saved(where: Path) -> None:
            result.saved_to = where
            to.record(self._written, where, result.run_id)
            self._save_path.value = where  # a later run (and Resume) writes here too
            ts.hand_over(self, result, self._result_sent)  # Predict, Review

        try:  # never into a file another dock's running run writes; nor a run into it now
            save = to.held(_saving.save_run, _saving.model_path(path))
        except InputError as exc:
            return _layers.report_error(self._status, f"could not save: {exc}")
        return _layers.run_saving(self._status, save, result, path, inputs, then=saved)

    def _export_source(self) -> tuple:
        """The model the Predict dock received (the best weights): ``(model, name, path)``."""
        result = self._result if self._done.is_set() else None
        return th.export_source(result, getattr(self, "_output", None))

    def _on_error(self, exc: Exception) -> None:
        kept = getattr(exc, "result", None)  # an error after steps: the model as trained
        if kept is not None and kept.steps_done > self._start_step:
            self._on_returned(kept)  # the dock's model (Save, Export, the other docks)
        if not self._closing:
            msg = str(exc) if isinstance(exc, InputError) else f"Training failed: {exc}"
            note = th.kept_note(kept, self._start_step)  # unsaved (a full disk): Save retries
            note += " but not saved: Save model... writes it" if note and not kept.saved_to else ""
            _layers.report_error(self._status, msg + note)
            th.drop_blank(self._viewer, getattr(self, "_new_preview", None))  # none left empty
            if not self._stepped:  # failed before its first step: the kept model's curves
                self.plot.show_history(self._result and self._result.history)

    def _on_warned(self, args: tuple) -> None:
        """A worker's warning: shown; a UserWarning also ends the run's status line."""
        note = th.show_run_warning(args)
        if note and not self._closing:
            self._warned.append(note)

    def _on_finished(self) -> None:
        gc.unfreeze()  # also when the worker ended before its generator ran
        if not self._closing:
            self._set_running(False)
            self._show_run(self.plot)  # its end's status (finished, stopped, failed) in view

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
        return finish_quit(self._worker, self._job, self._done, timeout)  # napari quit it
