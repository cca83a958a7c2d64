"""Live *Accept all* takes each predicted object with a pixel in the region whole.

Before, it clipped every object to the region's box: a nucleus cut by the view's edge (or a
shape's outline) became a half-cell, and the 6 px background ring of that stroke lay across
the other half of the same nucleus, off screen, so it was trained as background.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_live_big import _record_shapes

pytest.importorskip("napari")


def _on_discs(make_napari_viewer, model_file):
    """A viewer with the four discs, empty annotations and a Live dock on them."""
    from test_live_hunt_fixes2 import _discs, _dock

    img, lab = _discs()  # 96 x 96, discs of r=8 at (20,20),(20,60),(60,20),(60,60)
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    return viewer, image, labels, _dock(viewer, image, labels, model_file), lab


def test_accept_all_at_the_view_edge_copies_the_cut_nucleus_whole(
    make_napari_viewer, qtbot, model_file
):
    from test_live_hunt_fixes2 import _applied

    from napari_unet.widgets._view_box import view_pixels

    viewer, image, labels, dock, lab = _on_discs(make_napari_viewer, model_file)
    img = image.data
    assert dock.start(), dock._status.value
    dock.trainer.pause()
    qtbot.waitUntil(lambda: dock._views >= 1, timeout=60_000)
    dock._request_view = lambda *a: None  # no more views over the prediction set below
    dock._live.data[...] = lab  # the model found the four nuclei
    viewer.camera.center, viewer.camera.zoom = (48, 30), 1.0
    while view_pixels(viewer, image, img.shape)[0][3] > 62:  # the view's right edge
        viewer.camera.zoom *= 1.05  # runs through the disc at (60, 60)
    box = view_pixels(viewer, image, img.shape)[0]
    disc = lab == 4
    assert box[2] < 52 and 52 < box[3] <= 62, box  # the view cuts the nucleus
    assert dock.accept_in_region() == 4  # nuclei 2 and 4 cut by the right edge: whole
    qtbot.wait(200)  # the paint event is sent on the next loop turn
    _applied(qtbot, dock.trainer)
    data = dock.trainer.data
    dock.stop()
    assert (labels.data[disc] > 0).all(), "the nucleus at the view's edge was cut"
    assert len(np.unique(labels.data[disc])) == 1  # one cell
    assert not (disc & data.mask & (data.labels == 0)).any(), "a nucleus trained as background"
    assert np.array_equal(labels.data > 0, lab > 0)


def test_accept_all_in_a_shape_copies_the_nuclei_it_cuts_whole(
    make_napari_viewer, qtbot, model_file
):
    from test_live_hunt_fixes2 import _started

    viewer, _image, labels, dock, lab = _on_discs(make_napari_viewer, model_file)
    _started(qtbot, dock)
    dock._live.data[...] = lab
    # a rectangle over the left half of nucleus 1 and the right edge of nucleus 3
    shapes = viewer.add_shapes([[[10, 10], [10, 20], [70, 20], [70, 10]]], name="where")
    dock._region_box.value = shapes
    assert dock.accept_in_region() == 2
    dock.stop()
    for k in (1, 3):
        assert (labels.data[lab == k] > 0).all(), f"nucleus {k} was cut at the shape's edge"
    assert not labels.data[(lab == 2) | (lab == 4)].any()


def test_growing_follows_the_cut_objects_not_the_plane(monkeypatch):
    import napari
    import skimage.measure
    from scipy import ndimage

    from napari_unet.widgets._live_accept import accept_in_box

    size = 2048
    live = np.zeros((size, size), np.int32)
    for y in range(0, size, 64):  # many objects elsewhere on the plane
        for x in range(0, size, 64):
            if not (800 < y < 1300 and 600 < x < 1400):
                live[y : y + 4, x : x + 4] = 9
    live[1000:1010, 700:1300] = 5  # a long object through the box's left and right sides
    live[1080:1140, 1010:1020] = 6  # cut by the bottom side, bent back into the box
    live[1130:1140, 1010:1045] = 6
    live[1085:1140, 1035:1045] = 6
    live[920:960, 920:930] = 7  # wholly inside
    live[1200:1210, 1000:1010] = 8  # outside, near
    live[1000:1010, 1300:1320] = 9  # touches object 5 but is another id: not taken
    labels = napari.layers.Labels(np.zeros((size, size), np.int32))
    labels.data[1005, 1200] = 3  # a painted pixel inside object 5 stays
    seen = _record_shapes(monkeypatch, skimage.measure, "label")
    seen += _record_shapes(monkeypatch, ndimage, "label")
    added = accept_in_box(labels, live, (880, 1100, 900, 1050))
    out = np.asarray(labels.data)
    assert added == 3
    assert out[1005, 1200] == 3  # the painted pixel wins
    ids = [set(np.unique(out[(live == k) & (out != 3)]).tolist()) for k in (5, 6, 7)]
    assert all(len(i) == 1 and 0 not in i for i in ids), ids  # each whole, one cell
    assert len(set.union(*ids)) == 3
    assert not out[(live == 8) | (live == 9)].any()
    assert seen and all(h * w <= 1100 * 1100 for h, w in seen)  # never the plane


def test_a_blob_over_most_of_the_plane_is_cut_at_the_region(monkeypatch):
    """An early model's one blob is not grown over the plane: cut at the region, as before."""
    import napari
    import skimage.measure
    from scipy import ndimage

    from napari_unet.widgets._live_accept import GROWN, accept_in_box

    size = 2048
    live = np.zeros((size, size), np.int32)
    live[100:1900, 100:1900] = 1  # the blob, far beyond the region on every side
    live[1010:1030, 1240:1270] = 2  # a nucleus cut by the region's right side: whole
    labels = napari.layers.Labels(np.zeros((size, size), np.int32))
    box = (900, 1100, 1000, 1250)
    seen = _record_shapes(monkeypatch, skimage.measure, "label")
    seen += _record_shapes(monkeypatch, ndimage, "label")
    assert accept_in_box(labels, live, box) == 2
    out = np.asarray(labels.data)
    area = (box[1] - box[0]) * (box[3] - box[2])
    blob = (out > 0) & (live == 1)
    assert blob.sum() == area - (live[900:1100, 1000:1250] == 2).sum()  # the box's part
    assert (out[live == 2] > 0).all()  # the nucleus whole
    assert seen and all(h * w <= GROWN * area for h, w in seen)  # never the plane
