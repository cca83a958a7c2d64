"""The Predict dock in a real viewer: Labels layer on the sample, view-only, file, errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import evaluate  # noqa: E402
from napari_unet.widgets.predict import OTHER, VIEW, PredictWidget  # noqa: E402


def test_predict_sample_gives_a_labels_layer_with_the_image_geometry(
    run_predict, make_napari_viewer, qtbot, tiny
):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "touching_cells")
    image = viewer.layers["touching cells"]
    image.scale = (0.5, 0.5)
    image.translate = (10, 20)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = image
    widget._probabilities.value = True
    run_predict(widget)
    seg = viewer.layers["touching cells segmentation (tiny)"]
    assert type(seg).__name__ == "Labels" and seg.data.shape == image.data.shape
    assert tuple(seg.scale) == (0.5, 0.5) and tuple(seg.translate) == (10, 20)
    score = evaluate(viewer.layers["touching cells ground truth"].data, seg.data)
    assert score["pixel_iou"] > 0.9 and score["per_threshold"][0]["f1"] > 0.1, score
    prob = viewer.layers["touching cells probabilities (tiny)"]
    assert prob.data.shape == image.data.shape and 0 <= prob.data.min() <= prob.data.max() <= 1
    assert widget._progress.value == widget._progress.max
    image.scale, image.translate = (0.65, 0.65), (3, 4)  # the pixel size set afterwards
    run_predict(widget)  # the result is updated in place, and moves with the image
    assert tuple(seg.scale) == (0.65, 0.65) and tuple(seg.translate) == (3, 4)


def test_current_view_only_predicts_the_visible_part(run_predict, make_napari_viewer, qtbot, tiny):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "touching_cells")
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = viewer.layers["touching cells"]
    widget._scope.value = VIEW
    from napari_unet.widgets._layers import camera

    camera(viewer).center = (100, 100)
    camera(viewer).zoom = 2.5 * camera(viewer).zoom
    run_predict(widget)
    seg = viewer.layers["touching cells segmentation (tiny)"].data
    rows, cols = np.nonzero(seg)
    assert seg.shape == (384, 384) and len(rows) > 0
    assert rows.max() < 300 and cols.max() < 300  # only around the view, not everywhere


def test_model_file_and_stack_slice(run_predict, make_napari_viewer, qtbot, tiny, tmp_path):
    from napari_unet import save_model, touching_cells

    path = tmp_path / "m.safetensors"
    save_model(path, tiny[0], normalization=tiny[1]["normalization"])
    viewer = make_napari_viewer()
    img, truth = touching_cells((96, 96), n_cells=10, seed=3)
    viewer.add_image(np.stack([img, img[::-1]]), name="stack")
    viewer.dims.set_current_step(0, 1)
    widget = PredictWidget(viewer)
    widget._model_file.value = path
    widget._image.value = viewer.layers["stack"]
    widget._scope.value = VIEW
    run_predict(widget)
    seg = viewer.layers["stack segmentation (m)"].data
    assert seg.shape == (2, 96, 96)
    assert seg[0].max() == 0  # the current slice only
    assert evaluate(truth[::-1], seg[1])["pixel_iou"] > 0.9
    assert "m.safetensors" in widget._model_label.value
    first = np.array(seg)  # the layer's data is updated in place
    blank = __import__("copy").deepcopy(tiny[0])  # retrained to the same file: all weights 0
    with torch.no_grad():
        for p in blank.parameters():
            p.zero_()
    save_model(path, blank, normalization=tiny[1]["normalization"])
    run_predict(widget)  # the file is read again; before, the model in memory was used
    again = viewer.layers["stack segmentation (m)"].data
    assert not np.array_equal(again[1], first[1])


def test_the_slice_is_the_chosen_stacks_own(run_predict, make_napari_viewer, qtbot, tiny, errors):
    from napari_unet import touching_cells

    viewer = make_napari_viewer()
    img, _ = touching_cells((64, 64), n_cells=6, seed=2)
    stack = viewer.add_image(np.stack([img, np.zeros_like(img), img[::-1]]), name="stack")
    viewer.add_image(np.zeros((2, 3, 64, 64), np.float32), name="time-lapse")  # (T, Z, Y, X)
    viewer.dims.set_current_step(0, 1)  # time point 1,
    viewer.dims.set_current_step(1, 0)  # z-plane 0: plane 0 of the stack is on screen
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = stack
    widget._scope.value = VIEW
    run_predict(widget)
    seg = viewer.layers["stack segmentation (tiny)"].data
    assert seg[0].max() > 0 and seg[1].max() == seg[2].max() == 0  # before: plane 1 (T's)
    viewer.layers.remove("time-lapse")
    viewer.add_image(np.zeros((6, 64, 64), np.float32), name="deeper")
    viewer.dims.set_current_step(0, 4)  # beyond the stack: a message, the dock stays usable
    run_predict(widget)
    assert "plane 4" in errors[-1] and widget._run.enabled and not widget._cancel.enabled


def test_errors_become_notifications(run_predict, make_napari_viewer, qtbot, tiny, errors):
    viewer = make_napari_viewer()
    widget = PredictWidget(viewer)
    widget._run.clicked.emit()
    assert "no image layer" in errors[-1]
    two = np.random.default_rng(0).random((40, 40, 2)).astype(np.float32)
    viewer.add_image(two, name="two channels", rgb=False)
    widget.reset_choices()
    widget._source.value = OTHER  # away from the built-in default
    widget._run.clicked.emit()
    assert "no model" in errors[-1]
    widget.set_model(*tiny, name="tiny")
    run_predict(widget)
    assert "channels last" in errors[-1] and "one layer per channel" in errors[-1]
    assert widget._run.enabled
