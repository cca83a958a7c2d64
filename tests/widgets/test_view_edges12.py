"""What is in view, at the view's edges, in napari's grid mode, and for the Train preview.

Before: the view's edges were rounded as if data pixel ``i`` spanned ``i`` to ``i + 1``
(napari draws it from ``i - 0.5`` to ``i + 0.5``), so a view just beside the image took in a
column never shown (Live's Accept all added a cell down it, Predict's current view predicted
it) and one with pixel 0 partly shown was refused; in grid mode the view was the whole
canvas, not the grid cell showing the layer; the Train preview's cap was centred on the
view's centre, so a view half off the image previewed a sliver of it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from test_live_hunt_fixes2 import _discs, _started  # noqa: E402
from test_live_hunt_fixes2 import _dock as _live_dock  # noqa: E402

from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.widgets._layers import camera, view_extent, visible_box  # noqa: E402
from napari_unet.widgets._train_helpers import in_view  # noqa: E402
from napari_unet.widgets._view_region import view_region  # noqa: E402
from napari_unet.widgets.predict import VIEW, PredictWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _left_edge_at(viewer, layer, x, row=40.0):
    lo, hi = view_extent(viewer, layer)
    camera(viewer).center = (row, x + (hi[1] - lo[1]) / 2)


def _right_edge_at(viewer, layer, x, row=40.0):
    lo, hi = view_extent(viewer, layer)
    camera(viewer).center = (row, x - (hi[1] - lo[1]) / 2)


def test_half_pixel_edges_of_the_view(make_napari_viewer, run_predict, tiny):
    viewer = make_napari_viewer()
    image = viewer.add_image(_discs()[0], name="img")
    camera(viewer).zoom = 20  # a view of some 30 x 40 data pixels: no deep zoom
    _left_edge_at(viewer, image, 95.8)  # the image ends at 95.5: nothing of it shown
    assert image.get_value((40, view_extent(viewer, image)[0][1] + 0.01)) is None
    assert visible_box(viewer, image, (96, 96)) is None
    with pytest.raises(InputError, match="no part of 'img' is in view"):
        view_region(viewer, image, (96, 96))
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="tiny")
    widget._image.value, widget._scope.value = image, VIEW
    run_predict(widget)
    assert "no part of 'img' is in view: pan onto it or zoom out" in widget._status.value
    _left_edge_at(viewer, image, 95.3)  # a fifth of column 95 shown
    assert visible_box(viewer, image, (96, 96))[2:] == (95, 96)
    _right_edge_at(viewer, image, -0.2)  # most of column 0 shown
    assert image.get_value((40, view_extent(viewer, image)[1][1] - 0.01)) is not None
    assert view_region(viewer, image, (96, 96))[2:] == (0, 1)  # not refused
    _right_edge_at(viewer, image, -0.6)
    with pytest.raises(InputError):
        view_region(viewer, image, (96, 96))
    camera(viewer).center = (40.2, 50.2)  # inside: the pixels any part of which shows
    lo, hi = view_extent(viewer, image)
    y0, y1, x0, x1 = visible_box(viewer, image, (96, 96))
    assert (y0, x0) == tuple(int(np.floor(v + 0.5)) for v in lo)
    assert (y1, x1) == tuple(int(np.ceil(v + 0.5)) for v in hi)


def test_accept_all_beside_the_image_adds_nothing(make_napari_viewer, qtbot, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    live = _live_dock(viewer, image, labels, model_file)
    _started(qtbot, live)
    pred = truth.copy()
    pred[30:50, 86:96] = 7  # a predicted cell at the image's right edge
    live._live.data[...] = pred
    camera(viewer).zoom = 20
    _left_edge_at(viewer, image, 95.8)
    added = live.accept_in_region()
    _left_edge_at(viewer, image, 95.3)  # column 95 partly shown: its cell is accepted whole
    added_edge = live.accept_in_region()
    data = np.asarray(labels.data)
    live.stop()
    assert added == 0
    assert added_edge == 1 and np.array_equal(data > 0, pred == 7)


@pytest.mark.fresh_viewer  # its grid cell's size: of a viewer no earlier test has used
def test_grid_mode_view_is_one_grid_cell(make_napari_viewer, qtbot, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    viewer.add_labels(np.zeros(img.shape, np.int32), name="other")
    live = _live_dock(viewer, image, labels, model_file)
    _started(qtbot, live)
    live._live.data[...] = truth  # discs centred at (20, 20), (20, 60), (60, 20), (60, 60)
    viewer.canvas.grid.enabled = True
    camera(viewer).zoom, camera(viewer).center = 8, (20, 20)
    assert viewer.canvas.grid.actual_shape(viewer.layers) != (1, 1)
    cell = np.asarray(viewer.canvas.viewbox_size(viewer.layers), float)  # one grid cell
    half = cell / 8 / 2
    first = np.maximum(np.floor(20 - half + 0.5), 0)  # pixel i: from i - 0.5 to i + 0.5
    end = np.minimum(np.ceil(20 + half + 0.5), 96)
    y0, y1, x0, x1 = visible_box(viewer, image, (96, 96))
    assert (y0, x0, y1, x1) == (*first.astype(int).tolist(), *end.astype(int).tolist())
    assert y1 < 60 - 8 and x1 < 60 - 8  # only disc 1 is shown
    added = live.accept_in_region()
    ids = set(np.unique(np.asarray(labels.data)).tolist()) - {0}
    live.stop()
    assert added == 1 and len(ids) == 1


def test_train_preview_is_centred_on_the_image_in_view(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((2000, 2000), np.uint8), name="big")
    viewer.reset_view()
    _left_edge_at(viewer, image, 1459, row=1000)  # columns 1459..1999 in view, 541 px
    box = visible_box(viewer, image, (2000, 2000))
    assert box[2:] == (1459, 2000)
    preview, _plane = in_view(viewer, image, (2000, 2000), 1)
    y0, y1, x0, x1 = preview
    assert (x0, x1) == (1459, 2000)  # not a sliver at the image's edge
    assert y1 - y0 <= 1024 and abs((y0 + y1) / 2 - (box[0] + box[1]) / 2) <= 1
