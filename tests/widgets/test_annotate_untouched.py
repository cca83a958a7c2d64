"""An Annotate session that paints nothing writes nothing.

Flushed at a second Start (say with another leading axis) or at closing, an untouched
session wrote an empty annotations.tif and a whole-image region: the second Start then
refused its own project folder as another image's (autosave off, nothing painted after
that was saved), and training read the image as annotated, all background.
"""

from __future__ import annotations

import numpy as np
import tifffile

from napari_unet.core.annotation.project import ANNOTATIONS_FILE, REGION_FILE, project_folder_for
from napari_unet.core.annotation.regions import region_mask
from napari_unet.widgets.annotate import AnnotateWidget

WORKER_MS = 30_000


def _stack_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "t3.tif"
    tifffile.imwrite(path, (rng.random((3, 48, 64)) * 200).astype(np.uint8))
    return path


def _start(viewer, path, axes="auto"):
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._saver.timer.setInterval(30)
    widget._image_combo.value = viewer.open(path)[0]
    widget._axes.value = axes
    widget._start_btn.native.click()
    return widget


def test_starting_again_with_another_leading_axis_keeps_autosave(
    make_napari_viewer, qtbot, tmp_path, messages
):
    path = _stack_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget = _start(viewer, path)  # three planes read as channels: 2D labels
    assert widget._annotations.data.shape == (48, 64)
    widget._axes.value = "stack"
    widget._start_btn.native.click()  # nothing painted: nothing to flush
    assert not (folder / ANNOTATIONS_FILE).exists() and not (folder / REGION_FILE).exists()
    assert widget._annotations.data.shape == (3, 48, 64)
    assert widget._saver.enabled and not any("another image" in m for m in messages)
    widget._annotations.paint((1, 20, 20), 5)
    qtbot.waitUntil(lambda: (folder / ANNOTATIONS_FILE).exists(), timeout=WORKER_MS)
    qtbot.waitUntil(lambda: not widget._saver.busy, timeout=WORKER_MS)
    saved = tifffile.imread(folder / ANNOTATIONS_FILE)
    assert saved.shape == (3, 48, 64) and saved[1, 20, 20] == 5


def test_closing_an_untouched_session_writes_nothing_but_save_now_does(
    make_napari_viewer, qtbot, tmp_path
):
    path = _stack_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget = _start(viewer, path, axes="stack")
    widget._detach()  # as closing the window or removing the layer does
    assert not (folder / ANNOTATIONS_FILE).exists()
    widget._start_btn.native.click()
    widget._save_btn.native.click()  # an empty field marked as annotated, on purpose
    qtbot.waitUntil(lambda: (folder / ANNOTATIONS_FILE).exists(), timeout=WORKER_MS)
    qtbot.waitUntil(lambda: not widget._saver.busy, timeout=WORKER_MS)
    assert not tifffile.imread(folder / ANNOTATIONS_FILE).any()
    assert (folder / REGION_FILE).exists()


def test_accepting_on_a_plane_no_region_covers_says_why(make_napari_viewer, qtbot, tmp_path):
    """Accept says why nothing was accepted; a plane no region lies on is marked by it.

    A stack starts with no region (before: the plane on screen at Start): Accept on a
    plane without one takes the whole plane and marks it, as a stroke does.
    """
    path = _stack_file(tmp_path)
    viewer = make_napari_viewer()
    widget = _start(viewer, path, axes="stack")
    start = viewer.dims.current_step[0]
    other = (start + 1) % 3
    prediction = np.zeros((3, 48, 64), np.uint16)
    prediction[:, 10:20, 10:20] = 1
    widget._prediction_combo.value = viewer.add_labels(prediction, name="prediction")
    box = [[other, 30, 40], [other, 30, 60], [other, 45, 60], [other, 45, 40]]
    widget._region.add(np.array(box, float), shape_type="rectangle")  # away from the cells
    viewer.dims.set_current_step(0, other)
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: widget._accept_btn.enabled, timeout=WORKER_MS)
    assert not widget._annotations.data.any()
    assert f"Accepted nothing on plane {other}: its cells lie outside the annotated region" in (
        widget._status.value
    )
    viewer.dims.set_current_step(0, start)  # no region on it: accepted, and marked
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: widget._accept_btn.enabled, timeout=WORKER_MS)
    assert widget._annotations.data[start, 15, 15] > 0
    assert widget._status.value.startswith(f"Accepted 1 predicted cells on plane {start}")
    mask = region_mask(widget._region.data, widget._region.shape_type, (3, 48, 64))
    assert mask[start].all() and len(widget._region.data) == 2
