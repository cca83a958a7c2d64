"""The Train dock: an optimiser state another run resumes from is never replaced; Resume
refuses another network than the run's; a default output that is the start model moves on."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_widget import setup  # noqa: E402

from napari_unet.core.training.checkpoint import optimizer_run  # noqa: E402
from napari_unet.widgets.train import FILE, TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def run(qtbot, widget, button=None):
    """Press Train (or ``button``) and wait for the run's result."""
    before = widget._result
    (button or widget._start).native.click()
    qtbot.waitUntil(
        lambda: bool(widget._result is not before and widget._done.is_set()
                     and widget._start.enabled),
        timeout=60_000,
    )  # fmt: skip
    return widget._result


def opened(make_napari_viewer, tmp_path) -> TrainWidget:
    """A dock on an image opened from ``cells.tif``, its save to empty (the default)."""
    import tifffile

    from napari_unet import touching_cells

    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    tifffile.imwrite(tmp_path / "cells.tif", img.astype(np.float32))
    viewer = make_napari_viewer()
    (image,) = viewer.open(tmp_path / "cells.tif")
    viewer.add_labels(lab, name="cells labels")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._image.value, widget._labels_box.value = image, viewer.layers["cells labels"]
    widget._preset.value, widget._steps.value, widget._batch.value = "tiny", 2, 2
    widget._crop.value, widget._device.value, widget._val_image.value = 48, "cpu", "none"
    widget._save_path.line_edit.value = ""
    return widget


def test_a_chosen_output_sharing_another_runs_optimiser_state_is_refused(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """``a`` and ``a.safetensors`` keep their state in ``a.optim.safetensors``: before, the
    second Train replaced the first run's state, and that run could no longer be resumed."""
    _, widget = setup(make_napari_viewer, tmp_path, steps=2)
    widget._val_image.value = "none"
    widget._save_path.value = tmp_path / "a"
    first = run(qtbot, widget)
    state = tmp_path / "a.optim.safetensors"
    assert optimizer_run(state) == first.run_id and not errors
    widget._save_path.value = tmp_path / "a.safetensors"
    widget._start.native.click()
    assert widget._done.is_set() and widget._start.enabled  # refused before any work
    assert len(errors) == 1 and "a.optim.safetensors" in errors[0], errors
    assert "could no longer be resumed" in errors[0] and "'save to'" in errors[0]
    assert optimizer_run(state) == first.run_id and not (tmp_path / "a.safetensors").exists()


def test_a_default_output_sharing_another_runs_optimiser_state_moves_on(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """The default ``cells.unet.safetensors`` shares ``cells.unet.optim.safetensors`` with a
    run saved to ``cells.unet`` (without the ending): it moves on to the next free name
    (before, it replaced the state, and ``cells.unet`` could no longer be resumed)."""
    from napari_unet.core.training.checkpoint import optimizer_path

    widget = opened(make_napari_viewer, tmp_path)
    state = optimizer_path(tmp_path / "cells.unet.safetensors")  # the default's
    # A model file without the ending whose state is the default's (``cells.unet``; where
    # names lose their last ending, ``cells.unet.v1`` too).
    other = next(p for p in (tmp_path / "cells.unet", tmp_path / "cells.unet.v1")
                 if optimizer_path(p) == state)  # fmt: skip
    widget._save_path.value = other
    first = run(qtbot, widget)
    assert optimizer_run(state) == first.run_id
    widget._save_path.line_edit.value = ""
    second = run(qtbot, widget)
    assert second.saved_to == tmp_path / "cells.unet-2.safetensors" and not errors
    assert not (tmp_path / "cells.unet.safetensors").exists()
    assert optimizer_run(state) == first.run_id
    assert "optimiser state" in widget._status.value and "cells.unet-2" in widget._status.value


def test_resume_refuses_another_architecture_or_head_than_the_runs(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, Resume with another architecture silently continued the tiny network, and
    another head was refused with the command line's words ("leave the head out")."""
    _, widget = setup(make_napari_viewer, tmp_path, steps=2)
    widget._val_image.value = "none"
    first = run(qtbot, widget)
    assert first.steps_done == 2 and not errors
    widget._preset.value, widget._steps.value = "standard", 4
    widget._resume.native.click()
    assert widget._done.is_set() and widget._result is first  # refused before any work
    assert len(errors) == 1, errors
    assert errors[0] == (
        "Resume continues the run's tiny network with a 'paper' head: set architecture back "
        "to 'tiny' (head 'paper'), or press Train to start a new run"
    )
    widget._preset.value, widget._head.value = "tiny", "distance"
    widget._resume.native.click()
    assert widget._done.is_set() and len(errors) == 2 and "Resume continues" in errors[1]
    assert "leave the head out" not in errors[1]
    widget._head.value = "paper"
    resumed = run(qtbot, widget, widget._resume)
    assert resumed.steps_done == 4 and len(errors) == 2


def test_fine_tuning_from_the_default_output_moves_on_to_the_next_name(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, fine-tuning from the dock's own ``cells.unet.safetensors`` with save to empty
    was refused ("is an input"); a file chosen in save to still is."""
    widget = opened(make_napari_viewer, tmp_path)
    first = run(qtbot, widget)
    own = tmp_path / "cells.unet.safetensors"
    assert first.saved_to == own and not errors
    widget._init_file.value, widget._start_from.value = own, FILE
    second = run(qtbot, widget)
    assert second.saved_to == tmp_path / "cells.unet-2.safetensors" and not errors
    assert "is the model this run starts from" in widget._status.value
    widget._save_path.value = own  # chosen by hand: refused
    widget._start.native.click()
    assert len(errors) == 1 and "is an input" in errors[0], errors
