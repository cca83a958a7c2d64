"""Evaluate: score predicted Labels layers against annotations, per plane and in total.

The panel lives in a collapsible "Evaluate" section at the bottom of the Predict dock
(:func:`evaluate_section`), where predictions appear. After each prediction the section
picks ``"<image> segmentation"`` against ``"<image> annotations"``, and the image's other
segmentations (``"<image> segmentation (<model>)"``) to compare with, side by side.
The result tables are exactly as tall as their rows: the dock scrolls, never a table
inside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton, Select, Table
from qtpy.QtWidgets import QStyledItemDelegate, QWidget

from napari_unet.core.metrics import DSB_THRESHOLDS, summary_row
from napari_unet.core.options import describe
from napari_unet.widgets import _layers, _workers
from napari_unet.widgets._docking import Section, fit_rows

if TYPE_CHECKING:
    import napari

WHOLE = "(whole image)"
#: Rows of the "compare with" list shown before it scrolls.
COMPARE_ROWS = 4
#: Height of a table row in pixels.
ROW_HEIGHT = 22

Scores = tuple[list[dict[str, Any]], dict[str, Any]]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int | np.integer) else f"{value:.3f}"


def _short_names(names: list[str]) -> list[str]:
    """What tells the names apart: the words all of them start with are dropped.

    ``"nuclei segmentation (model A)"`` and ``"nuclei segmentation (model B)"`` become
    ``"model A"`` and ``"model B"`` (a bracket is never split); names that would then
    clash are kept whole.
    """
    words = [name.split() for name in names]
    k = 0
    while all(len(w) > k + 1 for w in words) and len({w[k] for w in words}) == 1:
        k += 1
    while k and any(" ".join(w[k:]).count("(") != " ".join(w[k:]).count(")") for w in words):
        k -= 1
    short = [" ".join(w[k:]) for w in words]
    short = [s[1:-1] if s.startswith("(") and s.endswith(")") else s for s in short]
    return short if len(set(short)) == len(short) and all(short) else list(names)


def _column(result: dict[str, Any], image_mean: bool = False) -> dict[str, Any]:
    """:func:`summary_row`, with precision and recall beside F1 (and the DSB image mean)."""
    column: dict[str, Any] = {}
    for key, value in summary_row(result).items():
        column[key] = value
        if key.startswith("F1@"):
            at = float(key[3:])
            first = next(p for p in result["per_threshold"] if abs(p["threshold"] - at) < 1e-4)
            column[f"precision@{key[3:]}"] = first["precision"]
            column[f"recall@{key[3:]}"] = first["recall"]
    if image_mean:
        column["AP img mean"] = result["dataset_ap"]
    return column


def _score_each(jobs: list[tuple[str, list]], thresholds, total: int):
    """Score each prediction's pairs in turn, in a worker: ``{name: (per_image, total)}``.

    The progress events of :func:`napari_unet.widgets._workers.evaluate_job` are counted
    across all predictions.
    """
    from dataclasses import replace

    scores: dict[str, Scores] = {}
    done = 0
    for name, pairs in jobs:
        run = _workers.evaluate_job(pairs, thresholds, len(pairs))
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                scores[name] = stop.value
                break
            label = event.name if len(jobs) == 1 else f"{name}: {event.name}"
            yield replace(event, done=done + event.done, total=total, name=label)
        done += len(pairs)
    return scores


class EvaluateWidget(_layers.KeepsPicks, Container):
    """Compare predictions with ground truth: DSB2018 AP, F1, PQ, pixel and Rand scores.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose Labels layers can be compared.

    Notes
    -----
    The computation runs in a napari thread worker on copies of the layers, so the GUI
    stays responsive and painting meanwhile does not change the result. After a run
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
        self._run.changed.connect(self._on_run)
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
        self._status = Label(value="Choose two Labels layers and press Evaluate.")
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

    def _jobs(self) -> tuple[list[tuple[str, list]], int]:
        """Copies of the layers: ``[(prediction, pairs)]`` and how many pairs in all.

        Each pair is ``(name, ground truth, prediction, region or None)``.
        """
        from napari_unet.core.errors import InputError

        predictions, gt_layer = self._predictions(), self._ground_truth.value
        if not predictions or gt_layer is None:
            raise InputError("choose a prediction and a ground-truth Labels layer")
        if gt_layer in predictions:
            raise InputError(
                f"prediction and ground truth are both {gt_layer.name!r}; choose two layers"
            )
        # Copies (full resolution of multiscale layers): painting meanwhile changes nothing.
        gt = _layers.layer_array(gt_layer)
        region = _layers.region_array(self._region.value, gt.shape)
        jobs = []
        for layer in predictions:
            pred = _layers.layer_array(layer)
            if gt.shape != pred.shape:
                raise InputError(
                    f"{layer.name!r} has shape {pred.shape} but {gt_layer.name!r} has shape "
                    f"{gt.shape}; expected layers of the same shape"
                )
            if self._per_plane.value and gt.ndim >= 3:
                planes = [None] * gt.shape[0] if region is None else region
                pairs = [(f"plane {z}", gt[z], pred[z], planes[z]) for z in range(gt.shape[0])]
            else:
                pairs = [(layer.name, gt, pred, region)]
            jobs.append((layer.name, pairs))
        return jobs, sum(len(pairs) for _, pairs in jobs)

    def _on_run(self, _value=None) -> None:
        from napari.qt.threading import create_worker

        from napari_unet.core.errors import InputError

        try:
            jobs, total = self._jobs()
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            return
        self._run.enabled = False
        self._status.value = f"Evaluating {total} image(s)..."
        self._worker = create_worker(
            _score_each,
            jobs,
            DSB_THRESHOLDS,
            total,
            _connect={
                "yielded": self._on_progress,
                "returned": self._on_done,
                "errored": self._on_error,
                "finished": self._on_finished,
            },
        )

    def _on_progress(self, event) -> None:
        self._status.value = f"Evaluated {event.done} of {event.total}: {event.name}"

    def _on_error(self, exc: Exception) -> None:
        _layers.report_error(self._status, f"Evaluation failed: {exc}")

    def _on_finished(self) -> None:
        self._run.enabled = True

    def _on_done(self, scores: dict[str, Scores]) -> None:
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
        columns = [_column(r) for r in per_image]
        names = [r["name"] for r in per_image]
        if len(per_image) > 1:
            columns.insert(0, _column(total))
            names.insert(0, "total (pooled)")
        # Metrics as rows, images as columns (total first): reads well in a narrow dock.
        metrics = list(columns[0])
        self._summary_title.value = "<b>Scores</b> (pooled total, then each image)"
        self._summary.value = {
            "data": [[_fmt(col[m]) for col in columns] for m in metrics],
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
            "data": [[_fmt(p[k]) for k in keys] for p in total["per_threshold"]],
            "index": [f"IoU > {p['threshold']:g}" for p in total["per_threshold"]],
            "columns": heads,
        }
        ap = total["dataset_ap"] if len(per_image) > 1 else total["ap"]
        self._status.value = (
            f"{len(per_image)} image(s), {total['n_gt']} true and {total['n_pred']} predicted "
            f"objects; AP {ap:.3f} (DSB2018: mean over IoU 0.5..0.95"
            + (" and over images)" if len(per_image) > 1 else ")")
        )

    def _show_side_by_side(self, scores: dict[str, Scores]) -> None:
        """Several predictions: one column each (its pooled total), metrics as rows."""
        names = list(scores)
        heads = _short_names(names)
        images = len(scores[names[0]][0])
        totals = [total if images > 1 else per[0] for per, total in scores.values()]
        columns = [_column(t, image_mean=images > 1) for t in totals]
        metrics = list(columns[0])
        self._summary_title.value = "<b>Scores side by side</b> (each prediction" + (
            "'s pooled total)" if images > 1 else ")"
        )
        self._summary.value = {
            "data": [[_fmt(col.get(m)) for col in columns] for m in metrics],
            "index": metrics,
            "columns": heads,
        }
        self._thresholds_title.value = "<b>AP per IoU threshold</b> (each prediction)"
        thresholds = totals[0]["per_threshold"]
        self._thresholds.value = {
            "data": [
                [_fmt(t["per_threshold"][i]["ap"]) for t in totals] for i in range(len(thresholds))
            ],
            "index": [f"IoU > {p['threshold']:g}" for p in thresholds],
            "columns": heads,
        }
        for table in (self._summary, self._thresholds):
            for i, name in enumerate(names):  # the header shows the short name
                table.native.horizontalHeaderItem(i).setToolTip(name)
        key = "dataset_ap" if images > 1 else "ap"  # as one prediction's status says
        best = max(zip(totals, heads, strict=True), key=lambda th: th[0][key])
        self._status.value = (
            f"{len(names)} predictions, {images} image(s) each; best AP {best[0][key]:.3f}: "
            f"{best[1]} (DSB2018: mean over IoU 0.5..0.95"
            + (" and over images)" if images > 1 else ")")
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
    section = Section("Evaluate against annotations", panel.native)
    section.panel = panel
    return section
