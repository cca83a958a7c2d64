"""The Weight map dock on lazy (dask, zarr) labels: read by the worker, not the GUI thread.

An OME-Zarr's labels (dask, multiscale) were read whole on the GUI thread at each Compute,
and the status line's figures computed over the whole map there: napari froze seconds at
8192 x 8192. And the status line named the user's layer when the dock's was suffixed.
Reads are recorded by thread here, never timed.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

pytest.importorskip("napari")
da = pytest.importorskip("dask.array")

from napari_unet import target_and_weights, touching_cells  # noqa: E402


class Recorded(da.Array):
    """A dask array that records which thread reads it whole, when napari-unet asks.

    napari's own slices of it are plain dask arrays (not recorded): only a read of the
    layer's whole array, as the dock's copy is, counts.
    """

    reads: list

    def __array__(self, *args, **kwargs):
        ours = any("napari_unet" in f.f_code.co_filename for f in _frames())
        self.reads.append((threading.current_thread() is threading.main_thread(), ours))
        return super().__array__(*args, **kwargs)


def _frames():
    frame = sys._getframe(1)
    while frame is not None:
        yield frame
        frame = frame.f_back


def recorded(array: np.ndarray) -> Recorded:
    lazy = da.from_array(array, chunks=32)
    out = Recorded(lazy.dask, lazy.name, lazy.chunks, meta=lazy._meta)
    out.reads = []
    return out


def settle(qtbot, widget) -> None:
    qtbot.wait(50)
    qtbot.waitUntil(
        lambda: bool(
            widget._worker is None and not widget._timer.isActive() and not widget._pending
        ),
        timeout=20_000,
    )


def _dock(viewer):
    from napari_unet.widgets.weightmap import WeightMapWidget

    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    return widget


@pytest.fixture
def labels():
    return touching_cells((96, 96), n_cells=12, seed=3)[1].astype(np.int32)


@pytest.mark.parametrize("multiscale", [False, True])
def test_lazy_labels_are_read_by_the_worker_with_the_eager_result(
    make_napari_viewer, qtbot, labels, multiscale
):
    """Old: ``layer_array`` read the whole dask level on the GUI thread at Compute."""
    lazy = recorded(labels)
    viewer = make_napari_viewer()
    data = [lazy, lazy[::2, ::2]] if multiscale else lazy
    viewer.add_labels(data, name="cells", multiscale=multiscale)
    widget = _dock(viewer)
    widget._run.native.click()
    settle(qtbot, widget)
    ours = [main for main, by_us in lazy.reads if by_us]
    assert ours and not any(ours), lazy.reads  # read, by the worker only
    target, weights = target_and_weights(labels)
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, weights)
    np.testing.assert_array_equal(viewer.layers["cells target"].data, target)
    status = widget._status.value
    assert status.startswith(f"cells weights: {weights.min():.3g} to {weights.max():.3g}")
    assert f"cells {weights[target == 1].min():.3g}" in status


def test_zarr_labels_give_the_eager_result(make_napari_viewer, qtbot, labels):
    zarr = pytest.importorskip("zarr")
    stored = zarr.array(labels, chunks=(32, 32))
    viewer = make_napari_viewer()
    viewer.add_labels(stored, name="cells")
    widget = _dock(viewer)
    widget._run.native.click()
    settle(qtbot, widget)
    np.testing.assert_array_equal(
        viewer.layers["cells weights"].data, target_and_weights(labels)[1]
    )


def test_lazy_labels_replaced_while_read_are_computed_again(
    make_napari_viewer, qtbot, labels, runs
):
    """New data while the worker reads the old: that run is dropped, the new data computed."""
    lazy = recorded(labels)
    viewer = make_napari_viewer()
    layer = viewer.add_labels(lazy, name="cells")
    widget = _dock(viewer)
    reading, go = threading.Event(), threading.Event()
    real = Recorded.__array__

    def held(self, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread() and not go.is_set():
            reading.set()
            go.wait(30)  # new data lands on the GUI thread meanwhile
        return real(self, *args, **kwargs)

    Recorded.__array__ = held
    try:
        widget._run.native.click()
        qtbot.waitUntil(reading.is_set, timeout=10_000)
        other = touching_cells((96, 96), n_cells=8, seed=5)[1].astype(np.int32)
        layer.data = da.from_array(other, chunks=32)
        go.set()
        settle(qtbot, widget)
    finally:
        Recorded.__array__ = real
        go.set()
    assert len(runs) == 2  # the old data's run dropped, one more made
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, target_and_weights(other)[1])


class Watched(np.ndarray):
    """A map that records whole-map reductions napari-unet makes on the GUI thread."""

    seen: list = []

    def _note(self, what: str) -> None:
        ours = "napari_unet" in sys._getframe(2).f_code.co_filename
        if ours and threading.current_thread() is threading.main_thread():
            Watched.seen.append(what)

    def min(self, *args, **kwargs):
        self._note("min")
        return super().min(*args, **kwargs)

    def max(self, *args, **kwargs):
        self._note("max")
        return super().max(*args, **kwargs)

    def __eq__(self, other):
        self._note("==")
        return super().__eq__(other)

    def __getitem__(self, key):
        if isinstance(key, np.ndarray) and key.dtype == bool:
            self._note("mask")
        return super().__getitem__(key)


def test_the_status_figures_are_computed_off_the_gui_thread(
    make_napari_viewer, qtbot, labels, monkeypatch
):
    """Old: ``show_maps`` reduced the whole map (min, max, cells) on the GUI thread."""
    from napari_unet.widgets import weightmap

    real = weightmap.iter_target_and_weights

    def watched(labels, **kwargs):
        target, weights = yield from real(labels, **kwargs)
        return target.view(Watched), weights.view(Watched)

    monkeypatch.setattr(weightmap, "iter_target_and_weights", watched)
    monkeypatch.setattr(Watched, "seen", [])
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    widget = _dock(viewer)
    widget._run.native.click()
    settle(qtbot, widget)
    target, weights = target_and_weights(labels)
    assert widget._status.value.startswith(f"cells weights: {weights.min():.3g} to ")
    assert f"cells {weights[target == 1].min():.3g}" in widget._status.value
    assert Watched.seen == []


def test_the_status_names_the_layer_that_shows_the_map(make_napari_viewer, qtbot, labels):
    """The user's own "cells weights" is left alone; the line names the dock's layer."""
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    viewer.add_image(np.zeros(labels.shape, np.float32), name="cells weights")  # the user's
    widget = _dock(viewer)
    widget._run.native.click()
    settle(qtbot, widget)
    weights = target_and_weights(labels)[1]
    assert widget._status.value.startswith("cells weights [1]: "), widget._status.value
    np.testing.assert_array_equal(viewer.layers["cells weights [1]"].data, weights)
    assert not viewer.layers["cells weights"].data.any()
    widget._run.native.click()  # again: the same layer, still named
    settle(qtbot, widget)
    assert widget._status.value.startswith("cells weights [1]: "), widget._status.value
