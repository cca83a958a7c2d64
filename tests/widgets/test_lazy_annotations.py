"""Annotations read lazily from a file (an OME-Zarr label image napari-unet's reader opened:
dask, one level or several) are edited in memory by the Annotate and Live docks.

Before, Annotate's Start re-attached such a layer named "<image> annotations" as it was:
Accept prediction then raised NotImplementedError from dask in the event loop (the status
stayed on "Accepting the prediction..." for good), or, for a pyramid, failed with "list
indices must be integers or slices, not tuple"; Live's Accept all raised the same dask error
(a lazy-layer hunt). The file itself is never written.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_annotate_hunt5 import WORKER_MS, _widget
from test_live_hunt_fixes2 import _discs, _dock, _started

da = pytest.importorskip("dask.array")


def _accepted(qtbot, widget) -> None:
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: "Accepted" in widget._status.value, timeout=WORKER_MS)


@pytest.mark.parametrize("levels", [1, 2])
def test_annotate_accepts_into_annotations_read_lazily(
    make_napari_viewer, qtbot, tmp_path, errors, levels
):
    img, truth = _discs()
    painted = np.where(truth <= 2, truth, 0).astype(np.uint16)  # two of the four saved
    lazy = da.from_array(painted, chunks=32)
    data = lazy if levels == 1 else [lazy, lazy[::2, ::2]]
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    viewer.add_labels(data, name="cells annotations", multiscale=levels > 1)
    widget = _widget(viewer, image, tmp_path / "proj")
    labels = widget._annotations
    assert isinstance(labels.data, np.ndarray) and not labels.multiscale
    np.testing.assert_array_equal(labels.data, painted)  # its values, in memory
    widget._prediction_combo.value = viewer.add_labels(truth, name="cells segmentation (m)")
    _accepted(qtbot, widget)
    data = np.asarray(labels.data)
    assert len(np.unique(data[truth > 0])) == 4  # the two unpainted nuclei accepted
    np.testing.assert_array_equal(np.asarray(lazy), painted)  # the source is untouched
    assert not errors


def test_live_accepts_into_annotations_read_lazily(make_napari_viewer, qtbot, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    lazy = da.from_array(np.where(truth == 1, 1, 0).astype(np.int32), chunks=32)
    labels = viewer.add_labels(lazy, name="cells annotations")
    widget = _dock(viewer, image, labels, model_file)
    _started(qtbot, widget)
    assert isinstance(labels.data, np.ndarray)
    widget._live.data[...] = truth
    assert widget.accept_in_region() == 3  # the three unpainted nuclei
    assert len(np.unique(labels.data[truth > 0])) == 4
    widget.stop()
