"""The Train dock: a user's "<image> preview" layer, duplicate pairs, a stop or close before
the first step, the preview's placement, and the curves of the model kept."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_widget import setup  # noqa: E402

from napari_unet import TrainConfig, iter_train, make_pairs, touching_cells  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def train(qtbot, widget) -> None:
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)


def previews(viewer) -> list:
    """The preview layers the dock made."""
    from napari_unet.widgets._layers import ROLE

    return [ly for ly in viewer.layers if ly.metadata.get(ROLE) == "preview"]


# -- 1: a user's layer named "<image> preview" ----------------------------------------
@pytest.mark.parametrize("shape", [(96, 96), (50, 50)])
def test_a_users_layer_named_like_the_preview_is_left_alone(
    make_napari_viewer, qtbot, tmp_path, errors, shape
):
    """Before, one of the run's shape was zeroed and painted over; another was removed."""
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=2)
    widget._val_every.value = 1
    mine = np.zeros(shape, np.int32)
    mine[10:20, 10:20] = 1007  # the user's curated copy, named "... preview"
    user = viewer.add_labels(mine.copy(), name="cells preview")
    viewer.layers.selection.active = viewer.layers["cells labels"]
    train(qtbot, widget)
    assert widget._result is not None and not errors
    assert user in viewer.layers and np.array_equal(user.data, mine)
    (made,) = previews(viewer)  # the dock's own, beside it (napari suffixed its name)
    assert made is not user and made.name.startswith("cells preview")
    assert made.data.shape == (96, 96)
    train(qtbot, widget)  # a second run reuses the dock's own preview, never the user's
    assert previews(viewer) == [made] and np.array_equal(user.data, mine)


# -- 2: the same pair added twice -----------------------------------------------------
def test_the_same_pair_is_added_once(make_napari_viewer, tmp_path):
    """Before, a double click trained the pair twice: the hold-out strip was cut from one
    copy and trained on through the other (validation on training data, silently)."""
    viewer, widget = setup(make_napari_viewer, tmp_path)
    widget._add_pair.native.click()
    widget._add_pair.native.click()
    assert "added already" in widget._pairs_label.value
    pairs = widget._form.pairs()
    assert len(pairs) == 1 and pairs[0][0] is viewer.layers["cells"]
    triple = pairs[0]
    widget._form.set_pairs([triple, triple], "sent twice")  # another dock's, de-duplicated
    assert widget._form.pairs() == [triple]


# -- 3: a stop or a close before the first step ---------------------------------------
def test_a_stop_while_the_start_model_is_scored_ends_the_scoring(
    trained_same, tmp_path, monkeypatch
):
    """The stop is checked between the images the start model is scored on; before, the
    whole scoring ran (seconds on a large image) and only then did the run stop."""
    from tiny_model import save_tiny

    from napari_unet.core.training import validation

    start = save_tiny(tmp_path, *trained_same)
    cells = [touching_cells((96, 96), n_cells=8, seed=s) for s in range(3)]
    pairs = make_pairs([image for image, _ in cells], [labels for _, labels in cells])
    stop = threading.Event()
    scored = []
    real = validation.segment_image

    def segment(*args, **kwargs):  # the first image scored, the user presses Stop
        scored.append(1)
        stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(validation, "segment_image", segment)
    config = TrainConfig(model="tiny", steps=3, batch_size=2, crop_size=48, device="cpu")
    out = tmp_path / "ft.safetensors"
    gen = iter_train(pairs, config, stop=stop, init=start, output=out)
    with pytest.raises(StopIteration) as ended:
        while True:
            next(gen)
    result = ended.value.value
    assert len(scored) == 1  # before: 3, every image scored first
    assert result.steps_done == 0 and result.stopped
    assert result.metadata["provenance"]["start_ap50"] is None  # not chosen from a part
    assert not out.exists()  # as any run stopped before its first step: nothing written


def test_a_stop_during_the_weight_maps_trains_nothing(monkeypatch):
    """Before, the worker went on to set up the run and score the start model."""
    from napari_unet.core.training import pairs as pairs_module
    from napari_unet.core.training import trainer
    from napari_unet.widgets._workers import train_job

    stop, done = threading.Event(), threading.Event()
    real = pairs_module.make_pairs

    def make(*args, **kwargs):  # the user presses Stop while the weight maps are made
        stop.set()
        return real(*args, **kwargs)

    def no_training(*args, **kwargs):
        raise AssertionError("the run was set up after the stop")

    monkeypatch.setattr(pairs_module, "make_pairs", make)
    monkeypatch.setattr(trainer, "iter_train", no_training)
    image, labels = touching_cells((96, 96), n_cells=8, seed=0)
    data = {"images": [image], "labels": [labels], "regions": [None], "names": ["cells"],
            "val": None, "in_channels": None}  # fmt: skip
    gen = train_job(data, TrainConfig(model="tiny"), {"stop": stop}, done)
    events = []
    with pytest.raises(StopIteration) as ended:
        while True:
            events.append(next(gen))
    assert ended.value.value is None and not events and done.is_set()


def test_removing_the_dock_before_the_first_step_does_not_wait(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Before, the GUI thread waited (up to 30 s) for the run to end; the run now ends in
    the background, and trains nothing."""
    from napari_unet.core.training import pairs as pairs_module

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=5)
    gate, entered = threading.Event(), threading.Event()
    real = pairs_module.make_pairs

    def slow(*args, **kwargs):  # weight maps of a large image: the run is before step 1
        entered.set()
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(pairs_module, "make_pairs", slow)
    widget._start.native.click()
    assert entered.wait(30)
    viewer.window.remove_dock_widget(widget.native)
    still_running = not widget._done.is_set()  # the close returned while the worker ran
    gate.set()
    assert widget._stop_flag.is_set()
    assert still_running
    assert widget._done.wait(60)
    qtbot.wait(50)
    assert widget._result is None and not (tmp_path / "cells.safetensors").exists()


# -- 4: the preview follows the labels' placement --------------------------------------
def test_a_reused_preview_takes_the_labels_new_placement(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, it kept the scale and offset of the run that made it."""
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=2)
    widget._val_image.value = "none"
    train(qtbot, widget)
    (preview,) = previews(viewer)
    for name in ("cells", "cells labels"):  # the user sets the pixel size, trains again
        viewer.layers[name].scale = (0.25, 0.25)
        viewer.layers[name].translate = (50, 50)
    train(qtbot, widget)
    labels = viewer.layers["cells labels"]
    assert previews(viewer) == [preview] and not errors
    np.testing.assert_allclose(preview.scale, labels.scale)
    np.testing.assert_allclose(preview.translate, labels.translate)
    np.testing.assert_allclose(preview.extent.world, labels.extent.world)


# -- 5: a run that trains nothing keeps the curves of the model kept -------------------
def test_a_run_that_trains_nothing_keeps_the_curves(make_napari_viewer, qtbot, tmp_path, errors):
    """Before, the plot was wiped; a Resume then showed only its own evaluations."""
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=4)
    widget._val_every.value = 2
    train(qtbot, widget)
    plot = widget.plot
    first = (list(plot.steps), list(plot.eval_steps), list(plot.ap50))
    assert first[1] == [2, 4]
    widget._start.native.click()
    widget._stop.native.click()  # stopped at once
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)
    assert "nothing trained" in widget._status.value
    assert (plot.steps, plot.eval_steps, plot.ap50) == first
    labels = viewer.layers["cells labels"]
    kept = labels.data.copy()
    labels.data = np.zeros_like(kept)  # a run that fails before its first step
    train(qtbot, widget)
    assert errors and (plot.steps, plot.eval_steps) == first[:2]
    labels.data = kept
    widget._steps.value = 6
    widget._resume.native.click()
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)
    assert plot.eval_steps == [2, 4, 6]


# -- 6: a validation image without cells --------------------------------------------------
def test_a_validation_image_without_cells_is_scored(make_napari_viewer, qtbot, tmp_path, errors):
    """Before, the dock refused it ("paint at least a few cells") where the command scored it:
    cells found in background are false positives, as ``make_pairs(validation=True)`` says."""
    viewer, widget = setup(make_napari_viewer, tmp_path, steps=4)
    widget._val_every.value = 2
    background, _ = touching_cells((96, 96), n_cells=8, seed=1)
    viewer.add_image(background, name="empty field")
    viewer.add_labels(np.zeros((96, 96), np.int32), name="empty field labels")
    widget._val_image.value = viewer.layers["empty field"]
    widget._val_labels.value = viewer.layers["empty field labels"]
    train(qtbot, widget)
    assert not errors
    assert widget._result is not None and widget._result.history["val"]  # scored on it
    assert (tmp_path / "cells.safetensors").is_file()
