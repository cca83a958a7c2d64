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
