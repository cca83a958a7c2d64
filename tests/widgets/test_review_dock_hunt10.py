"""The Review dock after a tenth bug hunt: a refused export or send is said once, not raised."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.images.io import write_image

pytest.importorskip("napari")

SIDE = 48


def _cells():
    lab = np.zeros((SIDE, SIDE), np.int32)
    lab[5:15, 5:25] = 1
    lab[25:40, 10:30] = 2
    return lab


def _dock(make_napari_viewer, qtbot, tmp_path, names=("a",)):
    """A Review dock on images ``names`` (each other pixels) with their label files, and its
    output folder; the first image shown."""
    from napari_unet.widgets.review import ReviewWidget

    folder, labels_in = tmp_path / "images", tmp_path / "labels_in"
    folder.mkdir()
    labels_in.mkdir()
    for k, name in enumerate(names):
        cells = _cells()
        cells[5 : 5 + k] = 0  # each image its own pixels
        write_image(folder / f"{name}.tif", ((cells > 0) * 1000 + 50).astype(np.uint16))
        write_image(labels_in / f"{name}_labels.tif", cells)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = folder
    widget._form.labels_folder.value = labels_in
    widget._form.output.value = tmp_path / "out"
    assert widget.open(), widget._status.value
    widget._timer.setInterval(10**8)  # the test saves itself
    first = f"{names[0]}.tif"
    qtbot.waitUntil(lambda: bool(widget._shown == first), timeout=120_000)
    return viewer, widget


def test_a_refused_export_is_said_once_and_raises_nothing(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, the worker raised the refusal again on the GUI thread: a second error with a
    traceback in napari (``Aborted`` in a plain Python process)."""
    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    widget.accept()
    notes = tmp_path / "out" / "export" / "my_notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("counted by hand\n", encoding="utf-8")
    with qtbot.capture_exceptions() as raised:
        widget.export()
        qtbot.waitUntil(lambda: bool(widget._export.enabled), timeout=60_000)
        qtbot.wait(300)  # the errored signal's other slots have run
    assert [str(e[1]) for e in raised] == []
    assert len(errors) == 1 and "my_notes.txt" in errors[0]
    assert widget._report.value.startswith("Error: export failed")
    assert "my_notes.txt" in widget._report.value
    assert notes.read_text(encoding="utf-8") == "counted by hand\n"  # kept
    widget.shutdown()


def test_corrected_images_that_cannot_be_read_are_said_once(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    from napari_unet.widgets import _review_training

    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path)
    widget._labels_layer.paint((30, 30), 7)
    widget.accept()
    qtbot.waitUntil(lambda: widget.review.counts()["corrected"] == 1, timeout=10_000)

    def unreadable(*args):
        raise OSError("the share went away")

    monkeypatch.setattr(_review_training, "read_pairs", unreadable)
    with qtbot.capture_exceptions() as raised:
        assert widget.train_on_corrected() is not None
        qtbot.waitUntil(lambda: bool(widget._train.enabled), timeout=60_000)
        qtbot.wait(300)
    assert [str(e[1]) for e in raised] == []
    assert widget._report.value == "Error: not sent: the share went away"
    assert errors == ["not sent: the share went away"]
    widget.shutdown()
