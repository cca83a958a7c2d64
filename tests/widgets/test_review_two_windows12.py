"""Two Review windows on one output folder: neither writes over the other's correction.

Before, a second window still showing the labels it read before the first window's
correction wrote them back (Accept), or wrote its own edit of the old labels over it and
reset the first window's verdict to "unreviewed" (PageDown), without a word.
"""

import json

import numpy as np
import tifffile
from PIL import Image

from napari_unet import touching_cells


def _folder(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i, name in enumerate(["a", "b", "c"]):
        img, gt = touching_cells((64, 64), n_cells=5, seed=i)
        img8 = (255 * (img - img.min()) / (np.ptp(img) + 1e-9)).astype(np.uint8)
        Image.fromarray(img8).save(images / f"{name}.png")
        tifffile.imwrite(masks / f"{name}_masks.tif", gt.astype(np.uint16))
    return images, masks, tmp_path / "out"


def _dock(make_napari_viewer, qtbot, images, masks, out):
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-unet", "Review")
    dock._form.images.value, dock._form.labels_folder.value = images, masks
    dock._form.output.value = out
    assert dock.open()
    qtbot.waitUntil(lambda: dock._shown == dock.current_name, timeout=60_000)
    return dock


def _two(make_napari_viewer, qtbot, tmp_path):
    folders = _folder(tmp_path)
    one = _dock(make_napari_viewer, qtbot, *folders)
    two = _dock(make_napari_viewer, qtbot, *folders)
    assert one.current_name == two.current_name == "a.png"
    return one, two, folders[2]


def _on_disk(out):
    labels = tifffile.imread(out / "labels" / "a_labels.tif")
    entry = json.loads((out / "review.json").read_text())["images"]["a.png"]
    return labels, entry


def _correct(dock, qtbot):
    """The first window paints a new object (99) on a.png and accepts it."""
    dock._labels_layer.paint((5, 5), 99, refresh=True)
    dock.accept()
    dock.writer.flush()
    qtbot.waitUntil(lambda: dock._shown == "b.png", timeout=30_000)


def test_accept_in_a_second_window_keeps_the_first_windows_correction(
    make_napari_viewer, qtbot, tmp_path
):
    one, two, out = _two(make_napari_viewer, qtbot, tmp_path)
    _correct(one, qtbot)
    mine = np.array(two._labels_layer.data)
    two.accept()  # its labels are of before the correction
    two.writer.flush()
    labels, entry = _on_disk(out)
    assert 99 in labels and entry["status"] == "corrected" and entry["extra"]["edited"]
    assert two.current_name == "a.png" and np.array_equal(two._labels_layer.data, mine)
    message = two._status.value
    assert "another session" in message and "Accept again" in message
    two.accept()  # pressed again: this window's labels replace the other's, on purpose
    two.writer.flush()
    labels, entry = _on_disk(out)
    assert 99 not in labels and np.array_equal(labels, mine)
    assert entry["status"] == "accepted"


def test_an_edit_saved_in_a_second_window_goes_aside_and_keeps_the_verdict(
    make_napari_viewer, qtbot, tmp_path
):
    one, two, out = _two(make_napari_viewer, qtbot, tmp_path)
    _correct(one, qtbot)
    two._labels_layer.paint((40, 40), 77, refresh=True)  # an edit of the old labels
    two.next_image()
    two.writer.flush()
    labels, entry = _on_disk(out)
    assert 99 in labels and 77 not in labels
    assert entry["status"] == "corrected" and entry["extra"] == {"edited": True}
    kept = list((out / "conflicts").iterdir())  # the second window's edit is not lost
    assert len(kept) == 1 and 77 in tifffile.imread(kept[0])
    qtbot.waitUntil(lambda: "conflicts" in two._status.value, timeout=10_000)
    two.previous_image()  # shown again: the other session's labels, read from disk
    qtbot.waitUntil(lambda: two._shown == "a.png", timeout=30_000)
    assert 99 in two._labels_layer.data
    two.accept()  # no longer a conflict: judged as usual
    two.writer.flush()
    labels, entry = _on_disk(out)
    assert 99 in labels and entry["status"] == "corrected"  # its labels: the correction


def test_a_verdict_over_the_other_windows_verdict_is_refused(make_napari_viewer, qtbot, tmp_path):
    one, two, out = _two(make_napari_viewer, qtbot, tmp_path)
    one.reject()  # no edit: no labels written, only the verdict
    one.writer.flush()
    two.accept()
    two.writer.flush()
    entry = json.loads((out / "review.json").read_text())["images"]["a.png"]
    assert entry["status"] == "rejected" and two.current_name == "a.png"
    assert 'judged this image "rejected"' in two._status.value
    # Its labels are this window's: leaving saves them under the other's verdict (before,
    # the message said they would go to conflicts/, and that the other's labels were shown).
    assert "conflicts" not in two._status.value
    assert "saves them under the other session's verdict" in two._status.value
    two._labels_layer.paint((40, 40), 77, refresh=True)
    two.next_image()
    two.writer.flush()
    labels, entry = _on_disk(out)
    assert 77 in labels and entry["status"] == "rejected" and not (out / "conflicts").exists()


def test_one_window_judging_an_image_again_is_no_conflict(make_napari_viewer, qtbot, tmp_path):
    images, masks, out = _folder(tmp_path)
    dock = _dock(make_napari_viewer, qtbot, images, masks, out)
    dock._labels_layer.paint((5, 5), 99, refresh=True)
    dock.accept()
    dock.previous_image()  # back at once, its save maybe not on disk yet
    qtbot.waitUntil(lambda: dock._shown == "a.png", timeout=30_000)
    dock._labels_layer.paint((40, 40), 77, refresh=True)
    dock.reject()
    dock.writer.flush()
    labels, entry = _on_disk(out)
    assert 99 in labels and 77 in labels and entry["status"] == "rejected"
    assert not (out / "conflicts").exists()
