"""The Train dock hands over the file that holds the weights it hands, and validates an
image against its own labels.

* Predict and Export showed the saved model's name and file (``NAME.safetensors``, the last
  weights) with the run's best weights (of an earlier step): predicting with that file
  elsewhere gave another segmentation. Now they name ``NAME.best``, which holds them.
* The "val annotations" picker stayed on the training image's annotations when another
  validation image was chosen: validation scored that image against cells it does not show.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_widget import setup  # noqa: E402

from napari_unet.core.models.modelfile import load_model  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402
from napari_unet.widgets.train import SCRATCH, TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _same_weights(model, other) -> bool:
    a, b = model.state_dict(), other.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def _best_at_first_evaluation(monkeypatch) -> None:
    """Validation scores step 2 (the first evaluation) best, step 4 worse: best != last."""
    from napari_unet.core.training import validation

    real, calls = validation.evaluate_pairs, []

    def scored(*args, **kwargs):
        metrics = real(*args, **kwargs)
        calls.append(1)
        if metrics is not None:
            metrics["ap50"] = 0.9 if len(calls) == 1 else 0.1
        return metrics

    monkeypatch.setattr(validation, "evaluate_pairs", scored)


def _run_beside_predict(qtbot, viewer, widget) -> PredictWidget:
    """Train (validation every 2 steps, a set rate: no scoring to choose it), a Predict dock
    beside it to be handed the model; that dock."""
    widget._val_every.value, widget._lr.value = 2, 1e-3
    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict, name="Predict")
    widget._start.native.click()
    qtbot.waitUntil(lambda: bool(widget._result is not None and widget._start.enabled),
                    timeout=120000)  # fmt: skip
    return predict


def test_predict_and_export_name_the_file_of_the_best_weights(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    _best_at_first_evaluation(monkeypatch)
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=4)
    widget._start_from.value = SCRATCH
    predict = _run_beside_predict(qtbot, viewer, widget)
    result = widget._result
    assert result.best_metrics["step"] == 2 and result.steps_done == 4
    last, best = tmp_path / "cells.safetensors", tmp_path / "cells.best.safetensors"
    assert result.saved_to == last and best.is_file()
    handed_model = predict._form.model
    assert not _same_weights(handed_model, load_model(last)[0])  # the best is not the last
    # The name and the file box say the file that holds the handed weights (before: cells).
    assert predict._form.saved == best and predict._model_file.value == best
    assert predict._form.model_name == "cells.best"
    assert predict._model_label.value == "model: cells.best"
    assert _same_weights(handed_model, load_model(best)[0])
    assert "the Predict dock gets the best model, of step 2, as cells.best.safetensors" in (
        widget._status.value
    )
    (model, _), name, path = widget._export_source()  # Export: the same weights and name
    assert name == "cells.best" and path == tmp_path / "cells.best.zip"
    assert _same_weights(model, load_model(best)[0])
    assert not errors


def test_a_start_model_kept_as_the_best_is_handed_as_its_file(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch, trained_same
):
    from tiny_model import save_tiny

    from napari_unet.widgets.train import FILE

    _best_at_first_evaluation(monkeypatch)  # the start model's score (step 0) stays best
    start = save_tiny(tmp_path, *trained_same)
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=2)
    widget._init_file.value = start
    widget._start_from.value = FILE
    predict = _run_beside_predict(qtbot, viewer, widget)
    assert widget._result.best_metrics["step"] == 0 and widget._result.steps_done == 2
    best = tmp_path / "cells.best.safetensors"
    assert predict._form.saved == best and predict._form.model_name == "cells.best"
    assert _same_weights(predict._form.model, load_model(best)[0])
    assert _same_weights(predict._form.model, load_model(start)[0])  # the start model's
    assert "so the Predict dock gets the start model, as cells.best.safetensors" in (
        widget._status.value
    )
    assert not errors


def test_unsaved_or_start_model_bests_are_named_so(tmp_path):
    from napari_unet.widgets._train_sent import handed

    best = {"step": 2, "ap50": 0.5, "val_loss": 1.0}
    unsaved = SimpleNamespace(saved_to=None, best_metrics=best, best_state={}, steps_done=4)
    assert handed(unsaved) == ("trained model (best, step 2)", None, "the best model, of step 2")
    start = SimpleNamespace(saved_to=None, best_metrics={**best, "step": 0}, best_state={},
                            steps_done=4)  # fmt: skip
    assert handed(start)[:2] == ("start model", None)
    last = SimpleNamespace(saved_to=tmp_path / "m.safetensors", best_metrics={**best, "step": 4},
                           best_state={}, steps_done=4)  # fmt: skip
    assert handed(last) == ("m", tmp_path / "m.safetensors", "")


def _two_images(viewer):
    zeros = np.zeros((64, 64), np.int32)
    nuclei = viewer.add_image(np.zeros((64, 64), np.float32), name="nuclei")
    annotations = viewer.add_labels(zeros.copy(), name="nuclei annotations")
    other = viewer.add_image(np.zeros((64, 64), np.float32), name="other")
    truth = viewer.add_labels(zeros.copy(), name="other ground truth")
    return nuclei, annotations, other, truth


def test_val_annotations_follow_the_validation_image(make_napari_viewer):
    viewer = make_napari_viewer()
    nuclei, annotations, other, truth = _two_images(viewer)
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    dock._image.value = nuclei
    assert dock._labels_box.value is annotations
    dock._val_image.value = other
    assert dock._val_labels.value is truth  # before: 'nuclei annotations'
    assert "Validating on 'other' against 'other ground truth'." in dock._status.value
    assert "Warning" not in dock._status.value
    dock._val_labels.value = annotations  # the user's pick stays, with a warning
    dock._form.pair_labels()
    assert dock._val_labels.value is annotations
    assert "Warning: those are the training annotations of another image" in dock._status.value


def test_the_status_warns_when_the_val_image_has_no_labels_of_its_own(make_napari_viewer):
    viewer = make_napari_viewer()
    nuclei, annotations, _, _ = _two_images(viewer)
    third = viewer.add_image(np.zeros((64, 64), np.float32), name="third")
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    dock._image.value = nuclei
    dock._val_labels.value = annotations
    dock._val_image.value = third  # no labels named after it: left as they were
    assert dock._val_labels.value is annotations
    assert "Validating on 'third' against 'nuclei annotations'. Warning" in dock._status.value
