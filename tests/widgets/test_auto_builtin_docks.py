"""The docks' default model is auto: the built-in model chosen by the image.

``nuclei`` for bright objects on a dark background (fluorescence), ``nuclei-brightfield`` for
dark objects on a bright one (brightfield, H&E). The bright-background image here is the
shipped fluorescence sample inverted (``255 - image``): no shared data is needed.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from review_data import send_corrected  # noqa: E402

from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.core.images.io import write_image  # noqa: E402
from napari_unet.core.models.modelfile import read_metadata  # noqa: E402
from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

BRIGHT = "nuclei-brightfield"


def _recommended(name: str) -> dict:
    return read_metadata(pretrained_path(name))["postprocess"]


def _images(viewer):
    """The fluorescence sample ("fluo") and the same image inverted ("bright") as layers."""
    image, _ = nuclei_data()
    return viewer.add_image(image, name="fluo"), viewer.add_image(255 - image, name="bright")


def _predict_dock(make_napari_viewer):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    fluo, bright = _images(viewer)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Predict")
    return viewer, widget, fluo, bright


# -- Predict ---------------------------------------------------------------------------------
def test_predict_dock_uses_the_model_chosen_for_each_image(
    make_napari_viewer, run_predict, monkeypatch
):
    from napari_unet.widgets import _exporting
    from napari_unet.widgets._predict_form import BUILTINS

    loads: list[str] = []
    original = _exporting.load_predict_model

    def counted(path, device="auto"):
        loads.append(str(path))
        return original(path, device)

    monkeypatch.setattr(_exporting, "load_predict_model", counted)
    viewer, widget, fluo, bright = _predict_dock(make_napari_viewer)
    assert BUILTINS[widget._source.value] == "auto"  # the default choice
    widget._image.value = bright
    assert widget._form.pending == pretrained_path(BRIGHT)
    assert "nuclei-brightfield: dark objects on a bright background" in widget._model_label.value
    post = _recommended(BRIGHT)  # its own post-processing, not nuclei's
    assert widget._threshold.value == pytest.approx(post["threshold"])
    assert widget._min_size.value == post["min_size"]
    run_predict(widget)
    seg = viewer.layers["bright segmentation (nuclei-brightfield)"]
    assert seg.data.max() >= 20  # the inverted sample's nuclei are found (125 in truth)
    assert (
        widget._model_label.value
        == f"model: auto chose {BRIGHT}: dark objects on a bright background"
    )
    widget._image.value = fluo
    assert "auto chose nuclei: bright objects on a dark background" in widget._model_label.value
    assert widget._min_size.value == _recommended("nuclei")["min_size"]
    run_predict(widget)
    assert viewer.layers["fluo segmentation (nuclei)"].data.max() >= 20
    widget._image.value = bright  # chosen again: the model loaded before is used
    assert widget._form.model is not None and widget._form.pending is None
    run_predict(widget)
    assert sorted(loads) == sorted(str(pretrained_path(n)) for n in ("nuclei", BRIGHT))


def test_an_edit_stays_until_the_image_gets_another_model(make_napari_viewer):
    viewer, widget, fluo, bright = _predict_dock(make_napari_viewer)
    other = viewer.add_image(nuclei_data()[0][::-1].copy(), name="fluo flipped")
    widget._image.value = fluo
    widget._threshold.value = 0.35  # the user's edit
    widget._image.value = other  # another image, the same model: the edit stays
    assert widget._threshold.value == pytest.approx(0.35)
    widget._image.value = bright  # another model: its recommendation
    assert widget._threshold.value == pytest.approx(_recommended(BRIGHT)["threshold"])
    req = widget._form.request()
    assert req["model_name"] == BRIGHT and req["model_file"] == pretrained_path(BRIGHT)
    assert req["options"]["threshold"] == pytest.approx(_recommended(BRIGHT)["threshold"])


def test_a_replaced_image_is_chosen_for_again_when_predict_runs(make_napari_viewer):
    viewer, widget, fluo, _ = _predict_dock(make_napari_viewer)
    widget._image.value = fluo
    assert widget._form.model_name == "nuclei"
    fluo.data = 255 - fluo.data  # the layer now shows a bright background
    req = widget._form.request()
    assert req["model_name"] == BRIGHT and req["model_file"] == pretrained_path(BRIGHT)


def test_the_choice_follows_the_channel_a_grey_model_reads(make_napari_viewer):
    viewer, widget, fluo, _ = _predict_dock(make_napari_viewer)
    image = fluo.data
    colour = viewer.add_image(np.stack([255 - image, image, image], -1), name="two stains")
    widget._image.value = colour
    assert widget._form.model_name == "nuclei"  # the mean of the channels: a dark background
    widget._channel.value = 0  # the inverted stain alone: a bright background
    assert widget._form.model_name == BRIGHT
    assert widget._min_size.value == _recommended(BRIGHT)["min_size"]


def test_an_image_auto_cannot_judge_is_a_message(make_napari_viewer):
    viewer, widget, _, _ = _predict_dock(make_napari_viewer)
    widget._image.value = viewer.add_image(np.zeros((2, 2, 2, 16, 16)), name="5d")
    assert "auto could not choose" in widget._model_label.value  # no traceback
    with pytest.raises(InputError, match="auto could not choose"):
        widget._form.request()


def test_export_of_auto_exports_the_model_chosen_for_the_image(make_napari_viewer):
    viewer, widget, fluo, bright = _predict_dock(make_napari_viewer)
    widget._image.value = bright
    source, name, suggested = widget._form.export_source()
    assert (source, name) == (BRIGHT, BRIGHT) and suggested.name.startswith(BRIGHT)
    widget._image.value = fluo
    assert widget._form.export_source()[0] == "nuclei"
    viewer.layers.clear()
    with pytest.raises(InputError, match="auto chooses the built-in model by the image"):
        widget._form.export_source()


def test_a_big_colour_image_is_judged_on_a_sample():
    # averaging the colour of a whole 8192 x 8192 RGB image took 3 s on the GUI thread
    import tracemalloc

    from napari_unet.widgets._auto_builtin import choose_for_images, readable

    rows = np.full(8000, 230, np.uint8)
    rows[:800] = 20  # a dark band on a bright background; a view, no 144 MB in the test
    rgb = np.broadcast_to(rows[:, None, None], (8000, 6000, 3))
    tracemalloc.start()
    try:
        assert choose_for_images([rgb]) == BRIGHT
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a sample of about a million pixels; the colour averaged whole takes 4 bytes a pixel
    assert peak < 0.25 * (8000 * 6000 * 4)
    zarr = pytest.importorskip("zarr")  # a zarr.Array layer: as dask (windows), not read whole
    from napari_unet.core.images.layout import is_lazy

    stored = zarr.zeros((512, 512), chunks=(128, 128), dtype="uint8")
    assert is_lazy(readable(stored)) and readable(stored).chunksize == (128, 128)
    assert readable(rgb) is rgb


# -- Review ----------------------------------------------------------------------------------
@pytest.fixture
def two_images(tmp_path):
    """A folder with the fluorescence sample and its inverse (a bright background)."""
    image, _ = nuclei_data()
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "a_fluo.tif", image)
    write_image(folder / "b_bright.tif", 255 - image)
    return folder


def _review(make_napari_viewer, qtbot, folder, model=None):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = folder
    if model is not None:
        widget._form.model.value = model
    assert widget.open(), widget._status.value
    for index in (1, 0):  # both predicted and shown
        widget.go(index)
        qtbot.waitUntil(lambda i=index: widget._shown == widget.review.names[i], timeout=120_000)
    return viewer, widget


def _key(name: str) -> str:
    from napari_unet.core.review.prefetch import model_key
    from napari_unet.widgets._exporting import load_model_file

    return f"{model_key(load_model_file(pretrained_path(name))[0])}-auto"


def test_review_predicts_each_image_with_its_own_model(make_napari_viewer, qtbot, two_images):
    from napari_unet.widgets._predict_form import BUILTIN, BUILTINS

    viewer, widget = _review(make_napari_viewer, qtbot, two_images, model=BUILTIN)
    entries = widget.review.entries
    assert entries["b_bright.tif"].source == "prediction (nuclei)"  # nuclei chosen: both
    assert entries["b_bright.tif"].predicted_with == _key("nuclei")
    widget.shutdown()
    viewer.close()
    viewer, widget = _review(make_napari_viewer, qtbot, two_images)  # the default: auto
    assert BUILTINS[widget._form.model.value] == "auto"
    entries = widget.review.entries
    # The cached prediction of nuclei is kept for the fluorescence image, not shown for the
    # bright one: that one is predicted again with its own model, under that model's key.
    assert entries["a_fluo.tif"].source == "prediction (nuclei)"
    assert entries["a_fluo.tif"].predicted_with == _key("nuclei")
    assert entries["b_bright.tif"].source == f"prediction ({BRIGHT})"
    assert entries["b_bright.tif"].predicted_with == _key(BRIGHT)
    widget.go(1)
    qtbot.waitUntil(lambda: widget._shown == "b_bright.tif", timeout=120_000)
    assert f"from prediction ({BRIGHT})" in widget._status.value  # which model, per image
    widget.shutdown()


def test_predicting_the_folder_ahead_replaces_the_other_models_predictions(two_images):
    """Images never viewed: cached by nuclei, re-predicted where auto chooses the other."""
    import time

    import napari_unet as nu
    from napari_unet.core.review.prefetch import Prefetcher
    from napari_unet.core.review.session import Review
    from napari_unet.widgets._review_auto import AutoPrefetcher, builtin_models

    out = two_images.parent / "out"

    def run(prefetcher):
        prefetcher.want([])
        deadline = time.monotonic() + 240
        while (prefetcher.pending() or prefetcher.busy) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert prefetcher.close()

    review = Review(two_images, out)
    model, meta = nu.pretrained("nuclei")
    run(Prefetcher(review, model, meta, "nuclei", queue_all=True))
    review = Review(two_images, out)
    run(AutoPrefetcher(review, builtin_models(), queue_all=True))
    assert review.entries["a_fluo.tif"].predicted_with == _key("nuclei")
    assert review.entries["b_bright.tif"].predicted_with == _key(BRIGHT)


def test_train_on_corrected_after_auto_fine_tunes_the_images_model(
    make_napari_viewer, qtbot, two_images
):
    from napari_unet.widgets.train import BUILTIN, TrainWidget

    viewer, widget = _review(make_napari_viewer, qtbot, two_images)
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    widget.go(1)  # the bright image
    qtbot.waitUntil(lambda: widget._shown == "b_bright.tif", timeout=120_000)
    widget._labels_layer.paint((20, 20), 4321)
    widget.accept()  # corrected
    send_corrected(widget, qtbot)
    assert f"fine-tuning {BRIGHT}, chosen by the images" in widget._report.value
    assert train._save_path.value.name == f"{BRIGHT}-reviewed.unet.safetensors"
    assert train._start_from.value == BUILTIN  # chosen by the corrected image: brightfield
    assert train._form.init_choice() == pretrained_path(BRIGHT)
    widget.shutdown()
    train.shutdown()


# -- Train -----------------------------------------------------------------------------------
def test_train_dock_starts_from_the_model_chosen_by_the_training_image(make_napari_viewer):
    from napari_unet.widgets.train import BUILTIN, FILE, TrainWidget

    viewer = make_napari_viewer()
    fluo, bright = _images(viewer)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    assert widget._start_from.value == BUILTIN
    widget._image.value = bright
    assert widget._form.init_choice() == pretrained_path(BRIGHT)
    assert widget._form.start_note == f"fine-tuning {BRIGHT}: dark objects on a bright background"
    widget._image.value = fluo
    assert widget._form.init_choice() == pretrained_path("nuclei")
    widget._form.start_from_model("nuclei")  # a named built-in model is that one
    assert widget._start_from.value == FILE and widget._form.init_choice() == pretrained_path(
        "nuclei"
    )
    widget._form.start_from_model("auto")  # the Review dock's auto: chosen by the images
    assert widget._start_from.value == BUILTIN


# -- Live ------------------------------------------------------------------------------------
def test_live_dock_starts_from_the_model_chosen_for_the_image(
    make_napari_viewer, qtbot, monkeypatch
):
    from napari_unet.widgets import _exporting
    from napari_unet.widgets._predict_form import BUILTINS
    from napari_unet.widgets.live import LiveWidget

    original, loaded = _exporting.load_model_file, []

    def recorded(path):
        loaded.append((str(path), threading.current_thread()))
        return original(path)

    monkeypatch.setattr(_exporting, "load_model_file", recorded)
    viewer = make_napari_viewer()
    _, bright = _images(viewer)
    labels = viewer.add_labels(np.zeros(bright.data.shape, np.int32), name="bright annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    assert BUILTINS[widget._model.value] == "auto"
    widget._image_box.value, widget._labels_box.value = bright, labels
    widget._start.native.click()
    assert f"auto chose {BRIGHT}" in widget._status.value
    qtbot.waitUntil(lambda: widget.trainer is not None and widget.trainer.running, timeout=60_000)
    widget.stop()
    assert loaded[0][0] == str(pretrained_path(BRIGHT))
    assert loaded[0][1] is not threading.main_thread()  # loaded in a thread, as before
