"""The Train dock on lazy (dask, zarr) layers: read by the worker, not the GUI thread.

Pressing Train on an OME-Zarr slide and its annotations read every full-resolution level
on the GUI thread (napari froze 3-4 s at 8192 x 8192). In-memory layers are still copied
there (napari paints them in place while the worker runs). Reads are recorded, never timed.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

pytest.importorskip("torch")
da = pytest.importorskip("dask.array")

from napari_unet import touching_cells  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


class Recorded(da.Array):
    """A dask array recording who reads it whole: (on the GUI thread, from napari-unet).

    napari's own slices of it are plain dask arrays, not recorded.
    """

    reads: list

    def __array__(self, *args, **kwargs):
        frame, ours = sys._getframe(1), False
        while frame is not None and not ours:
            ours, frame = "napari_unet" in frame.f_code.co_filename, frame.f_back
        self.reads.append((threading.current_thread() is threading.main_thread(), ours))
        return super().__array__(*args, **kwargs)


def recorded(array: np.ndarray) -> Recorded:
    lazy = da.from_array(array, chunks=48)
    out = Recorded(lazy.dask, lazy.name, lazy.chunks, meta=lazy._meta)
    out.reads = []
    return out


def _dock(viewer, tmp_path):
    from napari_unet.widgets.train import SCRATCH, TrainWidget

    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._preset.value = "tiny"
    widget._start_from.value = SCRATCH
    widget._steps.value = 2
    widget._batch.value = 1
    widget._crop.value = 48
    widget._val_every.value = 1000
    widget._val_image.value = "none"
    widget._device.value = "cpu"
    widget._save_path.value = tmp_path / "slide.unet.safetensors"
    return widget


def test_lazy_training_layers_are_read_by_the_worker(make_napari_viewer, qtbot, tmp_path):
    """Old: ``snapshot`` read both full-resolution levels on the GUI thread at Train."""
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    image, labels = recorded(img), recorded(lab.astype(np.int32))
    viewer = make_napari_viewer()
    viewer.add_image([image, image[::2, ::2]], name="slide", multiscale=True)
    viewer.add_labels([labels, labels[::2, ::2]], name="slide annotations", multiscale=True)
    widget = _dock(viewer, tmp_path)
    widget._labels_box.value = viewer.layers["slide annotations"]
    widget._start.native.click()
    qtbot.waitUntil(lambda: bool(widget._done.is_set() and widget._start.enabled), timeout=60_000)
    assert widget._result is not None and widget._result.steps_done == 2, widget._status.value
    for lazy in (image, labels):
        ours = [main for main, by_us in lazy.reads if by_us]
        assert ours and not any(ours), lazy.reads  # read, by the worker only


def test_snapshot_copies_memory_and_hands_lazy_data_on(make_napari_viewer):
    """A numpy layer is copied (it may be painted meanwhile); dask and zarr stay lazy."""
    zarr = pytest.importorskip("zarr")
    from napari_unet.widgets._train_helpers import snapshot

    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(lab, name="cells labels")
    lazy_image = viewer.add_image(da.from_array(img, chunks=32), name="lazy")
    lazy_labels = viewer.add_labels(zarr.array(lab, chunks=(32, 32)), name="lazy labels")
    data = snapshot([(image, labels, None), (lazy_image, lazy_labels, None)], "none", None)
    (copy_img, dask_img), (copy_lab, dask_lab) = data["images"], data["labels"]
    assert isinstance(copy_img, np.ndarray) and copy_img is not image.data
    assert isinstance(copy_lab, np.ndarray) and copy_lab is not labels.data
    assert isinstance(dask_img, da.Array) and isinstance(dask_lab, da.Array)
    np.testing.assert_array_equal(np.asarray(dask_lab), lab)
    np.testing.assert_array_equal(np.asarray(dask_img), img)


def _data(image, labels) -> dict:
    return {"images": [image], "labels": [labels], "regions": [None], "names": ["slide"],
            "val": [], "in_channels": None}  # fmt: skip


def test_a_failed_read_ends_the_run(monkeypatch):
    """A store that cannot be read: the error reaches the dock, and the run is done."""
    from napari_unet.widgets import _train_helpers as th

    def unreadable(block):
        raise OSError("the store went away")

    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    gone = da.from_array(lab, chunks=32).map_blocks(unreadable, dtype=lab.dtype)
    done = threading.Event()
    gen = th.read_then_train(_data(img, gone), None, {}, done)
    with pytest.raises(OSError, match="went away"):
        next(gen)
    assert done.is_set()


def test_a_stop_while_reading_trains_nothing(monkeypatch):
    from napari_unet.widgets import _train_helpers as th
    from napari_unet.widgets import _workers

    started = []
    monkeypatch.setattr(_workers, "train_job", lambda *args: started.append(args))
    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    stop, done = threading.Event(), threading.Event()
    stop.set()
    gen = th.read_then_train(_data(img, da.from_array(lab)), None, {"stop": stop}, done)
    with pytest.raises(StopIteration) as end:
        next(gen)
    assert end.value.value is None and done.is_set() and not started
