"""The Train dock keeps a model whose end-of-run save found no room anywhere.

Before, with the output folder and the temporary folder on one full disk, the dock said the
save failed and dropped the trained model: Save model... stayed disabled, Predict got
nothing. Now the model stays, the error says it is not saved, and Save model... writes it
once space is freed. The full disk is simulated under safetensors' own writer.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from test_train_widget import setup  # noqa: E402

from napari_unet import load_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_run_saved_nowhere_keeps_its_model_for_save_model(
    make_napari_viewer, qtbot, tmp_path, errors, no_room
):
    _viewer, dock = setup(make_napari_viewer, tmp_path, steps=2)
    dock._val_every.value = 100
    out = tmp_path / "full" / "cells.safetensors"
    dock._save_path.value = out
    dock._start.native.click()
    qtbot.waitUntil(lambda: dock._done.is_set() and dock._start.enabled, timeout=120_000)
    status = dock._status.value
    assert "No space left" in status and "not saved" in status, status
    assert dock._result is not None and dock._result.steps_done == 2, "the model was lost"
    assert dock._save.enabled
    no_room.clear()  # space freed: Save model... writes the kept model
    assert dock._on_save(path=out) is not None
    qtbot.waitUntil(lambda: dock._status.value.startswith("Saved"), timeout=30_000)
    assert dock._result.saved_to == out
    assert load_model(out)[1]["training"]["steps_done"] == 2
