"""Regenerate the pictures of docs/annotate.md by running the whole loop through the docks.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/annotate_screenshots.py

It opens the shipped DSB2018 nuclei sample from a temporary folder (so autosave and the
model file have a place to go) and, as a user would: paints the nuclei of the left third
(copied from the sample's manual ground truth, one id each) and marks that part as the
annotated region; trains a small U-Net in the Train dock; predicts in the Predict dock and
scores the prediction against the sample's ground truth in its Evaluate section; marks the
rest of the image as annotated and accepts the prediction there; erases an accepted
object that merged touching nuclei and paints each of them; resumes training on the
corrected annotations and predicts again. Each Predict's layer is the one the dock reports
writing (its name follows the model the Train dock handed over). Each step saves
``annotate_<n>_<step>.png`` beside this script (the window cropped to the canvas and the
active dock) and the script prints the scores it measured.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
import tifffile
import torch
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_unet import evaluate
from napari_unet.sample_data import nuclei_data
from napari_unet.widgets._layers import camera
from napari_unet.widgets.annotate import AnnotateWidget
from napari_unet.widgets.predict import PredictWidget
from napari_unet.widgets.train import TrainWidget

HERE = Path(__file__).resolve().parent
SIZE = (1500, 860)
FIRST_STEPS, SECOND_STEPS = 150, 225


def wait(cond, timeout: float = 2400.0) -> None:
    """Process Qt events until ``cond()`` is true."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the widget did not finish in time")
        QApplication.processEvents()
        time.sleep(0.02)


def settle() -> None:
    """Let Qt lay out and paint."""
    for _ in range(10):
        QApplication.processEvents()
        time.sleep(0.02)


def write_png(img: Image.Image, name: str) -> None:
    """Save a small palette PNG beside this script."""
    img = img.quantize(colors=160, method=Image.Quantize.MEDIANCUT)
    img.save(HERE / name, optimize=True)
    print(f"wrote {name} ({(HERE / name).stat().st_size // 1024} KB)")


def save(viewer: napari.Viewer, name: str) -> None:
    """Screenshot the canvas and the docks, without the layer column on the left."""
    settle()
    window = viewer.window._qt_window
    canvas = viewer.window._qt_viewer.canvas.native
    left = canvas.mapTo(window, canvas.rect().topLeft()).x()
    shot = viewer.screenshot(canvas_only=False, flash=False)[..., :3]
    scale = shot.shape[1] / window.width()
    write_png(Image.fromarray(shot[:, int(left * scale) :]), name)


def canvas_shot(viewer: napari.Viewer) -> Image.Image:
    """The canvas alone."""
    settle()
    return Image.fromarray(viewer.screenshot(canvas_only=True, flash=False)[..., :3])


def side_by_side(left: Image.Image, right: Image.Image, size: int = 420) -> Image.Image:
    """Two square centre crops of canvas shots, next to each other with a gap."""
    out = Image.new("RGB", (2 * size + 12, size), (38, 41, 48))
    for k, img in enumerate((left, right)):
        w, h = img.size
        box = ((w - size) // 2, (h - size) // 2, (w + size) // 2, (h + size) // 2)
        out.paste(img.crop(box), (k * (size + 12), 0))
    return out


def show_dock(widget) -> None:
    """Bring a tabified dock to the front."""
    widget.native.parent().raise_()
    QApplication.processEvents()


def look_at(viewer: napari.Viewer, centre, zoom: float) -> None:
    """Centre the canvas on a data point at a zoom factor (screen pixels per image pixel)."""
    cam = camera(viewer)
    cam.center = tuple(centre)
    cam.zoom = zoom


def rect(y0, y1, x0, x1) -> np.ndarray:
    """Corners of an axis-aligned rectangle for a Shapes layer."""
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)


def run_predict(viewer: napari.Viewer, predict: PredictWidget):
    """Press Predict and return the segmentation layer this run wrote.

    The dock names its layer after the model it was handed (``nuclei.unet``, or
    ``nuclei.unet.best`` when an earlier step validated best), and another model gets a layer
    of its own: the layer is taken from the dock, never looked up by a fixed name. Raises
    RuntimeError when the run wrote no segmentation (the dock's status line says why).
    """
    before = predict._last  # (result layer, image layer) of the previous run
    predict._run.native.click()
    wait(lambda: predict._worker is None and predict._run.enabled)
    last = predict._last
    if last is None or last is before or last[0] not in viewer.layers:
        raise RuntimeError(f"Predict wrote no segmentation: {predict._status.value}")
    print(f"Predict ({predict._form.model_name}) wrote {last[0].name!r}")
    return last[0]


def score(truth: np.ndarray, layer) -> str:
    """AP (DSB2018, IoU 0.5..0.95), AP50 and F1 at 0.5 against the full ground truth."""
    r = evaluate(truth, np.asarray(layer.data))
    p = r["per_threshold"][0]
    return f"AP {r['ap']:.3f}, AP50 {p['ap']:.3f}, F1@0.5 {p['f1']:.3f}, {r['n_pred']} objects"


def main() -> None:
    """Run the loop and save the six pictures."""
    torch.manual_seed(0)
    image_data, truth = nuclei_data()
    h, w = truth.shape
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative names: the status lines show no path of this machine
        path = Path("nuclei.tif")
        tifffile.imwrite(path, image_data)
        viewer = napari.Viewer(title="napari-unet: annotate, train, predict, correct", show=True)
        viewer.window._qt_window.resize(*SIZE)
        image = viewer.open(path)[0]
        truth_layer = viewer.add_labels(truth, name="nuclei ground truth", visible=False)
        annotate, train, predict = (
            AnnotateWidget(viewer),
            TrainWidget(viewer),
            PredictWidget(viewer),
        )
        docks = [
            viewer.window.add_dock_widget(widget, name=name, tabify=i > 0)
            for i, (name, widget) in enumerate(
                (("Annotate", annotate), ("Train", train), ("Predict", predict))
            )
        ]
        QApplication.processEvents()
        viewer.window._qt_window.resizeDocks(docks, [440] * 3, Qt.Orientation.Horizontal)

        # 1. Annotate the left third completely.
        show_dock(annotate)
        annotate._image_combo.value = image
        annotate._start_btn.native.click()
        labels = viewer.layers["nuclei annotations"]
        region = viewer.layers["nuclei annotated region"]
        third = w // 3
        for i in [int(i) for i in np.unique(truth[:, :third]) if i]:
            labels.data_setitem(np.nonzero(truth == i), labels.selected_label)
            annotate._new_cell_btn.native.click()
        region.data = [rect(0, h - 1, 0, third - 1)]
        annotate._update_counts()
        viewer.layers.selection.active = labels
        look_at(viewer, (h / 2, third * 0.9), 3.2)
        save(viewer, "annotate_1_paint.png")

        # 2. Train a small U-Net on the annotated region.
        show_dock(train)
        train.reset_choices()
        train._image.value, train._labels_box.value, train._region.value = image, labels, region
        train._preset.value = "small"
        train._steps.value = FIRST_STEPS
        train._crop.value = 96
        train._val_every.value = 50
        train._device.value = "cpu"
        train._start.native.click()
        wait(lambda: train._result is not None and train._start.enabled)
        print(f"Train: {train._status.value}")
        first_model = predict._form.model
        viewer.layers.selection.active = labels
        train._scroll.verticalScrollBar().setValue(train._scroll.verticalScrollBar().maximum())
        viewer.reset_view()
        save(viewer, "annotate_2_train.png")
        viewer.layers.remove("nuclei preview")

        # 3. Predict the whole image; score it against the sample's ground truth.
        show_dock(predict)
        predict.reset_choices()
        predict._image.value = image
        seg = run_predict(viewer, predict)
        first_score = score(truth, seg)
        panel = predict._evaluate.panel
        predict._evaluate.expand(animate=False)
        panel._ground_truth.value = truth_layer
        panel._region.value = None  # score the whole image against the full ground truth
        panel._run.native.click()
        wait(lambda: panel._run.enabled and panel.results is not None)
        labels.visible = False
        viewer.reset_view()
        # the scores in view, as the caption says (before, the pickers above them were)
        from napari_unet.widgets._docking import reveal

        reveal(predict._scroll, panel._summary_title.native, panel._summary.native)
        settle()
        save(viewer, "annotate_3_predict.png")
        labels.visible = True

        # 4. Mark the rest as annotated and accept the prediction there.
        show_dock(annotate)
        region.add_rectangles(rect(0, h - 1, third, w - 1))
        annotate._prediction_combo.reset_choices()
        annotate._prediction_combo.value = seg
        annotate._accept_btn.native.click()
        seg.visible = False
        viewer.layers.selection.active = labels
        look_at(viewer, (h * 0.45, third * 1.3), 3.2)
        save(viewer, "annotate_4_accept.png")

        # 5. Correct a merge: erase the accepted object that covers most of two or more true
        #    nuclei (the fill bucket with label 0), then paint each nucleus on a new id.
        data = np.asarray(labels.data)
        accepted = [int(i) for i in np.unique(data[:, third:]) if i]
        merged = {}
        for i in accepted:
            inside = [t for t in np.unique(truth[data == i]) if t]
            covered = [t for t in inside if (data[truth == t] == i).mean() > 0.5]
            if len(covered) >= 2:
                merged[i] = covered
        wrong = max(merged, key=lambda i: int((data == i).sum()))
        ys, xs = np.nonzero(data == wrong)
        cy, cx = ys.mean(), xs.mean()
        labels.visible = True
        look_at(viewer, (cy, cx), 8.0)
        before = canvas_shot(viewer)
        labels.fill((ys[0], xs[0]), 0)
        labels.brush_size = 3
        for t in merged[wrong]:
            annotate._new_cell_btn.native.click()
            for y, x in np.argwhere(truth == t)[::2]:
                labels.paint((y, x), labels.selected_label)
        write_png(side_by_side(before, canvas_shot(viewer)), "annotate_5_correct.png")
        print(f"split object {wrong} at ({cy:.0f}, {cx:.0f}) into {len(merged[wrong])} nuclei")

        # 6. Resume training on the corrected annotations, predict again and score.
        show_dock(train)
        train._steps.value = SECOND_STEPS
        before = train._result
        train._resume.native.click()
        wait(lambda: train._result is not before and train._start.enabled)
        print(f"Train: {train._status.value}")
        if predict._form.model is first_model:
            raise RuntimeError(
                f"the Predict dock did not get the retrained model: {train._status.value}"
            )
        show_dock(predict)
        seg = run_predict(viewer, predict)  # the retrained model's layer (a new one)
        second_score = score(truth, seg)
        panel.reset_choices()
        panel._prediction.value = seg
        panel._ground_truth.value = truth_layer
        panel._region.value = None  # score the whole image against the full ground truth
        panel.results = None
        panel._run.native.click()
        wait(lambda: panel._run.enabled and panel.results is not None)
        show_dock(train)
        train._scroll.verticalScrollBar().setValue(train._scroll.verticalScrollBar().maximum())
        seg.visible, labels.visible = True, False
        viewer.reset_view()
        save(viewer, "annotate_6_retrain.png")
        print(f"first model ({FIRST_STEPS} steps, left third): {first_score}")
        print(f"retrained ({SECOND_STEPS} steps, corrected whole image): {second_score}")
        viewer.close()


if __name__ == "__main__":
    main()
