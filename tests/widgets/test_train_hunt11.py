"""The Train dock: two docks on one image each keep their own preview; a resumed
fine-tune's model file still names its start model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_widget import setup  # noqa: E402

from napari_unet.widgets.train import FILE, SCRATCH, TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def click(qtbot, widget, button) -> None:
    button.native.click()
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)


def second_dock(viewer, tmp_path) -> TrainWidget:
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train 2")
    dock._preset.value, dock._start_from.value = "tiny", SCRATCH
    dock._steps.value, dock._batch.value, dock._crop.value = 2, 2, 48
    dock._val_every.value, dock._device.value = 1, "cpu"
    dock._save_path.value = tmp_path / "other.safetensors"
    return dock


def previews(viewer) -> list:
    from napari_unet.widgets._layers import ROLE

    return [ly for ly in viewer.layers if ly.metadata.get(ROLE) == "preview"]


def test_two_docks_training_one_image_each_paint_their_own_preview(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, the second dock's run took over the first's "cells preview": it emptied it
    and drew its own model's output there, and no one could tell which model it showed.
    A preview no dock shows (its dock closed, say) is still reused: none piles up."""
    from napari_unet.widgets import _train_helpers as th

    viewer, first = setup(make_napari_viewer, tmp_path, steps=2)
    first._start_from.value, first._val_every.value = SCRATCH, 1
    second = second_dock(viewer, tmp_path)
    image, labels = viewer.layers["cells"], viewer.layers["cells labels"]
    left, _ = th.preview_layer(viewer, image, labels, labels.data.shape)  # held by no dock
    click(qtbot, first, first._start)
    mine = first._preview_layer
    assert mine is left and mine.name == "cells preview"
    mine.data[10:20, 10:20] = 77  # what the first model showed (a short run finds nothing)
    shown = mine.data.copy()
    click(qtbot, second, second._start)  # painted at each evaluation: emptied, then drawn
    theirs = second._preview_layer
    assert theirs is not mine and theirs in viewer.layers
    assert theirs.name == "cells preview [1]" and not (theirs.data == 77).any()
    np.testing.assert_array_equal(mine.data, shown)  # the first model's preview, untouched
    # Each dock's next run and Resume keep reusing its own (no third layer).
    click(qtbot, first, first._start)
    second._steps.value = 3
    click(qtbot, second, second._resume)
    assert first._preview_layer is mine and second._preview_layer is theirs
    assert previews(viewer) == [mine, theirs] and not errors


def test_a_resumed_fine_tune_still_names_its_start_model(
    make_napari_viewer, qtbot, tmp_path, errors, model_file, monkeypatch
):
    """Before, Resume wrote "resumed at step 1" as the model's source: which model it was
    fine-tuned from was lost (an uninterrupted run kept it)."""
    from napari_unet.core.models.modelfile import read_metadata
    from napari_unet.core.training import trainer

    viewer, widget = setup(make_napari_viewer, tmp_path, steps=3)
    widget._init_file.value = model_file
    widget._start_from.value = FILE
    real = trainer._Run.train_step

    def stop_after_the_first(self, batch):  # Stop pressed during step 1
        ev = real(self, batch)
        if self.step == 1:
            widget._stop_flag.set()
        return ev

    monkeypatch.setattr(trainer._Run, "train_step", stop_after_the_first)
    click(qtbot, widget, widget._start)
    assert widget._result.steps_done == 1
    origin = f"fine-tuned from {model_file.name}"
    out = tmp_path / "cells.safetensors"
    assert read_metadata(out)["provenance"]["source"] == origin
    click(qtbot, widget, widget._resume)
    assert widget._result.steps_done == 3 and not errors
    assert read_metadata(out)["provenance"]["source"] == f"{origin}; resumed at step 1"
