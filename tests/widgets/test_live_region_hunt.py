"""The Live dock's annotated region: sent once per gesture, forgotten with its layer.

- Dragging a region shape re-read the whole region and sent it to the trainer at every
  mouse move (napari's ``set_data``, emitted at every refresh of a drag, with no
  ``action``); every add or delete was sent twice (``data``, then ``set_data``).
- Deleting the annotated-region layer while training left its region in the trainer
  (annotated background) while the picker showed none; the link followed the deleted layer.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

SIZE = 96


def _square(y0, y1, x0, x1):
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)


def _running(make_napari_viewer, qtbot, model_file, region="shapes"):
    """A viewer, the Live dock training (paused) with a region layer; ``(viewer, dock, layer)``."""
    from napari_unet.widgets._live_parts import FILE
    from napari_unet.widgets.live import LiveWidget

    rng = np.random.default_rng(0)
    viewer = make_napari_viewer()
    image = viewer.add_image(rng.integers(0, 255, (SIZE, SIZE), np.uint8), name="cells")
    labels = viewer.add_labels(np.zeros((SIZE, SIZE), np.int32), name="cells annotations")
    if region == "shapes":
        layer = viewer.add_shapes([_square(10, 40, 10, 40)], shape_type="rectangle", name="bg")
    else:
        data = np.zeros((SIZE, SIZE), np.int32)
        data[10:40, 10:40] = 1
        layer = viewer.add_labels(data, name="bg")
    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    dock._image_box.value, dock._labels_box.value = image, labels
    dock._model_file.value = model_file
    dock._model.value = FILE
    dock._annotated_box.value = layer
    assert dock.start(), dock._status.value
    dock.trainer.pause()
    _applied(qtbot, dock.trainer)
    assert dock.trainer.data.region[20, 20]
    return viewer, dock, layer


def _applied(qtbot, trainer) -> None:
    n = trainer.last_update
    qtbot.waitUntil(lambda: n in trainer.applied_at or n < 0, timeout=10_000)


def _drag(layer, start, moves: int, by: float) -> None:
    """Select the shape under ``start``, then drag it by ``by`` pixels per mouse move."""
    from napari.utils._test_utils import read_only_mouse_event as event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    layer.mode = "select"
    pos = tuple(map(float, start))
    mouse_press_callbacks(layer, event(type="mouse_press", position=pos))
    mouse_release_callbacks(layer, event(type="mouse_release", position=pos))
    mouse_press_callbacks(layer, event(type="mouse_press", is_dragging=True, position=pos))
    for _ in range(moves):
        pos = (pos[0] + by, pos[1] + by)
        mouse_move_callbacks(layer, event(type="mouse_move", is_dragging=True, position=pos))
    mouse_release_callbacks(layer, event(type="mouse_release", is_dragging=True, position=pos))


def test_a_drag_add_and_delete_each_send_the_region_once(make_napari_viewer, qtbot, model_file):
    viewer, dock, shapes = _running(make_napari_viewer, qtbot, model_file)
    trainer = dock.trainer
    before = trainer.last_update
    _drag(shapes, (25, 25), moves=10, by=4)  # the square moves by 40 px
    assert trainer.last_update - before == 1, "one drag: one region sent, at its end"
    _applied(qtbot, trainer)
    region = trainer.data.region
    assert region[60, 60] and region[75, 75] and not region[20, 20]  # the moved square

    before = trainer.last_update
    shapes.add_rectangles(_square(0, 8, 0, 8))
    assert trainer.last_update - before == 1, "an added shape: sent once"
    before = trainer.last_update
    shapes.selected_data = {1}
    shapes.remove_selected()
    assert trainer.last_update - before == 1, "a deleted shape: sent once"
    before = trainer.last_update
    shapes.opacity = 0.3  # a redraw only
    assert trainer.last_update == before
    shapes.translate = (-30, -30)  # the layer moved over the pixels: sent
    assert trainer.last_update == before + 1
    _applied(qtbot, trainer)
    assert trainer.data.region[35, 35] and not trainer.data.region[75, 75]
    dock.stop()


@pytest.mark.parametrize("kind", ["shapes", "labels"])
def test_deleting_the_region_layer_stops_using_its_region(
    make_napari_viewer, qtbot, model_file, kind
):
    viewer, dock, layer = _running(make_napari_viewer, qtbot, model_file, kind)
    trainer = dock.trainer
    link = dock._link
    viewer.layers.remove(layer)
    said = dock._status.value
    _applied(qtbot, trainer)
    assert not trainer.data.region.any(), "the deleted layer's region is still annotated"
    assert dock._link is None and link.trainer is None  # no longer following the layer
    assert "'bg' was deleted" in said
    dock._show_status()  # the status timer's refresh: still said
    assert "left out: annotated region 'bg' (deleted)" in dock._status.value
    assert trainer.running and dock._annotated_box.value is None  # training goes on
    before = trainer.last_update
    if kind == "shapes":
        layer.add_rectangles(_square(0, 8, 0, 8))  # the deleted layer: nothing sent
    else:
        layer.data = np.ones((SIZE, SIZE), np.int32)
    qtbot.wait(50)
    assert trainer.last_update == before
    dock.stop()
    assert trainer.error is None


class _Trainer:
    """Records the regions a RegionLink hands over (their pixel counts)."""

    def __init__(self):
        self.regions = []

    def set_region(self, mask):
        self.regions.append(int(mask.sum()))


class _Status:
    value = ""


def test_a_shape_pasted_on_the_trained_plane_is_sent(make_napari_viewer, qtbot):
    """napari's paste (Ctrl+V) emits no data event: before, the pasted region was not sent."""
    from napari_unet.widgets._live_parts import RegionLink

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((5, 100, 100), np.float32), name="img")
    labels = viewer.add_labels(np.zeros((100, 100), np.int32), name="ann")
    corners = np.array([[0, 10, 10], [0, 10, 30], [0, 30, 30], [0, 30, 10]])
    shapes = viewer.add_shapes([corners], shape_type="rectangle", name="reg")
    viewer.dims.set_point(0, 0)
    trainer = _Trainer()
    link = RegionLink(shapes, (100, 100), trainer, _Status(), like=labels, on=(image, 2))
    assert trainer.regions == [0]  # the shape lies on plane 0, not the trained plane 2
    shapes.selected_data = {0}
    shapes._copy_data()
    viewer.dims.set_point(0, 2)
    shapes._paste_data()
    qtbot.waitUntil(lambda: trainer.regions == [0, 441], timeout=2000)
    shapes.refresh()  # a redraw with as many shapes sends nothing
    qtbot.wait(50)
    assert trainer.regions == [0, 441]
    link.close()


def test_a_labels_region_moved_off_the_annotations_pixels_is_no_longer_used(make_napari_viewer):
    """The status said "not used" while the trainer kept the region from before the move."""
    from napari_unet.widgets._live_parts import RegionLink

    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((100, 100), np.int32), name="ann")
    marked = np.zeros((100, 100), np.int32)
    marked[10:40, 10:40] = 1
    region = viewer.add_labels(marked, name="reg")
    trainer = _Trainer()
    link = RegionLink(region, (100, 100), trainer, _Status(), like=labels)
    assert trainer.regions == [900]
    region.translate = (0.5, 0.5)
    assert link.error and "does not lie on the pixels" in link.error
    assert trainer.regions[-1] == 0
    region.translate = (0, 0)  # back on the pixels: used again
    assert link.error is None and trainer.regions[-1] == 900
    link.close()
