"""The Live dock on large planes: work follows the box edited or viewed, not the plane.

On an 8192 x 8192 plane a view update redrew the outlines of the whole plane (2-3.8 s), the
undo comparison read the whole plane every second (0.15-0.9 s) and accepting labelled the
whole plane (0.9 s for a click, 3.1 s for the view). These tests count that work (array
shapes, pixels compared) and check that the results are those of the whole-plane code.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("napari")


def _record_shapes(monkeypatch, module, name: str) -> list[tuple[int, ...]]:
    """Record the shape of the first argument of ``module.name`` on the GUI thread."""
    shapes: list[tuple[int, ...]] = []
    original = getattr(module, name)

    def recorded(array, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            shapes.append(np.shape(array))
        return original(array, *args, **kwargs)

    monkeypatch.setattr(module, name, recorded)
    return shapes


def _started(make_napari_viewer, size: int):
    """Live training started (and paused) on a ``size`` x ``size`` noise image."""
    from test_live_start import _dock

    viewer, widget, labels = _dock(make_napari_viewer, size)
    assert widget.start()
    widget.trainer.pause()
    return viewer, widget, labels


def _blobs(shape, n: int, seed: int, first: int = 1) -> np.ndarray:
    """``n`` labelled squares of 6-30 pixels at random places (later ones on top)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, np.int32)
    for k in range(n):
        h, w = rng.integers(6, 30, 2)
        y, x = rng.integers(0, shape[0] - h), rng.integers(0, shape[1] - w)
        out[y : y + h, x : x + w] = first + k
    return out


# -- 1. a view redraws its box ---------------------------------------------------------------
def test_a_view_redraws_its_box_and_start_draws_no_outlines(make_napari_viewer, qtbot, monkeypatch):
    """The outlines drawn are those of a full redraw, computed for the box only.

    On screen: napari's canvas takes a part of a picture only once it has drawn it whole.
    """
    from napari.layers.labels import labels as napari_labels

    from napari_unet.widgets._live_parts import live_layer  # what Start calls
    from napari_unet.widgets.live import LiveWidget

    shape = (1024, 1024)
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(np.zeros(shape, np.uint8), name="cells")
    widget = LiveWidget(viewer)
    contours = _record_shapes(monkeypatch, napari_labels, "get_contours")
    widget._live = live = live_layer(viewer, image, shape)  # as Start makes it
    assert live.contour == 2 and not live.data.any()
    assert contours == []  # an empty plane: no outlines computed
    qtbot.wait(100)  # drawn once
    view = _blobs((300, 200), 40, seed=1)
    widget._on_view(SimpleNamespace(box=(400, 700, 100, 300), labels=view, step=1, seconds=0))
    np.testing.assert_array_equal(live.data[400:700, 100:300], view)  # a click reads these
    assert widget._views == 1 and contours
    assert max(h * w for h, w in contours) <= (300 + 8) * (200 + 8)  # the box and a halo
    drawn = np.array(live._slice.image.view)
    live.refresh()  # napari's full redraw: the same picture
    np.testing.assert_array_equal(drawn, live._slice.image.view)
    live.contour = 0  # outlines off (the layer controls): filled objects
    widget._on_view(SimpleNamespace(box=(0, 300, 0, 200), labels=view, step=2, seconds=0))
    drawn = np.array(live._slice.image.view)
    live.refresh()
    np.testing.assert_array_equal(drawn, live._slice.image.view)
    contours.clear()
    assert live_layer(viewer, image, shape) is live  # Start again: the same layer, emptied
    assert contours == [] and live.contour == 2 and not live.data.any()
    assert not np.asarray(live._slice.image.view).any()


# -- 2. undo and redo are found where the history changed ------------------------------------
def _square(labels, y: int, x: int, value: int) -> None:
    """Paint an 8 x 8 square as napari's brush does (its paint event after the write)."""
    with labels.block_history():
        labels.data_setitem(tuple(np.nonzero(np.pad(np.ones((8, 8)), ((y, 0), (x, 0))))), value)


def test_the_undo_comparison_reads_only_what_the_history_touched(make_napari_viewer, qtbot):
    viewer, widget, labels = _started(make_napari_viewer, 256)
    sent: list[tuple[tuple, bool]] = []
    update = widget.trainer.update
    widget.trainer.update = lambda box, patch, undone=False: (
        sent.append((tuple(box), undone)),
        update(box, patch, undone=undone),
    )
    edits, plane = widget._edits, 256 * 256
    edits.compared = 0
    for _ in range(3):
        widget._send_diff()  # the once-a-second tick, nothing changed
    assert edits.compared == 0 and sent == []
    _square(labels, 10, 10, 1)  # a stroke: sent by its paint event (on the next loop turn)
    _square(labels, 100, 100, 2)
    qtbot.waitUntil(lambda: len(sent) == 2, timeout=5000)
    assert [u for _, u in sent] == [False, False]
    widget._send_diff()
    assert len(sent) == 2 and edits.compared == 0  # strokes are their paint events' work
    labels.undo()  # cell 2 taken back, then a stroke before the next tick
    _square(labels, 200, 30, 3)
    qtbot.waitUntil(lambda: len(sent) == 3, timeout=5000)
    edits.compared = 0
    widget._send_diff()
    (box, undone), *_ = sent[3:]
    assert undone and box[0] <= 100 < box[1] and box[2] <= 100 < box[3]  # the undone cell
    assert edits.compared <= 3 * 64
    np.testing.assert_array_equal(widget._mirror, labels.data)  # all of it sent
    labels.redo()  # nothing to redo after a stroke; undo twice, redo once
    labels.undo()
    labels.undo()
    labels.redo()
    widget._send_diff()
    assert sent[-1][1] is not False and edits.compared < plane // 20
    np.testing.assert_array_equal(widget._mirror, labels.data)
    labels.data[200:210, 200:210] = 9  # a script's write: no event, no history
    widget._send_diff()
    assert widget._mirror[205, 205] == 0  # seen at Stop (or when the data is replaced)
    edits.compared = 0
    labels.data = np.array(labels.data)  # replaced: the whole plane compared
    widget._send_diff()
    assert edits.compared == plane and widget._mirror[205, 205] == 9
    labels.data[0:5, 0:5] = 7
    widget.stop()  # Stop compares the whole plane
    assert widget._mirror[2, 2] == 7 and sent[-1][1] is False  # a script's write: a stroke


def test_without_napari_history_every_tick_compares_the_plane(monkeypatch):
    from napari_unet.widgets import _history
    from napari_unet.widgets._live_edits import EditWatch

    monkeypatch.setattr(_history, "_NO_HISTORY", [])
    layer = SimpleNamespace(data=np.zeros((40, 30), np.int32))
    watch = EditWatch(layer)
    with pytest.warns(RuntimeWarning, match="no readable undo history"):  # said, once
        assert watch.boxes((40, 30)) == watch.boxes((40, 30)) == [(0, 40, 0, 30)]


# -- 3. accepting works on a box ---------------------------------------------------------------
def test_accept_all_merges_the_region_box_as_the_whole_plane_did(
    make_napari_viewer, qtbot, monkeypatch
):
    import skimage.measure

    from napari_unet.core.annotation.edits import merge_prediction

    size = 512
    viewer, widget, labels = _started(make_napari_viewer, size)
    live = widget._live
    live.data[:] = _blobs((size, size), 400, seed=2)
    painted = _blobs((size, size), 60, seed=3, first=500)
    labels.data = painted.copy()
    labels.data[5, 5] = 4000  # a high id far from the region: new ids go above it
    shapes = viewer.add_shapes([[[100, 120], [100, 300], [260, 300], [260, 120]]], name="r")
    widget._region_box.value = shapes
    rectangle = np.zeros((size, size), bool)
    rectangle[100:261, 120:301] = True
    # every predicted object with a pixel in the rectangle, whole (a connected run of one id)
    pieces = skimage.measure.label(np.array(live.data), background=0, connectivity=1)
    region = np.isin(pieces, np.unique(pieces[rectangle & (pieces > 0)]))
    assert (region & ~rectangle).any()  # some objects cross the rectangle's sides
    rows, cols = np.nonzero(region | rectangle)
    grown = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    before = np.array(labels.data)
    expected = merge_prediction(before, np.array(live.data), region)  # the whole-plane merge
    merges = _record_shapes(monkeypatch, skimage.measure, "label")
    added = widget.accept_in_region()
    monkeypatch.undo()
    np.testing.assert_array_equal(labels.data, expected)  # same cells, same ids
    assert added == len(np.unique(expected[expected != before])) > 10
    assert merges and all(h * w <= grown < size * size for h, w in merges)  # not the plane
    labels.undo()  # one undo step
    np.testing.assert_array_equal(labels.data, before)
    widget.stop()


def test_a_click_copies_the_whole_object_from_a_window(make_napari_viewer, qtbot, monkeypatch):
    from scipy import ndimage

    from napari_unet.widgets._live_parts import object_at

    size = 512
    viewer, widget, labels = _started(make_napari_viewer, size)
    live = widget._live
    live.data[:] = _blobs((size, size), 300, seed=4)
    live.data[300:310, 20:500] = 900  # longer than the first window: it grows
    live.data[0:40, 480:512] = 901  # at the plane's corner
    live.data[450:460, 450:460] = 900  # the same id elsewhere: not copied
    labels.data[305, 250:260] = 3  # painted pixels inside the long object are kept
    labels.data[500, 5] = 77  # the highest id
    seen = _record_shapes(monkeypatch, ndimage, "label")
    for y, x, new in ((305, 30, 78), (10, 500, 79)):
        before = np.array(labels.data)
        expected = object_at(np.array(live.data), y, x) & (before == 0)  # the plane's way
        del seen[:]
        assert widget.accept_at(y, x)
        np.testing.assert_array_equal(labels.data != before, expected)
        assert (labels.data[expected] == new).all()
        assert seen and all(h * w < size * size for h, w in seen)  # windows, not the plane
    assert not widget.accept_at(305, 255)  # a painted pixel
    widget.stop()


def test_a_napari_without_the_partial_refresh_redraws_whole_and_says_so(monkeypatch):
    """The view fell back to a full redraw (seconds on large images) without a word."""
    from napari_unet.widgets import _live_view

    monkeypatch.setattr(_live_view, "_WARNED", set())
    redrawn = []
    layer = SimpleNamespace(data=np.zeros((40, 30), np.int32), contour=2,
                            refresh=lambda: redrawn.append(1))  # fmt: skip
    with pytest.warns(RuntimeWarning, match="redrawn whole"):
        _live_view.write_box(layer, (0, 10, 0, 10), np.ones((10, 10), np.int32))
    assert redrawn == [1] and layer.data[:10, :10].all()
    _live_view.write_box(layer, (0, 10, 0, 10), np.ones((10, 10), np.int32))  # said once
    assert redrawn == [1, 1]


def test_a_large_view_predicts_its_centre_and_says_zoom_in(make_napari_viewer, qtbot):
    """A whole 8192 x 8192 image in view took minutes per refresh (and Stop waited for it)."""
    import dataclasses

    from napari_unet.core.inference.runner import model_info

    viewer, widget, _ = _started(make_napari_viewer, 1024)
    qtbot.waitUntil(lambda: widget._views >= 1, timeout=60_000)  # whole: under the limit
    assert widget._last_view.labels.shape == (1024, 1024) and widget._capped is None
    trainer = widget.trainer
    trainer.config = dataclasses.replace(trainer.config, view_max_pixels=200 * 200)
    views = widget._views
    widget._request_view()
    qtbot.waitUntil(lambda: widget._views > views, timeout=60_000)
    halo = int(model_info(trainer.model)[0].halo)
    y0, y1, x0, x1 = widget._last_view.box
    assert (y1 - y0, x1 - x0) == (200 + 2 * halo, 200 + 2 * halo)
    assert abs((y0 + y1) / 2 - 512) <= 1 and abs((x0 + x1) / 2 - 512) <= 1  # the centre
    widget._show_status()
    assert "zoom in: only the centre 200 x 200 px" in widget._status.value
    widget._live.data[:50, :50] = 7  # an older view's object, outside the centre
    widget.accept_in_region()  # Accept all in the view: only what this view predicted
    accepted = np.asarray(widget._annotations.data)
    assert not accepted[:50, :50].any()
    assert not accepted[: 512 - 100].any() and not accepted[512 + 100 :].any()
    widget.stop()
