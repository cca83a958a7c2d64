"""The Review dock after a third bug hunt: an output folder gone, a review file not written."""

from __future__ import annotations

import json
import shutil
import tempfile

import numpy as np
import pytest

from napari_unet.core.images.io import write_image

pytest.importorskip("napari")

SIDE = 32


@pytest.fixture
def folder(tmp_path):
    """Three grey images with label files of their own (no prediction needed)."""
    images, labels = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels.mkdir()
    for name in "abc":
        lab = np.zeros((SIDE, SIDE), np.uint16)
        lab[5:15, 5:15] = 1
        write_image(images / f"{name}.tif", (lab * 100).astype(np.uint16))
        write_image(labels / f"{name}_labels.tif", lab)
    return images, labels


def _dock(make_napari_viewer, qtbot, folder):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value, widget._form.labels_folder.value = folder
    assert widget.open()
    widget._timer.setInterval(10**8)  # the test saves itself
    _shown(widget, qtbot, 0)
    return widget


def _shown(widget, qtbot, index):
    qtbot.waitUntil(
        lambda: widget._index == index and widget._shown == widget.review.names[index],
        timeout=60_000,
    )


def _statuses(path):
    return {k: v["status"] for k, v in json.loads(path.read_text())["images"].items()}


def test_verdicts_given_after_the_output_folder_went_away_are_saved(
    make_napari_viewer, qtbot, folder
):
    widget = _dock(make_napari_viewer, qtbot, folder)
    out = widget.review.output
    widget.reject()
    _shown(widget, qtbot, 1)
    widget.writer.flush()
    shutil.rmtree(out)  # moved away, or a network share remounted empty
    widget.reject()
    _shown(widget, qtbot, 2)
    widget.needs_work()
    widget.writer.flush()
    widget.shutdown()
    assert _statuses(out / "review.json") == {
        "a.tif": "rejected",
        "b.tif": "rejected",
        "c.tif": "needs-work",
    }


def test_a_review_file_not_written_at_close_is_rescued_and_said_where(
    make_napari_viewer, qtbot, folder, tmp_path, monkeypatch, errors
):
    from napari_unet.core.review.writer import rescue_folder

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    widget = _dock(make_napari_viewer, qtbot, folder)
    review = widget.review

    def failing_save():
        raise OSError("the share went away")

    monkeypatch.setattr(review, "save", failing_save)
    widget.reject()
    _shown(widget, qtbot, 1)
    widget.accept()
    widget.writer.flush()
    widget.shutdown()
    rescued = rescue_folder(review.output) / "review.json"
    assert _statuses(rescued) == {"a.tif": "rejected", "b.tif": "accepted", "c.tif": "unreviewed"}
    assert any("review file" in e and f"saved to {rescued.parent}" in e for e in errors), errors
