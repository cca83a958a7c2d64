"""Evaluate: score a predicted Labels layer against annotations, per plane and in total.

The panel lives in a collapsible "Evaluate" section at the bottom of the Predict dock
(:func:`evaluate_section`), where a prediction appears; after each prediction the section
picks ``"<image> segmentation"`` against ``"<image> annotations"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton, Table
from qtpy.QtWidgets import QStyledItemDelegate

from napari_unet.core.metrics import DSB_THRESHOLDS, summary_row
from napari_unet.core.options import describe
from napari_unet.widgets import _layers, _workers

if TYPE_CHECKING:
    import napari


#: Smallest height of the open Evaluate section of the Predict dock (it scrolls inside).
SECTION_MIN_HEIGHT = 160
WHOLE = "(whole image)"


def _fmt(value: Any) -> str:
    return str(value) if isinstance(value, int | np.integer) else f"{value:.3f}"


class EvaluateWidget(Container):
    """Compare a prediction with ground truth: DSB2018 AP, F1, PQ, pixel and Rand scores.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose Labels layers can be compared.
    table_height : int
        Minimum height of each result table in pixels (they scroll inside).

    Notes
    -----
    The computation runs in a napari thread worker on copies of the two layers, so the
    GUI stays responsive and painting meanwhile does not change the result. After a run
    ``results`` holds ``(per_image, total)`` as returned by
    :func:`napari_unet.core.metrics.iter_evaluate_many`.
    """

    def __init__(self, viewer: napari.viewer.Viewer, table_height: int = 200) -> None:
        super().__init__(labels=False)
        self._viewer = viewer
        self._prediction = ComboBox(label="prediction", choices=self._labels_choices)
        self._ground_truth = ComboBox(label="ground truth", choices=self._labels_choices)
        self._region = ComboBox(label="annotated region", choices=self._region_choices)
        self._per_plane = CheckBox(text="stacks: score each plane, then the total", value=True)
        self._run = PushButton(text="Evaluate")
        for widget, key in (
            (self._prediction, "predicted"), (self._ground_truth, "ground_truth"),
            (self._region, "region"), (self._per_plane, "per_plane"), (self._run, "evaluate"),
        ):  # fmt: skip
            widget.tooltip = describe(key)
        self._status = Label(value="Choose two Labels layers and press Evaluate.")
        self._status.native.setWordWrap(True)
        # Metrics as rows, images as columns (total first): reads well in a narrow dock.
        self._summary = Table()
        self._thresholds = Table()
        for table in (self._summary, self._thresholds):
            table.native.setEditTriggers(table.native.EditTrigger.NoEditTriggers)
            # Show our fixed 3-decimal text, not magicgui's number reformatting (3.6e-02).
            table.native.setItemDelegate(QStyledItemDelegate(table.native))
            table.native.setMinimumHeight(table_height)
            table.native.verticalHeader().setDefaultSectionSize(22)
        pickers = Container(
            widgets=[self._prediction, self._ground_truth, self._region], labels=True
        )
        self.extend(
            [
                pickers,
                self._per_plane,
                self._run,
                self._status,
                Label(value="<b>Scores</b> (pooled total, then each image)"),
                self._summary,
                Label(value="<b>Total per IoU threshold</b> (a match needs IoU > threshold)"),
                self._thresholds,
            ]
        )
        self.results: tuple[list[dict[str, Any]], dict[str, Any]] | None = None
        self._worker = None
        self._run.changed.connect(self._on_run)
        _layers.on_layers_changed(viewer, self._refresh_choices)
        self._refresh_choices()

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

    def suggest(self, image_name: str) -> None:
        """Pick ``"<image> segmentation"``, ``"<image> annotations"`` and its annotated region."""
        self.reset_choices()
        names = {lyr.name: lyr for _, lyr in self._region_choices() if lyr is not None}
        for picker, suffix in (
            (self._prediction, "segmentation"),
            (self._ground_truth, "annotations"),
            (self._region, "annotated region"),
        ):
            layer = names.get(f"{image_name} {suffix}")
            if layer is not None and layer in picker.choices:
                picker.value = layer

    def _pairs(self) -> tuple[list[tuple[str, np.ndarray, np.ndarray, Any]], int]:
        """Copy the layers' data into (name, ground truth, prediction, region or None)."""
        from napari_unet.core.errors import InputError

        pred_layer, gt_layer = self._prediction.value, self._ground_truth.value
        if pred_layer is None or gt_layer is None:
            raise InputError("choose a prediction and a ground-truth Labels layer")
        if pred_layer is gt_layer:
            raise InputError(
                f"prediction and ground truth are both {pred_layer.name!r}; choose two layers"
            )
        # Copies (full resolution of multiscale layers): painting meanwhile changes nothing.
        gt, pred = (_layers.layer_array(lyr) for lyr in (gt_layer, pred_layer))
        if gt.shape != pred.shape:
            raise InputError(
                f"{pred_layer.name!r} has shape {pred.shape} but {gt_layer.name!r} has shape "
                f"{gt.shape}; expected layers of the same shape"
            )
        region = _layers.region_array(self._region.value, gt.shape)
        if self._per_plane.value and gt.ndim >= 3:
            planes = [None] * gt.shape[0] if region is None else region
            pairs = [(f"plane {z}", gt[z], pred[z], planes[z]) for z in range(gt.shape[0])]
        else:
            pairs = [(pred_layer.name, gt, pred, region)]
        return pairs, len(pairs)

    def _on_run(self, _value=None) -> None:
        from napari.qt.threading import create_worker

        from napari_unet.core.errors import InputError

        try:
            pairs, total = self._pairs()
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            return
        self._run.enabled = False
        self._status.value = f"Evaluating {total} image(s)..."
        self._worker = create_worker(
            _workers.evaluate_job,
            pairs,
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

    def _on_done(self, result: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        self.results = result
        per_image, total = result
        columns = [summary_row(r) for r in per_image]
        names = [r["name"] for r in per_image]
        if len(per_image) > 1:
            columns.insert(0, summary_row(total))
            names.insert(0, "total (pooled)")
        metrics = list(columns[0])
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
        self._thresholds.value = {
            "data": [[_fmt(p[k]) for k in keys] for p in total["per_threshold"]],
            "index": [f"IoU > {p['threshold']:g}" for p in total["per_threshold"]],
            "columns": heads,
        }
        for table in (self._summary, self._thresholds):
            table.native.resizeColumnsToContents()
        ap = total["dataset_ap"] if len(per_image) > 1 else total["ap"]
        self._status.value = (
            f"{len(per_image)} image(s), {total['n_gt']} true and {total['n_pred']} predicted "
            f"objects; AP {ap:.3f} (DSB2018: mean over IoU 0.5..0.95"
            + (" and over images)" if len(per_image) > 1 else ")")
        )


def evaluate_section(viewer: napari.viewer.Viewer):
    """A collapsed "Evaluate" section holding an :class:`EvaluateWidget` (for the Predict dock).

    Returns
    -------
    superqt.QCollapsible
        The section; its ``panel`` attribute is the :class:`EvaluateWidget`.
    """
    from superqt import QCollapsible

    panel = EvaluateWidget(viewer, table_height=120)
    panel.margins = (0, 0, 0, 0)
    # Open, the section scrolls inside a bounded height: it must not make the dock (and
    # with it a short napari window) taller than the screen.
    scroll = _layers.scroll_panel(panel.native, min_height=SECTION_MIN_HEIGHT)
    section = QCollapsible("Evaluate against annotations")
    section.addWidget(scroll)
    section.collapse(animate=False)
    section.panel = panel
    return section
