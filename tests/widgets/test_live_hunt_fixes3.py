"""The Live dock's third hunt: annotations carried to another plane or layer, a hidden save.

- Stop, then Start on another plane of a stack (as the docs say to train on it) or with
  another annotations layer carried the stopped run's annotated pixels: the old cells
  became annotated background there. Only the same layer and plane carry them now.
- *Saved the model at step N* was overwritten within half a second by the status refresh
  while training: the line now keeps a short note of the save until the next Start.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from test_live_hunt_fixes2 import _dock  # noqa: E402

SIZE = 64


def _cell():
    lab = np.zeros((SIZE, SIZE), np.int32)
    lab[20:36, 20:36] = 1
    return lab


def _image(shape):
    return (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)


def _run(qtbot, widget):
    """Start, wait until the painted annotations reached the trainer, Stop."""
    assert widget.start(), widget._status.value
    n = widget.trainer.last_update
    qtbot.waitUntil(lambda: n in widget.trainer.applied_at or n < 0, timeout=20_000)
    assert widget.trainer.data.annotated
    widget.stop()


def _stopped(viewer, qtbot, model_file, shape, name, plane=None):
    """An image of ``shape`` with one painted cell in a 2D layer ``name`` (on ``plane`` of a
    stack), a Live run that took it in, stopped: ``(image, annotations, dock)``."""
    image = viewer.add_image(_image(shape), name="stack" if len(shape) == 3 else "img")
    if plane is not None:
        viewer.dims.set_point(0, plane)
    ann = viewer.add_labels(_cell(), name=name)
    widget = _dock(viewer, image, ann, model_file)
    _run(qtbot, widget)
    return image, ann, widget


def _waiting(qtbot, widget) -> None:
    """Nothing annotated: the status line waits for the first painted cell."""
    assert not widget.trainer.data.annotated, "the old run's pixels are annotated here"
    assert widget.trainer.start_step > 0  # the model still goes on
    text = "waiting for the first painted cell"
    qtbot.waitUntil(lambda: text in widget._status.value, timeout=5_000)
    widget.stop()


def test_another_plane_and_layer_carry_no_annotations(make_napari_viewer, qtbot, model_file):
    viewer = make_napari_viewer()
    *_, widget = _stopped(viewer, qtbot, model_file, (3, SIZE, SIZE), "plane 2 annotations", 2)
    viewer.dims.set_point(0, 0)  # the documented workflow: another plane, a new layer
    ann0 = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="plane 0 annotations")
    widget._labels_box.value = ann0
    assert widget.start(), widget._status.value
    assert widget._plane.index == 0
    _waiting(qtbot, widget)


def test_another_plane_same_layer_carries_no_annotations(make_napari_viewer, qtbot, model_file):
    viewer = make_napari_viewer()
    _, ann, widget = _stopped(viewer, qtbot, model_file, (3, SIZE, SIZE), "annotations", 2)
    ann.data = np.zeros((SIZE, SIZE), np.int32)  # plane 2's cell erased: not of plane 0
    viewer.dims.set_point(0, 0)
    assert widget.start(), widget._status.value
    assert widget._plane.index == 0
    _waiting(qtbot, widget)


def test_new_layer_after_delete_carries_no_annotations(make_napari_viewer, qtbot, model_file):
    viewer = make_napari_viewer()
    _, ann, widget = _stopped(viewer, qtbot, model_file, (SIZE, SIZE), "img annotations")
    viewer.layers.remove(ann)
    fresh = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="img annotations")
    widget._labels_box.value = fresh
    assert widget.start(), widget._status.value
    _waiting(qtbot, widget)


def test_same_layer_same_plane_still_carries(make_napari_viewer, qtbot, model_file):
    viewer = make_napari_viewer()
    _, ann, widget = _stopped(viewer, qtbot, model_file, (3, SIZE, SIZE), "annotations", 1)
    ann.data = np.zeros((SIZE, SIZE), np.int32)  # erased: background on this plane
    assert widget.start(), widget._status.value
    data = widget.trainer.data
    widget.stop()
    assert data.annotated and data.mask[20:36, 20:36].all()


def test_saved_note_stays_on_status_line(make_napari_viewer, qtbot, model_file, tmp_path,
                                         monkeypatch):  # fmt: skip
    from napari_unet.widgets import _saving

    viewer = make_napari_viewer()
    image = viewer.add_image(_image((SIZE, SIZE)), name="img")
    ann = viewer.add_labels(_cell(), name="img annotations")
    widget = _dock(viewer, image, ann, model_file)
    assert widget.start(), widget._status.value
    target = tmp_path / "live.unet.safetensors"
    monkeypatch.setattr(_saving, "ask_path", lambda *a, **k: target)
    widget._save.clicked.emit()
    qtbot.waitUntil(lambda: "; saving the model" in widget._status.value or target.exists(),
                    timeout=10_000)  # fmt: skip
    qtbot.waitUntil(target.exists, timeout=30_000)
    note = "; saved step "
    # the periodic line (Live: ...) is written again and keeps the note
    qtbot.waitUntil(lambda: widget._status.value.startswith("Live:") and note in
                    widget._status.value, timeout=5_000)  # fmt: skip
    assert "to live.unet.safetensors" in widget._status.value
    widget.stop()
    assert note in widget._status.value  # Stop keeps it too
    assert widget.start(), widget._status.value  # the next Start clears it
    qtbot.waitUntil(lambda: widget._status.value.startswith("Live:"), timeout=5_000)
    assert note not in widget._status.value
    widget.stop()
