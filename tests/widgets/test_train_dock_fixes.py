"""The Train dock: preview normalisation, hold-out, early stop, removed pairs, Save model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_widget import fake_predict_dock  # noqa: E402
from test_train_widget import setup as train_setup  # noqa: E402

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets.train import BUILTIN  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = {"method": "percentile", "low": 1.0, "high": 99.8}


def setup(make_napari_viewer, tmp_path, steps=3, image=None, labels=None):
    """The Train dock's test set-up, and a stand-in Predict dock that records handovers."""
    viewer, widget = train_setup(make_napari_viewer, tmp_path, steps, image, labels)
    predict = fake_predict_dock()
    viewer.window.add_dock_widget(predict, name="Predict")
    return viewer, widget, predict


def wait_done(qtbot, widget):
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)


def background_right(seed: int = 0):
    """Cells on the left half, only noise of the same background on the right half."""
    image, labels = touching_cells((192, 192), n_cells=12, seed=seed)
    labels[:, 96:] = 0
    rng = np.random.default_rng(seed)
    back = image[labels == 0]
    image[:, 96:] = rng.normal(back.mean(), back.std(), (192, 96)).astype(image.dtype)
    return image, labels


# -- 1: the preview normalises the view as Predict does --------------------------------
def test_the_view_is_normalised_with_its_whole_plane():
    from napari_unet.core.images.normalize import normalize
    from napari_unet.widgets._workers import ViewSource

    image, labels = background_right()
    view = ViewSource(image, labels.shape, SPEC)
    view.update((40, 136, 100, 190))
    pixels, origin = view()
    assert origin == (40, 100, 0) and view.normalization == {"method": "none"}
    np.testing.assert_allclose(pixels, normalize(image, SPEC)[40:136, 100:190], rtol=1e-5)
    stack = np.stack([image, image[::-1] * 3])
    view = ViewSource(stack, (2, *labels.shape), SPEC)
    view.update((0, 50, 0, 60), plane=1)
    np.testing.assert_allclose(view()[0], normalize(stack[1], SPEC)[:50, :60], rtol=1e-5)
    rgb = np.stack([image, image * 0.5, image * 0.25], -1)
    view = ViewSource(rgb, labels.shape, SPEC, in_channels=1)  # a grey model: their mean
    view.update((0, 50, 0, 60))
    grey = normalize(rgb.mean(-1, dtype=np.float32), SPEC)
    np.testing.assert_allclose(view()[0], grey[:50, :60], rtol=1e-4, atol=1e-5)


def test_the_preview_of_background_finds_what_predict_finds(
    make_napari_viewer, qtbot, tmp_path, errors
):
    # Normalised by itself, the noise of this view was stretched into ~20 cells.
    from napari_unet.core.inference.segment import segment
    from napari_unet.widgets import _layers

    image, labels = background_right()
    viewer, widget, _ = setup(make_napari_viewer, tmp_path, steps=1, image=image, labels=labels)
    widget._start_from.value = BUILTIN
    widget._lr.value = 1e-6  # the weights stay the built-in model's
    widget._val_image.value = "none"
    widget._val_every.value = 1
    h, w = _layers.canvas_size(viewer)
    viewer.camera.center = (88, 146)
    viewer.camera.zoom = min(h, w) / 90  # about 90 px of background in view
    widget._start.native.click()
    wait_done(qtbot, widget)
    assert not errors and widget._result.steps_done == 1
    y0, y1, x0, x1 = _layers.visible_box(viewer, viewer.layers["cells"], (192, 192), limit=512)
    assert x0 >= 96  # background only
    preview = viewer.layers["cells preview"].data[y0:y1, x0:x1]
    result = widget._result
    whole = segment(result.model, image, normalization=result.metadata["normalization"],
                    object_size=None, metadata={"separation_gap": 2})  # fmt: skip
    found = np.unique(np.asarray(whole)[y0:y1, x0:x1]).size - 1
    assert abs((np.unique(preview).size - 1) - found) <= 1


# -- 2: the default hold-out leaves cells to train on -----------------------------------
def test_the_default_hold_out_keeps_cells_painted_at_the_bottom(
    make_napari_viewer, qtbot, tmp_path, errors
):
    image, labels = touching_cells((200, 200), n_cells=12, seed=0)
    image, labels = np.roll(image, 75, 0), np.roll(labels, 75, 0)
    labels[:165] = 0  # painted near the bottom edge only
    viewer, widget, _ = setup(make_napari_viewer, tmp_path, steps=2, image=image, labels=labels)
    widget._start.native.click()  # validation: the default hold-out
    wait_done(qtbot, widget)
    meta = widget._result.metadata
    assert not errors
    assert meta.get("object_size") is not None  # before: None, no cell was trained on
    assert meta["provenance"]["validation"]


def test_a_hold_out_that_would_take_every_cell_cuts_the_cells_rows_in_a_region(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """With a region the strip took every cell: no validation, with a warning; now the
    cells' rows are cut, as without a region."""
    warned = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", warned.append)
    image, labels = touching_cells((200, 200), n_cells=12, seed=0)
    image, labels = np.roll(image, 75, 0), np.roll(labels, 75, 0)
    labels[:165] = 0
    viewer, widget, _ = setup(make_napari_viewer, tmp_path, steps=2, image=image, labels=labels)
    viewer.add_labels(np.ones(labels.shape, np.uint8), name="checked")  # every row annotated
    widget._region.value = viewer.layers["checked"]
    widget._labels_box.value = viewer.layers["cells labels"]
    widget._start.native.click()
    wait_done(qtbot, widget)
    meta = widget._result.metadata
    assert not errors and meta["provenance"]["validation"]  # a strip of the cells' rows
    assert meta.get("object_size") is not None  # cells were trained on
    assert not any("no validation" in text for text in warned)


# -- 3: stopped before the first step: nothing handed on --------------------------------
def test_a_first_run_stopped_at_once_hands_nothing_over(make_napari_viewer, qtbot, tmp_path):
    viewer, widget, predict = setup(make_napari_viewer, tmp_path, steps=50)
    widget._start.native.click()
    widget._stop.native.click()
    wait_done(qtbot, widget)
    qtbot.wait(100)
    assert not predict.received  # before: an untrained (random) network
    assert widget._result is None
    assert not widget._save.enabled and not widget._resume.enabled
    assert not widget._exporter.button.enabled
    assert "nothing trained" in widget._status.value
    assert not (tmp_path / "cells.safetensors").exists()


# -- 4: a pair whose layer left the viewer --------------------------------------------
def test_a_pair_whose_layer_was_removed_is_dropped(make_napari_viewer, tmp_path):
    viewer, widget, _ = setup(make_napari_viewer, tmp_path)
    widget._add_pair.native.click()  # cells + cells labels
    image, labels = touching_cells((80, 80), n_cells=6, seed=3)
    viewer.add_image(image, name="bad")
    viewer.add_labels(labels, name="bad labels")
    widget._image.value = viewer.layers["bad"]
    widget._labels_box.value = viewer.layers["bad labels"]
    widget._add_pair.native.click()
    assert len(widget._form.pairs()) == 2
    viewer.layers.remove("bad labels")
    label = widget._pairs_label.value
    assert "cells+cells labels" in label and "dropped bad+bad labels" in label
    names = [(i.name, lb.name) for i, lb, _ in widget._form.pairs()]
    assert names == [("cells", "cells labels")]  # before: the removed pair was trained on


# -- 5: Save model over another run's model -----------------------------------------
def test_save_model_over_another_model_removes_its_best(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    from qtpy.QtWidgets import QFileDialog

    from napari_unet import TrainConfig, make_pairs, train
    from napari_unet.core.models.modelfile import read_metadata

    image, labels = touching_cells((96, 96), n_cells=10, seed=5)
    config = TrainConfig(model="tiny", steps=2, batch_size=2, crop_size=48, val_every=2,
                         device="cpu", val_fraction=0.2)  # fmt: skip
    old = tmp_path / "nuclei.safetensors"
    train(make_pairs([image], [labels]), config, output=old)
    best = tmp_path / "nuclei.best.safetensors"
    assert best.exists()  # another run's model and its best
    viewer, widget, _ = setup(make_napari_viewer, tmp_path, steps=2)
    widget._save_path.line_edit.value = ""  # no file written by the run
    widget._val_image.value = "none"
    widget._start.native.click()
    wait_done(qtbot, widget)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(old), ""))
    widget._save.native.click()
    qtbot.waitUntil(lambda: widget._status.value.startswith("Saved"), timeout=30_000)
    run = widget._result.run_id
    assert read_metadata(old)["provenance"]["run_id"] == run
    assert not best.exists() or read_metadata(best)["provenance"]["run_id"] == run
    assert not errors


def test_save_model_writes_the_runs_best_beside_it(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    from napari_unet.core.models.modelfile import read_metadata

    viewer, widget, _ = setup(make_napari_viewer, tmp_path, steps=2)
    widget._val_every.value = 2
    widget._start.native.click()
    wait_done(qtbot, widget)
    assert widget._result.best_state is not None
    chosen = tmp_path / "elsewhere.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), ""))
    widget._save.native.click()
    qtbot.waitUntil(lambda: widget._status.value.startswith("Saved"), timeout=30_000)
    best = read_metadata(tmp_path / "elsewhere.best.safetensors")
    assert best["metrics"]["at_save"] == widget._result.best_metrics


# -- minor: "save to" a folder ------------------------------------------------------
def test_save_to_a_folder_says_so(make_napari_viewer, qtbot, tmp_path, errors):
    viewer, widget, _ = setup(make_napari_viewer, tmp_path)
    widget._save_path.value = tmp_path
    widget._start.native.click()
    assert errors and "it is a folder; give a file name" in errors[-1]
    assert widget._start.enabled and widget._done.is_set()


def test_robust_box_trains_for_worse_images(make_napari_viewer, qtbot, tmp_path):
    # The checkbox is the command's --robust: its blur, shading and noise reach the run.
    from napari_unet.core.training.augment import ROBUST, AugmentConfig

    viewer, widget, _ = setup(make_napari_viewer, tmp_path)
    assert widget._robust.value is False and "noise" in widget._robust.tooltip
    assert widget._form.config().augment == AugmentConfig().to_dict()
    widget._robust.value = True
    widget._start.native.click()
    wait_done(qtbot, widget)
    augment = widget._result.metadata["provenance"]["config"]["augment"]
    assert {k: augment[k] for k in ROBUST} == ROBUST


def test_pairs_sent_by_another_dock_are_added_while_napari_repaints(make_napari_viewer, tmp_path):
    # adding the pairs' layers held the GUI thread in one piece (18 pairs of 1024 px: 4.3 s)
    from qtpy.QtCore import QTimer

    _, widget, _ = setup(make_napari_viewer, tmp_path)
    ticks, said = [], []
    timer = QTimer()
    timer.timeout.connect(lambda: (ticks.append(1), said.append(widget._status.value)))
    timer.start(0)
    pairs = [(f"cell_{i}.tif", *touching_cells((64, 64), n_cells=3, seed=i)) for i in range(4)]
    widget.use_pairs(pairs, BUILTIN, source="a test")
    timer.stop()
    assert len(ticks) >= 3  # the event loop ran between the pairs
    assert "Adding the pairs as layers: 3/4..." in said
    assert widget._status.value.startswith("Ready to fine-tune on 4 images from a test")
    assert len(widget._form.pairs()) == 4
