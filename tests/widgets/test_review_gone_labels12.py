"""One Review window: labels that vanish are no other session's, and labels moved aside as a
message says are read again.

Before, a deleted output folder (a share remounted empty) or a labels file removed to start
an image over was taken for "another session saved its labels": the next save went to
``OUTPUT/conflicts/``, Accept was refused, and going back as told showed the old labels, the
edits lost to the review while it said "corrected". And labels of another shape, moved
elsewhere as the dock's message said, left the image on the same error until the folder was
opened again (a failed image waited on its image file alone).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from test_review_dock_hunt10 import _cells, _dock

pytestmark = pytest.mark.usefixtures("one_thread")


def _status(out, name):
    return json.loads((out / "review.json").read_text())["images"][name]["status"]


@pytest.mark.parametrize("gone", ["folder", "file"])
def test_labels_that_vanished_are_written_again_without_a_conflict(
    make_napari_viewer, qtbot, tmp_path, gone
):
    _, dock = _dock(make_napari_viewer, qtbot, tmp_path)
    out = tmp_path / "out"
    dock._labels_layer.paint((5, 5), 901, refresh=True)
    dock.autosave()
    dock.writer.flush()
    saved = out / "labels" / "a_labels.tif"
    assert saved.exists()
    shutil.rmtree(out) if gone == "folder" else saved.unlink()
    dock._labels_layer.paint((25, 25), 902, refresh=True)
    dock.accept()
    dock.writer.flush()
    assert "another session" not in dock._status.value, dock._status.value
    assert not (out / "conflicts").exists()
    got = tifffile.imread(saved)
    assert 901 in got and 902 in got
    assert _status(out, "a.tif") == "corrected"


def test_labels_moved_aside_as_told_let_the_image_show(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.core.images.io import write_image
    from napari_unet.widgets.review import ReviewWidget

    folder, labels_in, out = tmp_path / "images", tmp_path / "labels_in", tmp_path / "out"
    for made in (folder, labels_in, out / "labels"):
        made.mkdir(parents=True)
    cells = _cells()
    for name in ("a", "b"):
        write_image(folder / f"{name}.tif", ((cells > 0) * 1000 + 50).astype(np.uint16))
        write_image(labels_in / f"{name}_labels.tif", cells)
    bad = out / "labels" / "a_labels.tif"
    write_image(bad, np.ones((8, 8), np.uint16))  # another image's labels: they do not fit
    viewer = make_napari_viewer()
    dock = ReviewWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Review")
    dock._form.images.value, dock._form.labels_folder.value = folder, labels_in
    dock._form.output.value = out
    assert dock.open(), dock._status.value
    dock._timer.setInterval(10**8)
    qtbot.waitUntil(lambda: "move" in dock._status.value and str(bad) in dock._status.value,
                    timeout=120_000)  # fmt: skip
    bad.rename(tmp_path / "moved.tif")  # as the message says
    dock.next_image()
    qtbot.waitUntil(lambda: bool(dock._shown == "b.tif"), timeout=120_000)
    dock.previous_image()  # before: the same error for good
    qtbot.waitUntil(lambda: bool(dock._shown == "a.tif"), timeout=120_000)
    np.testing.assert_array_equal(np.asarray(dock._labels_layer.data), cells)
