"""Review dock: an image read ahead whose reviewed labels file is gone starts over when shown
again; the first Open of a folder whose review file the review itself wrote is no "Resumed:".

Before, going back to a corrected image after its labels file was removed showed the old
correction from memory, said "corrected; ... from reviewed", wrote nothing on leaving, and
Export left it out ("accepted without saved labels"). And a folder holding ``a.tif`` and
``a.tif.png`` said "Resumed:" on its first Open (the review file was written by the review).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_review_dock_hunt10 import _cells, _dock

pytestmark = pytest.mark.usefixtures("one_thread")


def test_going_back_to_a_cached_image_whose_labels_are_gone_starts_it_over(
    make_napari_viewer, qtbot, tmp_path
):
    _, dock = _dock(make_napari_viewer, qtbot, tmp_path, names=("a", "b"))
    dock._labels_layer.paint((44, 44), 999, refresh=True)
    dock.accept()
    qtbot.waitUntil(lambda: bool(dock._shown == "b.tif"), timeout=60_000)
    assert dock.writer.flush()
    saved = dock.review.labels_path("a.tif")
    assert saved.exists() and dock.review.entries["a.tif"].status == "corrected"
    saved.unlink()  # to start the image over
    dock.previous_image()
    qtbot.waitUntil(lambda: bool(dock._shown == "a.tif"), timeout=60_000)
    np.testing.assert_array_equal(np.asarray(dock._labels_layer.data), _cells())
    status = dock._status.value
    assert "unreviewed" in status and "from reviewed" not in status, status
    assert "are gone" in status, status  # says why
    dock.next_image()
    qtbot.waitUntil(lambda: bool(dock._shown == "b.tif"), timeout=60_000)
    assert dock.writer.flush()
    entry = json.loads(dock.review.review_file.read_text())["images"]["a.tif"]
    assert entry["status"] == "unreviewed" and entry["source"] != "reviewed"


def test_first_open_is_not_resumed_when_the_review_wrote_its_file(
    make_napari_viewer, qtbot, tmp_path
):
    from napari_unet.core.images.io import write_image
    from napari_unet.widgets.review import ReviewWidget

    folder, labels_in = tmp_path / "images", tmp_path / "labels_in"
    folder.mkdir()
    labels_in.mkdir()
    for name in ("a.tif", "a.tif.png"):
        write_image(folder / name, ((_cells() > 0) * 200 + 20).astype(np.uint8))
        write_image(labels_in / f"{name}_labels.tif", _cells())
    viewer = make_napari_viewer()
    dock = ReviewWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Review")
    dock._form.images.value, dock._form.labels_folder.value = folder, labels_in
    dock._form.output.value = tmp_path / "out"
    assert not (tmp_path / "out" / "review.json").exists()
    assert dock.open(), dock._status.value
    assert not dock._report.value.startswith("Resumed"), dock._report.value
    assert dock.open(), dock._status.value  # opened again: the review file is resumed
    assert dock._report.value.startswith("Resumed: "), dock._report.value
    dock.shutdown()
