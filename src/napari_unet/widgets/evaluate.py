"""Evaluate: score predicted Labels layers against annotations, per plane and in total.

The panel lives in a collapsible "Evaluate" section at the bottom of the Predict dock
(:func:`evaluate_section`), where predictions appear. After each prediction the section
picks ``"<image> segmentation"`` against ``"<image> annotations"`` (else ``"<image> ground
truth"``) and the image's other segmentations to compare with; without either the ground
truth is unpicked, never another image's (without ``"<image> annotated region"`` the region
is the whole image); a ground truth the user picked stays picked for the next predictions
of the image of the prediction it was picked with. Otherwise a prediction is shown with its
own image's ground truth, never another image's, looked for again as layers come
(:mod:`._evaluate_picks`). Stale tables are greyed (the status says why); the dock scrolls,
never a table, and to a run's status and tables when it ends (:attr:`EvaluateWidget.scroll`).
"""

from __future__ import annotations

import contextlib
import weakref
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton, Select, Table
from qtpy.QtWidgets import QStyledItemDelegate, QWidget

from napari_unet.core.metrics import DSB_THRESHOLDS
from napari_unet.core.options import describe
from napari_unet.widgets import _evaluate_picks, _evaluate_work, _layers
from napari_unet.widgets._docking import Section, fit_rows, reveal, when_deleted
from napari_unet.widgets._evaluate_text import (
    Depth,
    Picks,
    picks_text,
    plural,
    show,
    stale_text,
    tables,
)
from napari_unet.widgets._private import real
from napari_unet.widgets._scored_edits import ScoredEdits

if TYPE_CHECKING:
    import napari

WHOLE = "(whole image)"
#: Rows of the "compare with" list shown before it scrolls.
COMPARE_ROWS = 4
#: Height of a table row in pixels.
ROW_HEIGHT = 22

Scores = tuple[list[dict[str, Any]], dict[str, Any]]


class EvaluateWidget(_layers.KeepsPicks, Container):
    """Compare predictions with ground truth: DSB2018 AP, F1, PQ, pixel and Rand scores.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose Labels layers can be compared.

    Notes
    -----
    The computation runs in a napari thread worker on copies of the layers, made by the
    worker while the layers are read-only (they are given back as soon as the copies are
    made): the GUI stays responsive and painting meanwhile does not change the result.
    While it runs the Evaluate button is a Cancel button. After a run
    ``scores`` maps each scored prediction's name to ``(per_image, total)`` as returned
    by :func:`napari_unet.core.metrics.iter_evaluate_many`, and ``results`` is the first
    of them (the "prediction" picker's). With one prediction the tables show its total
    and each image; with several, their totals side by side.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        self._gt_missing: str | None = None  # an image suggested without annotations
        self._image: str | None = None  # the image last suggested
        self._unpaired = False  # no ground truth picked: none fits the prediction
        self._gt_pick: tuple | None = None  # (weakref: a removed one goes, its image)
        self._pred_pick = None  # weakref to the prediction the user or the dock picked
        self._auto = Depth()  # true while the dock sets the pickers (no user's pick then)
        self._make_controls()
        self.scroll = None  # the dock's scroll area (the Predict dock's), scrolled to results
        self.results: Scores | None = None
        self.scores: dict[str, Scores] = {}
        self._worker, self._job = None, 0  # the run whose signals count (not a cancelled's)
        self._running = False
        self._lock: _evaluate_work.ReadOnly | None = None
        self._shown: Picks | None = None  # the picks of the results in the tables
        self._run_picks: Picks | None = None  # those of the run going on
        self._result_text = ""  # the status of the results shown
        self._edits = ScoredEdits(self._show_idle)  # the scored layers edited since a run
        self._run.changed.connect(self._on_run)
        for picker in (
            self._prediction, self._compare, self._ground_truth, self._region, self._per_plane,
        ):  # fmt: skip
            picker.changed.connect(self._show_idle)
        self._ground_truth.changed.connect(self._on_gt)
        self._prediction.changed.connect(self._on_prediction)
        when_deleted(self, "_closed")
        _layers.on_layers_changed(viewer, self._refresh_choices)
        self._refresh_choices()

    def _make_controls(self) -> None:
        self._prediction = ComboBox(label="prediction", choices=self._labels_choices)
        self._ground_truth = ComboBox(label="ground truth", choices=self._gt_choices)
        self._compare = Select(label="compare with", choices=self._compare_choices)
        self._region = ComboBox(label="annotated region", choices=self._region_choices)
        self._per_plane = CheckBox(text="stacks: score each plane, then the total", value=True)
        self._run = PushButton(text="Evaluate")
        for widget, key in (
            (self._prediction, "predicted"), (self._compare, "compare"),
            (self._ground_truth, "ground_truth"), (self._region, "region"),
            (self._per_plane, "per_plane"), (self._run, "evaluate"),
        ):  # fmt: skip
            widget.tooltip = describe(key)
        lines = self._compare.native.fontMetrics().lineSpacing() + 4
        self._compare.native.setMaximumHeight(COMPARE_ROWS * lines + 6)
        self._status = Label(value="")
        _layers.message_label(self._status)
        self._summary_title = Label(value="")
        self._thresholds_title = Label(value="")
        for title in (self._summary_title, self._thresholds_title):  # they name the layers:
            _layers.message_label(title)  # wrapped, never wider than the dock
        self._summary, self._thresholds = Table(), Table()
        self._fits = []
        for table in (self._summary, self._thresholds):
            table.native.setEditTriggers(table.native.EditTrigger.NoEditTriggers)
            # Show our fixed 3-decimal text, not magicgui's number reformatting (3.6e-02).
            table.native.setItemDelegate(QStyledItemDelegate(table.native))
            table.native.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
            self._fits.append(fit_rows(table))
        pickers = Container(
            widgets=[self._prediction, self._compare, self._ground_truth, self._region],
            labels=True,
        )
        self._outputs = [self._summary_title, self._summary, self._thresholds_title,
                         self._thresholds]  # fmt: skip
        self.extend([pickers, self._per_plane, self._run, self._status, *self._outputs])
        for widget in self._outputs:
            widget.visible = False  # until there are results

    def _labels_choices(self, _widget=None) -> list[tuple[str, Any]]:
        return _layers.layer_choices(self._viewer, "Labels")

    def _compare_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The Labels layers but the picked prediction (scored anyway) and ground truth."""
        main, gt = self._prediction.value, self._ground_truth.value
        return [(name, lyr) for name, lyr in self._labels_choices() if lyr not in (main, gt)]

    def reset_choices(self, *args) -> None:  # noqa: D102 (magicgui's, keeping the picks)
        with self._auto:
            super().reset_choices(*args)

    def _on_gt(self, value=None) -> None:
        """The user picked the ground truth: new predictions keep it (:meth:`suggest`)."""
        if not self._auto:  # (the dock's own picks reset the choices after them)
            self._gt_pick = None if value is None else (weakref.ref(value), None)
            self._on_prediction()  # before, the ground truth was offered to compare with it

    def _on_prediction(self, value=None) -> None:
        """The user's pick: a ground truth they picked is now for its image, else its own."""
        users = not self._auto
        with self._auto:
            if users:
                _evaluate_picks.picked(self, value)
            self._compare.reset_choices()  # the prediction is not offered to compare with
        self._show_idle()

    def _gt_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The Labels layers; first "(none)" while no ground truth fits the prediction."""
        missing = self._gt_missing
        none = [(f"(none: no ground truth of {missing!r})", None)] if missing else []
        none = none or ([("(none: choose the ground truth)", None)] if self._unpaired else [])
        return none + self._labels_choices()

    def _region_choices(self, _widget=None) -> list[tuple[str, Any]]:
        return [(WHOLE, None), *_layers.layer_choices(self._viewer, "Labels", "Shapes")]

    def _refresh_choices(self, _event=None) -> None:
        with self._auto:  # a ground truth picked anew (its layer removed) is not compared
            _evaluate_picks.pick_defaults(self)
            _layers.reset_keeping(self._compare.reset_choices, self._compare)
        self._show_idle()

    def _picks(self) -> Picks:
        return Picks.of(
            self._predictions(), self._ground_truth.value, self._region.value,
            self._per_plane.value,
        )  # fmt: skip

    def _show_idle(self, _value=None) -> bool:
        """Say what Evaluate would score; grey stale tables; return whether they are current."""
        if self._ground_truth.value is not None:
            self._gt_missing, self._unpaired = None, False
        picked = [*self._predictions(), self._ground_truth.value]
        # (Y, X, 1) labels (a samples axis) are one image: no planes to score one by one
        self._per_plane.visible = any(_evaluate_work.is_stack(lyr) for lyr in picked)
        if self._running:
            return False  # the status shows the run's progress; its end checks again
        gone, text = [], ""
        if self._shown is not None:
            gone = self._shown.gone(self._viewer.layers)
            self._edits.forget(self._viewer.layers)  # a removed layer is not held in memory
            fresh = not gone and self._ground_truth.value is not None
            fresh = fresh and self._shown.same(self._picks()) and not self._edits.names
            for widget in self._outputs:
                widget.enabled = fresh
            if fresh:
                self._status.value = self._result_text
                return True
            text = stale_text(self._shown, gone, self._edits.names) + " "
        preds = self._predictions()
        self._status.value = text + picks_text(preds, self._ground_truth.value, self._gt_missing)
        return False

    def suggest(self, image_name: str, prediction: str | None = None) -> None:
        """Pick the image's segmentations, its annotations and its annotated region.

        Parameters
        ----------
        image_name : str
            The image layer's name: ``"<image> segmentation"`` (or the newest of the
            ``"<image> segmentation (...)"`` layers) becomes the prediction, the image's
            other segmentations are compared with it, ``"<image> annotations"`` (else
            ``"<image> ground truth"``) is the ground truth (else none: the status says so)
            and ``"<image> annotated region"`` the region (else the whole image).
        prediction : str, optional
            The name of the prediction to pick first (the one just made).

        A ground truth the user picked stays picked while it is in the viewer and was picked
        with a prediction of this image (or of no image, before any suggestion; of the
        prediction's shape).
        """
        with self._auto:
            _evaluate_picks.suggest(self, image_name, prediction)
        self._show_idle()

    def _predictions(self) -> list:
        """The prediction layers to score: the picked one first, then those compared."""
        main = self._prediction.value
        chosen = self._compare.value
        others = [lyr for _, lyr in self._labels_choices() if lyr in chosen and lyr is not main]
        return ([main] if main is not None else []) + others

    def _on_run(self, _value=None) -> None:
        """Evaluate (the copies are made in the worker), or Cancel while a run goes on."""
        from napari.qt.threading import create_worker

        from napari_unet.core.errors import InputError

        if self._running:  # the button is Cancel (the worker may not have started yet)
            self._cancel_run()
            return
        try:
            plan, layers = _evaluate_work.plan(
                self._predictions(), self._ground_truth.value, self._region.value,
                self._per_plane.value,
            )  # fmt: skip
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            self._reveal(self._status)
            return
        self._job += 1
        job = self._job
        self._run_picks = self._picks()
        picked = self._run_picks  # an edit of one from now on puts these results out of date
        region = [] if picked.region is None else [picked.region]
        self._edits.watch([*picked.predictions, picked.gt, *region])
        self._lock = _evaluate_work.ReadOnly(layers)  # until the worker has copied them
        self._set_running(True)
        self._status.value = f"Copying the layers to evaluate {plural(plan.total, 'image')}..."
        self._worker = create_worker(
            _evaluate_work.score_each,
            plan,
            DSB_THRESHOLDS,
            _connect={
                "yielded": lambda event: self._on_progress(event, job),
                "returned": lambda scores: self._on_done(scores, job),
                "errored": lambda exc: self._on_error(exc, job),
                "finished": lambda: self._on_finished(job),
            },
        )

    def _set_running(self, running: bool) -> None:
        self._running = running
        self._run.text = "Cancel" if running else "Evaluate"

    def _release(self) -> None:
        """Give the layers back (editable again, as they were)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def _cancel_run(self) -> None:
        """Stop the run at its next step; its results, when they come, are dropped."""
        if self._worker is not None:
            self._worker.quit()
        self._job += 1
        self._edits.drop()
        self._release()
        self._set_running(False)
        current = self._show_idle()  # else greyed: edited or other picks since they were made
        last = "Cancelled: the tables show the last results"
        self._status.value = last if current else f"Cancelled. {self._status.value}"

    def _closed(self) -> None:
        """The dock is deleted (napari closing): drop the run, give the layers back."""
        self._job += 1
        self._edits.close()
        self._release()
        if self._worker is not None:
            self._worker.quit()

    def _on_progress(self, event, job: int | None = None) -> None:
        if job is not None and job != self._job:
            return
        if isinstance(event, _evaluate_work.Copied):
            self._release()
        with contextlib.suppress(RuntimeError):  # the dock may be deleted
            self._status.value = _evaluate_work.progress_text(event)

    def _on_error(self, exc: Exception, job: int | None = None) -> None:
        if job is not None and job != self._job:
            return
        self._edits.drop()  # the tables shown keep their record of edits
        self._release()
        with contextlib.suppress(RuntimeError):
            self._set_running(False)  # (finished follows) and tables edited meanwhile greyed:
            self._show_idle()  # before, they looked current after a failed run
            _layers.report_error(self._status, f"Evaluation failed: {exc}")
            self._reveal(self._status)

    def _on_finished(self, job: int | None = None) -> None:
        if job is not None and job != self._job:
            return
        self._release()
        with contextlib.suppress(RuntimeError):
            self._set_running(False)

    def _on_done(self, scores: dict[str, Scores], job: int | None = None) -> None:
        if job is not None and job != self._job:
            return
        self.scores = scores
        self.results = next(iter(scores.values()))
        self._edits.adopt()  # the run's record of edits is now the tables'
        self._shown = shown = self._run_picks
        made = tables(scores, shown.names[len(shown.predictions)])
        show(made, self._outputs, list(scores) if len(scores) > 1 else None)
        self._result_text = self._status.value = made["status"]
        for fit in self._fits:
            fit()
        self._set_running(False)  # finished follows: the picks changed meanwhile grey them
        self._show_idle()
        self._reveal(self._status, self._summary)  # before, they stayed below the fold

    def _reveal(self, *widgets) -> None:  # the first to the last of them into view
        if self.scroll is not None:
            reveal(self.scroll, *(widget.native for widget in widgets))


def evaluate_section(viewer: napari.viewer.Viewer) -> QWidget:
    """A closed "Evaluate" section holding an :class:`EvaluateWidget` (for the Predict dock).

    Open, the section is as tall as the panel and its result tables (all of their rows):
    the dock's own scroll area scrolls, there is no scroll area inside the section.

    Returns
    -------
    QWidget
        The section (``isExpanded``, ``expand``, ``collapse``, ``toggled``); its ``panel``
        attribute is the :class:`EvaluateWidget`.
    """
    panel = EvaluateWidget(viewer)
    panel.margins = (0, 0, 0, 0)
    tip = describe("evaluate_section")
    section = Section("Evaluate against ground truth", panel.native, tooltip=tip)
    section.panel = panel
    return section
