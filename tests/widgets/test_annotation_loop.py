"""The whole loop in one napari session, driven through the docks on a real nuclei image:
annotate -> train -> predict -> accept -> correct -> retrain -> predict, then restore.

The image is the 256 x 256 fluorescence nuclei test image of stardist (a DSB2018 image) from
the shared data folder; "painting" copies the manual ground-truth masks of the cells in the
top half, as a user would paint them. The network is tiny and trains for a few dozen steps:
the test checks what a user relies on at each turn, not how good the model is.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tifffile = pytest.importorskip("tifffile")

from napari_unet import evaluate, read_metadata  # noqa: E402
from napari_unet.core.annotation.project import ANNOTATIONS_FILE, project_folder_for  # noqa: E402
from napari_unet.widgets.annotate import AnnotateWidget  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FIRST_STEPS, SECOND_STEPS = 30, 50


def _rect(y0, y1, x0, x1) -> np.ndarray:
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train(qtbot, train: TrainWidget, button) -> object:
    before = train._result
    button.native.click()
    qtbot.waitUntil(lambda: train._result is not before, timeout=120_000)
    qtbot.waitUntil(lambda: train._start.enabled, timeout=10_000)
    return train._result


def _predict(qtbot, predict: PredictWidget) -> None:
    predict._run.native.click()
    qtbot.waitUntil(lambda: predict._worker is None and predict._run.enabled, timeout=120_000)


def test_annotate_train_predict_correct_retrain(
    make_napari_viewer, qtbot, tmp_path, shared_data, errors
):

    folder = shared_data / "stardist_nuclei2d"
    if not (folder / "tests_img2d_256.tif").exists():
        pytest.skip("stardist_nuclei2d is not in the shared data folder")
    truth = tifffile.imread(folder / "tests_mask2d_256.tif")
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, tifffile.imread(folder / "tests_img2d_256.tif"))
    h, w = truth.shape

    viewer = make_napari_viewer()
    image = viewer.open(path)[0]
    annotate, train, predict = AnnotateWidget(viewer), TrainWidget(viewer), PredictWidget(viewer)
    for name, widget in (("Annotate", annotate), ("Train", train), ("Predict", predict)):
        viewer.window.add_dock_widget(widget, name=name)
    annotate._saver.timer.setInterval(30)  # the 2 s quiet period, shortened for the test

    # 1. Annotate: start on the image, paint every nucleus of the top half, one id each.
    annotate._image_combo.value = image
    annotate._start_btn.native.click()
    labels = viewer.layers["nuclei annotations"]
    region = viewer.layers["nuclei annotated region"]
    assert labels.data.shape == (h, w) and labels.mode == "paint"
    top = [int(i) for i in np.unique(truth[: h // 2]) if i]
    for i in top:
        labels.data_setitem(np.nonzero(truth == i), labels.selected_label)
        annotate._new_cell_btn.native.click()
    region.data = [_rect(0, h // 2 - 1, 0, w - 1)]  # only the top half is complete
    user = np.asarray(labels.data).copy()
    user_ids = set(np.unique(user)) - {0}
    assert len(user_ids) == len(top) >= 20
    assert labels.selected_label == len(top) + 1
    qtbot.waitUntil(lambda: annotate._counts.value.startswith(f"{len(top)} cells"))

    # 2. Train a tiny network on the annotations inside the region.
    train.reset_choices()
    train._image.value = image
    train._labels_box.value = labels
    train._region.value = region
    train._preset.value = "tiny"
    train._steps.value = FIRST_STEPS
    train._batch.value = 2
    train._crop.value = 48
    train._val_image.value = "none"  # the region is all there is; no hold-out
    train._device.value = "cpu"
    first = _train(qtbot, train, train._start)
    assert not errors, errors
    assert first.steps_done == FIRST_STEPS and not first.stopped
    model_file = tmp_path / "nuclei.unet.safetensors"  # beside the image, by default
    assert model_file.exists()
    assert read_metadata(model_file)["provenance"]["steps"] == FIRST_STEPS
    first_sha = _sha(model_file)
    assert predict._form.model is not None and "nuclei.unet" in predict._model_label.value
    first_model = predict._form.model

    # 3. Predict the whole image with the model the Train dock handed over.
    predict.reset_choices()
    predict._image.value = image
    _predict(qtbot, predict)
    seg = viewer.layers["nuclei segmentation (nuclei.unet)"]
    assert seg.data.shape == (h, w), predict._status.value
    score = evaluate(truth, seg.data)  # 30 steps of a tiny network: nuclei found, roughly
    assert score["pixel_iou"] > 0.5 and score["per_threshold"][0]["f1"] > 0.5, score
    assert tuple(seg.scale) == tuple(image.scale)
    # The Evaluate section of the Predict dock now compares it with the annotations.
    panel = predict._evaluate.panel
    assert panel._prediction.value is seg and panel._ground_truth.value is labels
    assert panel._region.value is region  # scores only where the annotation is complete
    panel._run.native.click()
    qtbot.waitUntil(lambda: panel._run.enabled and panel.results is not None, timeout=30000)
    mostly_top = [i for i in user_ids if (user[: h // 2] == i).sum() * 2 >= (user == i).sum()]
    assert panel.results[1]["n_gt"] == len(mostly_top) < len(user_ids)  # painted, mostly inside

    # 4. Accept the prediction in the bottom half: mark it as annotated too, then accept.
    region.add_rectangles(_rect(h // 2, h - 1, 0, w - 1))
    annotate._prediction_combo.reset_choices()
    annotate._prediction_combo.value = seg
    annotate._accept_btn.native.click()  # computed in a worker, applied when done
    qtbot.waitUntil(lambda: labels.editable and annotate._accept_btn.enabled, timeout=30000)
    after = np.asarray(labels.data).copy()
    np.testing.assert_array_equal(after[user > 0], user[user > 0])  # the user's strokes win
    accepted = set(np.unique(after)) - user_ids - {0}
    assert accepted and min(accepted) > max(user_ids)  # fresh ids, never reused
    assert "Accepted" in annotate._status.value

    # 5. Correct as a user would: erase one accepted cell with the fill bucket (label 0),
    #    then paint a cell the prediction missed with the brush, on a new id.
    wrong = max(accepted, key=lambda i: int((after == i).sum()))
    y, x = np.argwhere(after == wrong)[0]
    labels.fill((y, x), 0)
    assert wrong not in np.asarray(labels.data)
    annotate._new_cell_btn.native.click()
    new_id = labels.selected_label
    assert new_id > max(accepted)
    labels.brush_size = 5
    for yy, xx in ((h - 20, 20), (h - 20, 23), (h - 17, 23)):
        labels.paint((yy, xx), new_id)
    corrected = np.asarray(labels.data).copy()
    assert (corrected == new_id).sum() >= 20
    np.testing.assert_array_equal(corrected[user > 0], user[user > 0])

    # 6. Retrain: Resume continues from the first model on the corrected annotations.
    train._steps.value = SECOND_STEPS
    second = _train(qtbot, train, train._resume)
    assert not errors, errors
    assert second.steps_done == SECOND_STEPS
    assert read_metadata(model_file)["provenance"]["steps"] == SECOND_STEPS
    assert _sha(model_file) != first_sha  # the saved model was replaced by the new one
    assert predict._form.model is not first_model  # the Predict dock got the retrained model

    # 7. Predict again: the same layer is updated in place.
    old_seg = np.asarray(seg.data).copy()
    _predict(qtbot, predict)
    assert viewer.layers["nuclei segmentation (nuclei.unet)"] is seg
    assert not np.array_equal(old_seg, seg.data)
    score = evaluate(truth, seg.data)
    assert score["pixel_iou"] > 0.5 and score["per_threshold"][0]["f1"] > 0.5, score

    # 8. Everything was autosaved; a second viewer restores it from the project folder.
    saved = project_folder_for(path) / ANNOTATIONS_FILE
    qtbot.waitUntil(
        lambda: saved.exists() and np.array_equal(tifffile.imread(saved), corrected),
        timeout=10_000,
    )
    viewer.close()
    viewer2 = make_napari_viewer()
    image2 = viewer2.open(path)[0]
    annotate2 = AnnotateWidget(viewer2)
    viewer2.window.add_dock_widget(annotate2)
    annotate2._image_combo.value = image2
    annotate2._start_btn.native.click()
    np.testing.assert_array_equal(viewer2.layers["nuclei annotations"].data, corrected)
    assert len(viewer2.layers["nuclei annotated region"].data) == 2
    assert viewer2.layers["nuclei annotations"].selected_label == new_id + 1
    assert not errors, errors
