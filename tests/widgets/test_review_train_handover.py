"""The hand-over between the Review dock and the Train dock ("Train on corrected").

Verdicts and edits made after sending are used when the run starts; sending while the
Train dock trains is refused; the Review dock takes only models trained on what it sent,
Resume included.
"""

from __future__ import annotations

import numpy as np
import pytest
from review_data import REVIEW_NAMES, send_corrected

pytest.importorskip("napari")


@pytest.fixture
def mixed(shared_data, tmp_path):
    """Two fluorescence images and one histology image, cropped to 96 x 96."""
    from PIL import Image

    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in [*REVIEW_NAMES[:2], REVIEW_NAMES[4]]:
        pixels = np.asarray(Image.open(shared_data / "dsb2018_full" / "images" / f"{name}.png"))
        Image.fromarray(pixels[:96, :96]).save(folder / f"{name}.png")
    return folder


def _docks(make_napari_viewer, qtbot, images):
    from napari_unet.widgets.review import ReviewWidget
    from napari_unet.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    review, train = ReviewWidget(viewer), TrainWidget(viewer)
    viewer.window.add_dock_widget(review, name="Review")
    viewer.window.add_dock_widget(train, name="Train")
    review._form.images.value = images
    assert review.open()
    _shown(review, qtbot, 0)
    train._steps.value, train._batch.value, train._crop.value = 1, 1, 64
    train._val_image.value, train._device.value = "none", "cpu"
    return viewer, review, train


def _shown(review, qtbot, index):
    qtbot.waitUntil(
        lambda: review._index == index and review._shown == review.review.names[index],
        timeout=60_000,
    )


def _correct(review, qtbot, index):
    review._labels_layer.paint((20, 20), 4321)
    review.accept()
    if index + 1 < len(review.review.names):
        _shown(review, qtbot, index + 1)


def _run(train, qtbot, button):
    before = train._result
    button.native.click()
    qtbot.waitUntil(lambda: train._result is not before and train._start.enabled, timeout=120_000)
    return train._result


def _key(review) -> str:
    """The key of the model the review predicts the fluorescence images with."""
    from napari_unet.core.review.prefetch import model_key

    models = getattr(review.prefetcher, "models", None)  # auto: the model of each kind
    if models is None:
        return review.prefetcher.key.split("-")[0]
    return model_key(models["nuclei"].model)


def test_verdicts_and_edits_after_sending_are_used_by_the_run(
    make_napari_viewer, qtbot, review_crops
):
    # the pairs were a frozen copy: a rejected image and erased labels were trained on
    _, review, train = _docks(make_napari_viewer, qtbot, review_crops)
    _correct(review, qtbot, 0)
    _correct(review, qtbot, 1)
    _correct(review, qtbot, 2)
    send_corrected(review, qtbot)
    assert len(train._form.pairs()) == 3
    review.go(0)
    _shown(review, qtbot, 0)
    review.reject()  # changed my mind
    _shown(review, qtbot, 1)
    review._labels_layer.paint((60, 60), 999)  # a further correction, accepted
    review.accept()
    _run(train, qtbot, train._start)
    names = [image.name for image, _, _ in train._form.pairs()]
    assert names == [f"{n} (reviewed)" for n in REVIEW_NAMES[1:3]]
    assert train._form.pairs()[0][1].data[60, 60] == 999  # the labels read again
    assert "1 image rejected or flagged since sent: left out" in train._status.value
    assert "labels of 1 image changed since sent" in train._status.value


def test_sending_while_training_is_refused_and_other_runs_are_not_taken(
    make_napari_viewer, qtbot, review_crops
):
    # the Train dock said "Ready" while running; the review took that unrelated run's model
    from napari_unet.widgets.train import SCRATCH

    viewer, review, train = _docks(make_napari_viewer, qtbot, review_crops)
    _correct(review, qtbot, 0)
    cells = np.zeros((96, 96), np.int32)
    cells[10:30, 10:30], cells[50:70, 40:60] = 1, 2
    train._image.value = viewer.add_image(np.random.default_rng(0).random((96, 96)), name="other")
    train._labels_box.value = viewer.add_labels(cells, name="other labels")
    train._start_from.value, train._steps.value = SCRATCH, 2
    key = _key(review)
    before = train._result
    train._start.native.click()  # another run trains
    send_corrected(review, qtbot)
    assert "training" in review._report.value and "Sent" not in review._report.value
    assert "Ready" not in train._status.value and not train._form.added()
    qtbot.waitUntil(lambda: train._result is not before and train._start.enabled, timeout=120_000)
    assert _key(review) == key  # its model is offered, not used
    send_corrected(review, qtbot)  # now sent; the user trains on other layers instead
    assert "Sent 1 corrected images" in review._report.value
    train._form._on_clear_pairs()
    train._start_from.value = SCRATCH
    _run(train, qtbot, train._start)
    assert _key(review) == key
    assert not review._form.model.value.startswith("trained: ")


def test_resume_of_the_run_on_the_reviews_pairs_switches_the_review(
    make_napari_viewer, qtbot, review_crops
):
    # the review kept run 1's weights while its `trained:` entry and file held run 2
    from napari_unet.core.review.prefetch import model_key

    _, review, train = _docks(make_napari_viewer, qtbot, review_crops)
    _correct(review, qtbot, 0)
    send_corrected(review, qtbot)
    first = _run(train, qtbot, train._start)
    assert _key(review) == model_key(first.best_model())
    train._steps.value = 2
    second = _run(train, qtbot, train._resume)
    assert second.steps_done == 2
    assert _key(review) == model_key(second.best_model())
    models, _, _ = review._form.trained[review._form.model.value]  # auto, the run for nuclei
    assert model_key(models["nuclei"].model) == _key(review)
    assert models["nuclei"].name == review._form.model.value.split("auto with ")[1]
    assert models["nuclei-brightfield"].source == "nuclei-brightfield"


def test_a_run_on_fluorescence_corrections_keeps_histology_on_its_builtin_model(
    make_napari_viewer, qtbot, mixed
):
    # a mixed folder under auto: the model fine-tuned on fluorescence corrections replaced
    # both built-in models, and the histology image was predicted with it (27 -> 3 objects)
    from napari_unet.core.review.prefetch import model_key

    _, review, train = _docks(make_napari_viewer, qtbot, mixed)
    fluo, histology = review.review.names[1], review.review.names[2]
    entries = review.review.entries
    qtbot.waitUntil(lambda: entries[histology].predicted_with is not None, timeout=60_000)
    builtin = entries[histology].predicted_with
    _correct(review, qtbot, 0)
    send_corrected(review, qtbot)
    assert "fine-tuning nuclei, chosen by the images" in review._report.value
    new = model_key(_run(train, qtbot, train._start).best_model())
    models = review.prefetcher.models
    assert model_key(models["nuclei"].model) == new
    assert models["nuclei-brightfield"].name == "nuclei-brightfield"
    assert "nuclei-brightfield" in review._report.value  # the others keep it
    qtbot.waitUntil(lambda: (entries[fluo].predicted_with or "").startswith(new), timeout=60_000)
    assert entries[histology].predicted_with == builtin  # its prediction is kept
    review.go(2)
    _shown(review, qtbot, 2)
    assert review.prefetcher.chosen(histology) == "nuclei-brightfield"
    assert entries[histology].predicted_with == builtin
    review.go(1)
    _shown(review, qtbot, 1)
    _correct(review, qtbot, 1)  # a second round fine-tunes the model trained here
    send_corrected(review, qtbot)
    assert f"fine-tuning {models['nuclei'].name}, chosen by the images" in review._report.value
    # Open with the form's choice ("auto with ...") reviews the same way
    assert review._form.model.value.startswith("trained: auto with ")
    assert review.open()
    assert model_key(review.prefetcher.models["nuclei"].model) == new
