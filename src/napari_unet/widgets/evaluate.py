"""Evaluate: score predicted Labels layers against annotations, per plane and in total.

The panel lives in a collapsible "Evaluate" section at the bottom of the Predict dock
(:func:`evaluate_section`), where predictions appear. After each prediction the section
picks ``"<image> segmentation"`` against ``"<image> annotations"``, and the image's other
segmentations (``"<image> segmentation (<model>)"``) to compare with, side by side.
The result tables are exactly as tall as their rows: the dock scrolls, never a table
inside it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton, Select, Table
from qtpy.QtWidgets import QStyledItemDelegate, QWidget

from napari_unet.core.metrics import DSB_THRESHOLDS, EvaluateStep
from napari_unet.core.options import describe
from napari_unet.widgets import _evaluate_work, _layers
from napari_unet.widgets._docking import Section, fit_rows, when_deleted
from napari_unet.widgets._evaluate_text import ap_text, column, fmt, short_names

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
        self._viewer = viewer
        self._make_controls()
        self.results: Scores | None = None
        self.scores: dict[str, Scores] = {}
        self._worker = None
        self._job = 0  # the run whose signals count (a cancelled run's later ones do not)
        self._running = False
        self._lock: _evaluate_work.ReadOnly | None = None
        self._idle = True  # no run yet: the status says what Evaluate would score
        self._run.changed.connect(self._on_run)
        for picker in (self._prediction, self._compare, self._ground_truth):
            picker.changed.connect(self._show_idle)
        when_deleted(self, "_closed")
        _layers.on_layers_changed(viewer, self._refresh_choices)
        self._refresh_choices()

    def _make_controls(self) -> None:
        self._prediction = ComboBox(label="prediction", choices=self._labels_choices)
        self._compare = Select(label="compare with", choices=self._labels_choices)
        self._ground_truth = ComboBox(label="ground truth", choices=self._labels_choices)
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
        self._outputs = [
            self._summary_title,
            self._summary,
            self._thresholds_title,
            self._thresholds,
        ]
        self.extend([pickers, self._per_plane, self._run, self._status, *self._outputs])
        for widget in self._outputs:
            widget.visible = False  # until there are results

    def _labels_choices(self, _widget=None) -> list[tuple[str, Any]]:
        return _layers.layer_choices(self._viewer, "Labels")

    def _region_choices(self, _widget=None) -> list[tuple[str, Any]]:
        return [(WHOLE, None), *_layers.layer_choices(self._viewer, "Labels", "Shapes")]

    def _refresh_choices(self, _event=None) -> None:
        self.reset_choices()
        layers = [lyr for _, lyr in self._labels_choices()]
        # Default to two different layers: annotations are usually added before predictions.
        if len(layers) >= 2 and self._prediction.value is self._ground_truth.value:
            self._ground_truth.value = layers[0]
            self._prediction.value = layers[-1]
        self._show_idle()

    def _show_idle(self, _value=None) -> None:
        """Before the first run, say what Evaluate would score with the picks shown."""
        if not self._idle:
            return
        preds, gt = self._predictions(), self._ground_truth.value
        if not preds or gt is None:
            text = "Choose a prediction and its ground truth (two Labels layers)."
        elif gt in preds:
            text = f"The prediction and the ground truth are both {gt.name!r}: choose two layers."
        else:
            more = f" (and {len(preds) - 1} more)" if len(preds) > 1 else ""
            text = f"Press Evaluate to score {preds[0].name!r}{more} against {gt.name!r}."
        self._status.value = text

    def suggest(self, image_name: str, prediction: str | None = None) -> None:
        """Pick the image's segmentations, its annotations and its annotated region.

        Parameters
        ----------
        image_name : str
            The image layer's name: ``"<image> segmentation"`` (or the newest of the
            ``"<image> segmentation (...)"`` layers) becomes the prediction, the image's
            other segmentations are compared with it, ``"<image> annotations"`` is the
            ground truth and ``"<image> annotated region"`` the region.
        prediction : str, optional
            The name of the prediction to pick first (the one just made).
        """
        self.reset_choices()
        names = {lyr.name: lyr for _, lyr in self._region_choices() if lyr is not None}
        base = f"{image_name} segmentation"
        ours = [
            lyr for _, lyr in self._labels_choices()
            if lyr.name == base or lyr.name.startswith(f"{base} (")
        ]  # fmt: skip
        main = names.get(prediction) if prediction else None
        main = main if main in ours else (ours[-1] if ours else None)
        if main is not None:
            self._prediction.value = main
            self._compare.value = [lyr for lyr in ours if lyr is not main]
        for picker, suffix in (
            (self._ground_truth, "annotations"),
            (self._region, "annotated region"),
        ):
            layer = names.get(f"{image_name} {suffix}")
            if layer is not None and layer in picker.choices:
                picker.value = layer

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
            return
        self._job, self._idle = self._job + 1, False
        job = self._job
        self._lock = _evaluate_work.ReadOnly(layers)  # until the worker has copied them
        self._set_running(True)
        self._status.value = f"Copying the layers to evaluate {plan.total} image(s)..."
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
        self._release()
        self._set_running(False)
        self._status.value = "Cancelled: the tables show the last results"

    def _closed(self) -> None:
        """The dock is deleted (napari closing): drop the run, give the layers back."""
        self._job += 1
        self._release()
        if self._worker is not None:
            self._worker.quit()

    def _on_progress(self, event, job: int | None = None) -> None:
        if job is not None and job != self._job:
            return
        if isinstance(event, _evaluate_work.Copied):
            self._release()
            text = "Layers copied; evaluating..."
        elif isinstance(event, EvaluateStep):
            text = f"Evaluating {event.name}: {event.fraction:.0%}"
        else:
            text = f"Evaluated {event.done} of {event.total}: {event.name}"
        with contextlib.suppress(RuntimeError):  # the dock may be deleted
            self._status.value = text

    def _on_error(self, exc: Exception, job: int | None = None) -> None:
        if job is not None and job != self._job:
            return
        self._release()
        with contextlib.suppress(RuntimeError):
            _layers.report_error(self._status, f"Evaluation failed: {exc}")

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
        if len(scores) == 1:
            self._show_one(self.results)
        else:
            self._show_side_by_side(scores)
        for table in (self._summary, self._thresholds):
            table.native.resizeColumnsToContents()
        for widget in self._outputs:
            widget.visible = True
        for fit in self._fits:
            fit()

    def _show_one(self, result: Scores) -> None:
        """One prediction: metrics by total and image, and its total per IoU threshold."""
        per_image, total = result
        columns = [column(r) for r in per_image]
        names = [r["name"] for r in per_image]
        if len(per_image) > 1:
            columns.insert(0, column(total))
            names.insert(0, "total (pooled)")
        # Metrics as rows, images as columns (total first): reads well in a narrow dock.
        metrics = list(columns[0])
        self._summary_title.value = "<b>Scores</b> (pooled total, then each image)"
        self._summary.value = {
            "data": [[fmt(col[m]) for col in columns] for m in metrics],
            "index": metrics,
            "columns": names,
        }
        keys = ["tp", "fp", "fn", "precision", "recall", "f1", "ap", "mean_matched_iou"]
        heads = ["TP", "FP", "FN", "precision", "recall", "F1", "AP", "mIoU"]
        if len(per_image) > 1:
            keys.append("dataset_ap")
            heads.append("AP img mean")
        self._thresholds_title.value = (
            "<b>Total per IoU threshold</b> (a match needs IoU > threshold)"
        )
        self._thresholds.value = {
            "data": [[fmt(p[k]) for k in keys] for p in total["per_threshold"]],
            "index": [f"IoU > {p['threshold']:g}" for p in total["per_threshold"]],
            "columns": heads,
        }
        self._status.value = (
            f"{len(per_image)} image(s), {total['n_gt']} true and {total['n_pred']} predicted "
            f"objects; {ap_text(total, len(per_image))}"
        )

    def _show_side_by_side(self, scores: dict[str, Scores]) -> None:
        """Several predictions: one column each (its pooled total), metrics as rows."""
        names = list(scores)
        heads = short_names(names)
        images = len(scores[names[0]][0])
        totals = [total if images > 1 else per[0] for per, total in scores.values()]
        columns = [column(t, image_mean=images > 1) for t in totals]
        metrics = list(columns[0])
        self._summary_title.value = "<b>Scores side by side</b> (each prediction" + (
            "'s pooled total)" if images > 1 else ")"
        )
        self._summary.value = {
            "data": [[fmt(col.get(m)) for col in columns] for m in metrics],
            "index": metrics,
            "columns": heads,
        }
        self._thresholds_title.value = "<b>AP per IoU threshold</b> (each prediction)"
        thresholds = totals[0]["per_threshold"]
        self._thresholds.value = {
            "data": [
                [fmt(t["per_threshold"][i]["ap"]) for t in totals] for i in range(len(thresholds))
            ],
            "index": [f"IoU > {p['threshold']:g}" for p in thresholds],
            "columns": heads,
        }
        for table in (self._summary, self._thresholds):
            for i, name in enumerate(names):  # the header shows the short name
                table.native.horizontalHeaderItem(i).setToolTip(name)
        key = "dataset_ap" if images > 1 else "ap"  # as one prediction's status says
        pairs = zip(totals, heads, strict=True)
        scored = [th for th in pairs if ap_text(th[0], images).startswith("AP ")]
        best = max(scored, key=lambda th: th[0][key]) if scored else (totals[0], "")
        self._status.value = f"{len(names)} predictions, {images} image(s) each; " + (
            f"best: {best[1]}, {ap_text(best[0], images)}" if scored else ap_text(best[0], images)
        )


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
    tip = (
        "score segmentations against annotations (ground-truth Labels layers): DSB2018 AP, "
        "F1, PQ, pixel and Rand scores; after each prediction its layers are picked here"
    )
    section = Section("Evaluate against annotations", panel.native, tooltip=tip)
    section.panel = panel
    return section
