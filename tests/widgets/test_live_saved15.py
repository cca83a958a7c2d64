"""The Live dock after "Save model..." onto the model file it loaded; the stopped line's cost.

- A run saved over the model file it loaded (the file holds the run now) began afresh at
  Start, its unsaved steps lost, while the stopped line said "Start continues it": the
  file's ``tensors_sha256`` was no longer the one the run loaded. Now the save records it,
  and the stopped line reads the file's hash as Start does (a file another model was saved
  over: afresh, and the line says so).
- The stopped line resolved the model choice at every pick (auto samples the image on the
  GUI thread), even with no run to continue or another image picked.
"""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
from test_live_hunt_fixes2 import _discs, _dock

pytest.importorskip("napari")


def _painted(viewer):
    img, lab = _discs()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    labels.data_setitem(np.nonzero(lab == 1), 1)
    return image, labels


def test_a_run_saved_over_its_model_file_is_continued(make_napari_viewer, qtbot, model_file,
                                                      tmp_path, monkeypatch):  # fmt: skip
    from napari_unet.widgets import _saving

    path = tmp_path / "mine.unet.safetensors"
    shutil.copy(model_file, path)
    viewer = make_napari_viewer()
    dock = _dock(viewer, *_painted(viewer), path)
    assert dock.start(), dock._status.value
    qtbot.waitUntil(lambda: dock.trainer.step >= 2, timeout=60_000)
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: path)
    assert dock._on_save() == path
    qtbot.waitUntil(lambda: "; saved step" in dock._save_note, timeout=60_000)
    saved = dock.trainer.step
    qtbot.waitUntil(lambda: dock.trainer.step > saved, timeout=60_000)  # unsaved steps
    dock.stop()
    first = dock.trainer
    assert "Start continues it" in dock._status.value, dock._status.value
    assert dock.start(), dock._status.value
    try:
        assert dock.trainer.start_step == first.step > saved  # before: 0, begun afresh
        assert dock.trainer.metadata == first.metadata
    finally:
        dock.stop()


def test_a_file_another_model_was_saved_over_is_said_afresh(
    make_napari_viewer, qtbot, model_file, tiny, tmp_path
):
    import torch

    from napari_unet.core.models.modelfile import save_model
    from napari_unet.widgets import _live_runs as runs

    path = tmp_path / "start.unet.safetensors"
    shutil.copy(model_file, path)
    viewer = make_napari_viewer()
    dock = _dock(viewer, *_painted(viewer), path)
    assert dock.start(), dock._status.value
    dock.stop()
    assert "Start continues it" in dock._status.value, dock._status.value
    model, meta = tiny
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    save_model(path, other, **{k: v for k, v in meta.items() if k != "final_loss"})
    runs.show_stopped(dock)  # (the line follows the picks; said again here)
    line = dock._status.value
    assert "Start continues it" not in line, line  # before: said, and Start began afresh
    assert "changed since the run loaded it" in line and "begins afresh" in line, line
    assert dock.start(), dock._status.value
    try:
        assert dock.trainer.start_step == 0
    finally:
        dock.stop()


def test_the_stopped_line_resolves_the_model_only_for_the_runs_choice_and_image(
    make_napari_viewer, qtbot, model_file, monkeypatch
):
    from napari_unet.widgets import _live_parts

    viewer = make_napari_viewer()
    image, labels = _painted(viewer)
    other = viewer.add_image(np.zeros((64, 64), np.uint8), name="other")
    dock = _dock(viewer, image, labels, model_file)
    assert dock.start(), dock._status.value
    dock.stop()
    calls = []
    real = _live_parts.model_path
    monkeypatch.setattr(_live_parts, "model_path", lambda *a, **k: calls.append(1) or real(*a, **k))
    dock._image_box.value = other  # another image: afresh whatever the choice resolves to
    assert "'other' is picked" in dock._status.value, dock._status.value
    assert calls == []  # before: resolved (auto samples the image: 0.26 s at 8192^2)
    dock._image_box.value = image
    assert "Start continues it" in dock._status.value, dock._status.value
    assert len(calls) == 1
    dock._model.native.activated.emit(dock._model.native.currentIndex())  # picked again
    assert "another model was picked" in dock._status.value, dock._status.value
    dock._image_box.value = other
    dock._image_box.value = image  # no run kept: nothing to resolve
    assert "another model was picked" in dock._status.value, dock._status.value
    assert len(calls) == 1
