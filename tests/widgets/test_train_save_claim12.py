"""A dock's Save model never writes the file another Train dock's running run writes.

Before, "Save model..." in Train dock A wrote the file Train dock B's running run was to
write ("Saved shared.safetensors"); B's run replaced it at its end without a word (and B
replaced a file it had not written, which the dock promises never to do). The Live dock's
Save model had the same hole. Both now refuse, naming the running run; and a run started
while a save is written does not take the file being saved.
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("torch")

from test_live_hunt_fixes2 import _dock as live_dock  # noqa: E402
from test_train_hunt_fixes9 import dock, gate_runs, train, wait  # noqa: E402

from napari_unet import touching_cells  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.widgets import _train_outputs as to  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

BUSY = "is being written by another Train dock's run"
SAVING = "is being written by a model save of another dock (Save model...)"


def _cells(viewer):
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    return viewer.add_image(img, name="cells"), viewer.add_labels(lab, name="cells labels")


def _running(viewer, monkeypatch, target):
    """A Train dock whose run (held before its first step) writes ``target``; its gate."""
    other = dock(viewer)
    other._save_path.value = target
    other._labels_box.value = viewer.layers["cells labels"]  # not the Live dock's annotations
    gate = gate_runs(monkeypatch)
    other._start.native.click()
    assert other.running, other._status.value
    return other, gate


def test_train_save_refuses_a_running_docks_file(make_napari_viewer, qtbot, tmp_path,
                                                 errors, monkeypatch):  # fmt: skip
    viewer = make_napari_viewer()
    _cells(viewer)
    a = dock(viewer)
    a._save_path.value = tmp_path / "a.safetensors"
    train(qtbot, a)
    assert a._result is not None
    target = tmp_path / "shared.safetensors"
    b, gate = _running(viewer, monkeypatch, target)
    assert a._on_save(path=target) is None  # refused before any write
    assert a._status.value.startswith("Error: could not save: shared.safetensors " + BUSY)
    assert any(BUSY in e for e in errors)
    gate.set()
    wait(qtbot, b)
    assert to.run_of(target) == b._result.run_id  # B wrote its own file, nothing replaced
    worker = a._on_save(path=target)  # the run ended: saving there is A's choice again
    qtbot.waitUntil(lambda: a._status.value.startswith("Saved"), timeout=30_000)
    assert worker is not None and to.run_of(target) == a._result.run_id


def test_live_save_refuses_a_running_train_docks_file(make_napari_viewer, qtbot, tmp_path,
                                                      errors, monkeypatch, model_file):  # fmt: skip
    from napari_unet.widgets import _saving

    viewer = make_napari_viewer()
    image, _ = _cells(viewer)
    annotations = viewer.add_labels(np.zeros((96, 96), np.int32), name="cells annotations")
    live = live_dock(viewer, image, annotations, model_file)
    target = tmp_path / "shared.safetensors"
    b, gate = _running(viewer, monkeypatch, target)
    assert live.start(), live._status.value
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: target)
    live._save.clicked.emit()
    assert live._status.value.startswith("Error: could not save the model: shared.safetensors")
    assert BUSY in live._status.value and not target.exists()
    live.stop()
    gate.set()
    wait(qtbot, b)
    assert to.run_of(target) == b._result.run_id


def test_a_run_started_during_a_save_leaves_its_file(tmp_path):
    """While a save is written its file is claimed: a Train run chosen there is refused,
    a run writing its default name moves on, and the claim lapses when the save ends."""
    target = tmp_path / "m.unet.safetensors"
    entered, release = threading.Event(), threading.Event()

    def write(path):
        entered.set()
        release.wait(30)
        return path

    saving = to.held(write, target)
    worker = threading.Thread(target=saving, args=(target,))
    worker.start()
    entered.wait(30)
    saved = re.escape(SAVING)  # the messages say a save holds it, not a run
    try:
        with pytest.raises(InputError, match=saved):
            to.claim_output(target, True, {}, threading.Event())
        moved, note = to.claim_output(target, False, {}, threading.Event())
        assert moved.name == "m.unet-2.safetensors" and SAVING in note
        with pytest.raises(InputError, match=saved):
            to.claim_save(target)  # nor a second save meanwhile
    finally:
        release.set()
        worker.join(30)
    assert to.holder(target) is None


def test_save_trained_model_refuses_a_running_runs_file(tmp_path, tiny):
    """The Predict dock's Save model goes through the same gate."""
    from napari_unet.widgets._saving import save_trained_model

    model, meta = tiny
    meta = {k: v for k, v in meta.items() if k != "final_loss"}
    target, run = tmp_path / "shared.safetensors", threading.Event()
    to.claim(target, run)  # a running Train run writes it
    with pytest.raises(InputError, match=BUSY):
        save_trained_model(model, meta, target)
    assert not target.exists()
    run.set()  # the run ended
    assert save_trained_model(model, meta, target) == target
