"""Two Live docks on one image (two start models compared): one prediction layer each.

Before, both shared one ``<image> live prediction`` layer: the second Start emptied the
first dock's prediction, and from then on each dock's clicks and *Accept all* copied the
other model's objects.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_live_hunt_fixes2 import _discs, _dock, _started

pytest.importorskip("napari")


def test_two_docks_on_one_image_keep_their_own_prediction(make_napari_viewer, qtbot, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    la = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    lb = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations B")
    a = _dock(viewer, image, la, model_file)
    b = _dock(viewer, image, lb, model_file)
    _started(qtbot, a)
    a._live.data[...] = truth  # stands for dock A's view: 4 predicted objects
    _started(qtbot, b)
    assert a._live is not b._live
    assert a._live.name == "cells live prediction"
    assert b._live.name == "cells live prediction [1]"
    np.testing.assert_array_equal(a._live.data, truth)  # B's Start left A's prediction alone
    b._live.data[...] = np.where(truth == 1, 7, 0)  # stands for B's view: 1 object
    np.testing.assert_array_equal(a._live.data, truth)
    assert a.accept_in_region() == 4 and len(np.unique(la.data)) == 5  # A's 4 objects
    assert b.accept_in_region() == 1 and np.array_equal(lb.data > 0, truth == 1)  # B's one
    mine = a._live, b._live
    for dock in (a, b):  # Stop, then Start: each dock reuses its own layer, emptied
        dock.stop()
        assert dock.start(), dock._status.value
        dock.trainer.pause()
    assert (a._live, b._live) == mine and not a._live.data.any()
    assert [layer.name for layer in viewer.layers].count("cells live prediction") == 1
    a.stop()
    b.stop()


class _Holder:
    """A Live dock as the prediction layer sees it: the layer it shows (``_live``)."""

    _live = None


def test_a_layer_another_dock_shows_is_never_emptied_and_a_freed_one_is_reused(
    make_napari_viewer,
):
    from napari_unet.widgets._live_view import live_layer  # what Start calls

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((32, 32), np.uint8), name="cells")
    a, b = _Holder(), _Holder()
    a._live = live_layer(viewer, image, (32, 32), dock=a)
    a._live.data[5:9, 5:9] = 3  # dock A's prediction
    b._live = live_layer(viewer, image, (32, 32), dock=b)
    assert b._live is not a._live and a._live.data.sum() == 16 * 3
    assert live_layer(viewer, image, (32, 32), dock=a) is a._live  # Start again: its own
    assert live_layer(viewer, image, (32, 32), dock=b) is b._live
    del b  # dock B closed: its layer is free for the next dock
    c = _Holder()
    c._live = live_layer(viewer, image, (32, 32), dock=c)
    assert c._live.name == "cells live prediction [1]" and len(viewer.layers) == 3


def test_a_closed_dock_frees_its_prediction_layer(make_napari_viewer, qtbot):
    """The viewer's layer events held a closed Live dock (its idle-status follower): the
    dock held its layer, and each dock reopened made another ``[1]``, ``[2]`` layer."""
    import gc

    from napari_unet.widgets import _live_view
    from napari_unet.widgets.live import LiveWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.float32), name="cells")
    first = LiveWidget(viewer)
    dock = viewer.window.add_dock_widget(first, name="Live")
    first._live = held = _live_view.live_layer(viewer, image, (64, 64), dock=first)
    viewer.window.remove_dock_widget(dock)
    del first, dock
    for _ in range(3):
        qtbot.wait(10)
        gc.collect()
    again = LiveWidget(viewer)
    viewer.window.add_dock_widget(again, name="Live again")
    assert _live_view.live_layer(viewer, image, (64, 64), dock=again) is held
