"""The Live dock's hunted bugs: huge ids, reshaped annotations, click mode, Stop then Start.

- Ids outside int32 (a uint32 layer's 3,000,000,000, as the Annotate dock's layers allow;
  an int64 layer's 2**32 + 1) were cast to int32 on their way to the trainer: "not
  annotated", never trained on, or merged with cell 1, and nothing said.
- Annotations whose data was replaced by another shape made the once-a-second comparison
  raise, and Stop raised before it stopped the trainer: training could not be stopped.
- With *click to accept* ticked before Start, the annotations stayed in paint mode: a
  click accepted the object and painted into it.
- Stop then Start threw the live training away (the model file again) and the status
  line showed the last run's view.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

SIZE = 128


def _dock(make_napari_viewer, model_file, dtype=np.int32):
    """Bright discs, empty annotations of ``dtype`` and the Live dock on them (not started)."""
    from tiny_model import separate_discs

    from napari_unet.widgets._live_parts import FILE
    from napari_unet.widgets.live import LiveWidget

    image, truth = separate_discs(size=SIZE)
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="cells")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), dtype), name="cells annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = layer, labels
    widget._model_file.value = model_file
    widget._model.value = FILE
    return viewer, widget, labels, truth


def _applied(qtbot, trainer, updates: int) -> None:
    """Wait until the trainer has taken ``updates`` updates in (strokes go on the next turn)."""
    qtbot.waitUntil(lambda: trainer.last_update >= updates - 1, timeout=10_000)
    qtbot.waitUntil(lambda: trainer.last_update in trainer.applied_at, timeout=10_000)


def _weights(model) -> dict:
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- ids beyond int32 ---------------------------------------------------------------------------
@pytest.mark.parametrize(("dtype", "big"), [(np.uint32, 3_000_000_000), (np.int64, 2**32 + 1)])
def test_ids_beyond_int32_are_trained_each_as_its_own_cell(
    make_napari_viewer, qtbot, model_file, dtype, big
):
    _, widget, labels, truth = _dock(make_napari_viewer, model_file, dtype)
    assert widget.start(), widget._status.value
    trainer = widget.trainer
    trainer.pause()
    one, two = truth == 1, truth == 2  # two discs side by side
    labels.data_setitem(np.nonzero(one), 1)
    labels.data_setitem(np.nonzero(two), big)
    _applied(qtbot, trainer, 2)
    data = trainer.data
    assert (data.labels[two] > 0).all() and data.mask[two].all()  # annotated, a cell
    assert len(np.unique(data.labels[two])) == 1  # one cell
    assert not np.isin(data.labels[two], data.labels[one]).any()  # not merged with cell 1
    assert (data.target[two] == 1).sum() > 0.8 * two.sum()  # trained as foreground
    widget.stop()
    assert widget._status.value.startswith("Stopped after"), widget._status.value


def test_other_images_with_ids_beyond_int32_are_trained_on(make_napari_viewer, qtbot, model_file):
    viewer, widget, labels, truth = _dock(make_napari_viewer, model_file)
    other = viewer.add_image(viewer.layers["cells"].data.copy(), name="other")
    theirs = np.where(truth == 1, 3_000_000_000, 0).astype(np.uint32)  # the Annotate dock's
    viewer.add_labels(theirs, name="other annotations")
    widget._image_box.value, widget._labels_box.value = viewer.layers["cells"], labels
    widget._others.value = True
    assert widget.start(), widget._status.value
    trainer = widget.trainer
    assert other.name in widget._other_names
    labels.data_setitem(np.nonzero(truth == 3), 1)  # training begins with the first cell
    qtbot.waitUntil(lambda: trainer.step >= 2 or trainer.error is not None, timeout=30_000)
    widget.stop()
    assert trainer.error is None, trainer.error
    (pair,) = trainer.other_pairs
    assert (pair.labels[truth == 1] > 0).all()  # the other image's cell, as a cell


def test_an_id_no_signed_64_bit_number_holds_is_refused_with_a_message():
    from napari_unet.core.errors import InputError
    from napari_unet.core.live.data import LiveData

    data = LiveData(np.zeros((1, 16, 16), np.float32))
    ids = np.zeros((8, 8), np.uint64)
    ids[2:5, 2:5] = 2**63 + 1  # would wrap to a negative id: not annotated, unsaid
    with pytest.raises(InputError, match="renumber"):
        data.update((0, 8, 0, 8), ids)


# -- annotations replaced by another shape --------------------------------------------------
def test_annotations_of_another_shape_stop_training_with_a_message(
    make_napari_viewer, qtbot, model_file
):
    _, widget, labels, _ = _dock(make_napari_viewer, model_file)
    assert widget.start(), widget._status.value
    trainer = widget.trainer
    labels.data = np.zeros((64, 64), np.int32)  # a plugin or script replaced the data
    qtbot.waitUntil(lambda: not trainer.running, timeout=10_000)  # stopped by the dock
    assert "changed shape (64 x 64; training was on 128 x 128)" in widget._status.value
    assert widget._start.enabled and not widget._stop.enabled
    qtbot.wait(1200)  # the once-a-second comparison raises no more
    widget.native.close()


def test_stop_stops_training_after_the_annotations_changed_shape(
    make_napari_viewer, qtbot, model_file
):
    _, widget, labels, _ = _dock(make_napari_viewer, model_file)
    assert widget.start(), widget._status.value
    trainer = widget.trainer
    labels.data = np.zeros((64, 64), np.int32)
    widget._stop.native.click()  # at once, before the status line noticed
    qtbot.waitUntil(lambda: not trainer.running, timeout=10_000)
    qtbot.waitUntil(lambda: widget._start.enabled, timeout=10_000)
    status = widget._status.value
    assert status.startswith("Stopped after") and "changed shape" in status
    widget.stop()  # closing the dock or napari: no error either


# -- click to accept ticked before Start ----------------------------------------------------
def test_click_to_accept_ticked_before_start_does_not_paint(make_napari_viewer, model_file):
    _, widget, labels, _ = _dock(make_napari_viewer, model_file)
    labels.mode = "paint"
    widget._click.value = True  # ticked before Start, as the dock allows
    assert widget.start(), widget._status.value
    widget.trainer.pause()
    assert labels.mode == "pan_zoom"  # a click accepts; it does not also paint
    widget._live.data[40:60, 40:60] = 9  # a predicted object
    assert widget.accept_at(50, 50)
    assert (labels.data[40:60, 40:60] == 1).all()  # the object, and only it
    widget.stop()


# -- Stop, then Start -----------------------------------------------------------------------
def _train_then_stop(qtbot, widget, labels, truth, steps: int = 12):
    """Paint three discs, train ``steps`` steps, erase them (no training on the next Start:
    its weights stay as they began), Stop; the trainer."""
    for k in (1, 2, 3):
        labels.data_setitem(np.nonzero(truth == k), k)
    trainer = widget.trainer
    qtbot.waitUntil(lambda: trainer.step >= steps, timeout=60_000)
    qtbot.waitUntil(lambda: widget._views >= 1, timeout=60_000)
    for _ in (1, 2, 3):
        labels.undo()  # taken back, sent at Stop (erased, they would be background)
    widget._stop.native.click()
    qtbot.waitUntil(lambda: widget._start.enabled, timeout=30_000)
    return trainer


def test_stop_then_start_continues_the_model_trained_so_far(
    make_napari_viewer, qtbot, model_file, tmp_path, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    from napari_unet.core.models.modelfile import load_model

    _, widget, labels, truth = _dock(make_napari_viewer, model_file)
    assert widget.start(), widget._status.value
    first = _train_then_stop(qtbot, widget, labels, truth)
    assert "Start continues it" in widget._status.value
    trained = _weights(first.snapshot())
    original = _weights(load_model(model_file)[0])
    assert not _same(trained, original)
    old_view = widget._last_view
    assert widget.start(), widget._status.value  # Stop, then Start: the same model and image
    second = widget.trainer
    assert second is not first and second.step == first.step
    assert widget._last_view is not old_view  # the status shows no view of the last run
    widget._show_status()
    assert f"continuing from step {first.step}" in widget._status.value
    assert _same(_weights(second.snapshot()), trained)
    saved = tmp_path / "continued.unet.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(saved), ""))
    assert widget._on_save() == saved
    qtbot.waitUntil(lambda: widget._status.value.startswith("Saved the model"), timeout=30_000)
    model, meta = load_model(saved)
    assert _same(_weights(model), trained)  # Save: the continued model
    assert meta["provenance"]["live_steps"] == first.step
    labels.data_setitem(np.nonzero(truth == 4), 1)
    qtbot.waitUntil(lambda: second.step >= first.step + 3, timeout=60_000)  # trains on
    labels.data[:] = 0  # (nothing to train on next: the weights stay as they begin)
    widget.stop()
    combo = widget._model.native
    combo.activated.emit(combo.currentIndex())  # the same model picked in the list again
    assert widget.start(), widget._status.value  # afresh, from the model file
    assert widget.trainer.step == 0 and _same(_weights(widget.trainer.snapshot()), original)
    widget._show_status()
    assert "continuing" not in widget._status.value
    widget.stop()
