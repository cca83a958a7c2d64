"""Whole-image work kept off the GUI thread: Predict's result, Review's open, Weight map's Compute.

On 8192 x 8192 images these held the GUI thread for seconds: Predict copied (and at a
rerun compared) the whole result layer to tell the user's edits by; Review loaded its
built-in models (``import torch``) when opening a folder with nothing to predict; Weight
map copied the labels at each Compute. Work is counted here (bytes copied or compared on
the GUI thread, models loaded), never timed.
"""

from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("napari")


@contextlib.contextmanager
def gui_bytes(monkeypatch, at_least: int):
    """Arrays of ``at_least`` bytes napari-unet copies or compares on the GUI thread."""
    main, seen = threading.main_thread(), []
    real = {name: getattr(np, name) for name in ("array", "copy", "array_equal")}

    def counting(name):
        def wrapped(obj, *args, **kwargs):
            nbytes = getattr(obj, "nbytes", 0)
            ours = "napari_unet" in sys._getframe(1).f_code.co_filename  # not napari's
            if ours and threading.current_thread() is main and nbytes >= at_least:
                seen.append((name, nbytes))
            return real[name](obj, *args, **kwargs)

        return wrapped

    with monkeypatch.context() as patch:
        for name in real:
            patch.setattr(np, name, counting(name))
        yield seen


# -- A. Predict: what the dock wrote is remembered without a copy on the GUI thread ----------
def _predict_dock(make_napari_viewer, tiny):
    from napari_unet.sample_data import touching_cells_data
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells_data()[0], name="cells")
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="A")
    widget._image.value = image
    return viewer, widget


def _labels_names(viewer) -> list[str]:
    return [ly.name for ly in viewer.layers if type(ly).__name__ == "Labels"]


def test_predict_result_is_neither_copied_nor_compared_on_the_gui_thread(
    make_napari_viewer, tiny, run_predict, monkeypatch
):
    """Old: ``np.array(layer.data)`` at each result, ``array_equal`` over it at a rerun.

    Layers up to 64 MiB are compared whole (a write from the console has no history): the
    threshold is lowered here so that this small layer is told by its history, as a large one.
    """
    pytest.importorskip("torch")
    from napari_unet.widgets import _predict_place
    from napari_unet.widgets.predict import result_name

    monkeypatch.setattr(_predict_place, "FINGERPRINT_BYTES", 0)

    viewer, widget = _predict_dock(make_napari_viewer, tiny)
    name = result_name("cells", "A")
    whole = 384 * 384  # bytes of a uint8 layer: every whole-layer copy or comparison
    with gui_bytes(monkeypatch, whole) as seen:
        run_predict(widget)
        seg = viewer.layers[name]
        run_predict(widget)  # nothing painted: in place, nothing compared
    assert seen == []
    assert viewer.layers[name] is seg and _labels_names(viewer) == [name]

    before = np.array(seg.data)
    seg.data_setitem(np.nonzero(before == before.max()), 999)  # painted, then undone
    seg.undo()
    run_predict(widget)  # compared (the history moved): no edit, in place
    assert _labels_names(viewer) == [name]

    seg.data_setitem((np.array([5]), np.array([5])), 999)  # a correction
    run_predict(widget)
    assert _labels_names(viewer) == [name, f"{name} 2"]  # kept in its layer
    assert seg.data[5, 5] == 999


# -- C. Weight map: the labels copied in the worker, a copy torn by an edit computed again --
@pytest.fixture
def wm_dock(make_napari_viewer):
    from napari_unet import touching_cells
    from napari_unet.widgets.weightmap import WeightMapWidget

    labels = touching_cells((96, 96), n_cells=12, seed=3)[1].astype(np.int32)
    viewer = make_napari_viewer()
    layer = viewer.add_labels(labels, name="cells")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    return viewer, widget, layer


def test_compute_copies_no_labels_on_the_gui_thread(wm_dock, qtbot, monkeypatch):
    """Old: ``layer_array`` copied the labels (and a checksum read them) at each Compute."""
    from test_weightmap_outputs import settle

    from napari_unet import target_and_weights

    viewer, widget, layer = wm_dock
    with gui_bytes(monkeypatch, layer.data.nbytes) as seen:
        widget._run.native.click()
        settle(qtbot, widget)
        widget._run.native.click()
        settle(qtbot, widget)
    assert seen == []
    expected = target_and_weights(np.array(layer.data))[1]
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, expected)


def test_an_edit_during_the_copy_never_shows_a_torn_map(wm_dock, qtbot, monkeypatch, runs):
    """The worker's copy read half before a stroke and half after: dropped, computed again."""
    from test_weightmap_outputs import settle

    from napari_unet import target_and_weights

    viewer, widget, layer = wm_dock
    main, real = threading.main_thread(), np.array
    copied, go = threading.Event(), threading.Event()

    def torn_copy(obj, *args, **kwargs):
        out = real(obj, *args, **kwargs)
        if threading.current_thread() is not main and obj is layer.data and not go.is_set():
            copied.set()
            go.wait(30)  # the stroke lands on the GUI thread now
            out[48:] = obj[48:]  # the second half read after it: a torn copy
        return out

    monkeypatch.setattr(np, "array", torn_copy)
    widget._run.native.click()
    qtbot.waitUntil(copied.is_set, timeout=30_000)
    layer.data_setitem((np.arange(20, 80), np.full(60, 50)), 77)  # across both halves
    go.set()
    settle(qtbot, widget)
    assert len(runs) == 2  # the torn copy's run dropped, one more made
    expected = target_and_weights(real(layer.data))[1]
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, expected)


# -- B. Review: opening a folder with auto loads no model on the GUI thread -----------------
def test_opening_a_labelled_folder_loads_no_model_on_the_gui_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Old: ``prepare_open`` loaded both built-in models (``import torch``) on the GUI thread."""
    from test_review_autosave_thread import _folder
    from test_review_dock_fixes import _dock as _open

    from napari_unet.core.images.io import read_image
    from napari_unet.core.review.prefetch import Prefetcher
    from napari_unet.widgets import _exporting, _review_auto

    main, loads = threading.main_thread(), []
    real = _exporting.load_model_file

    def recorded(*args, **kwargs):
        loads.append(threading.current_thread() is main)
        return real(*args, **kwargs)

    monkeypatch.setattr(_exporting, "load_model_file", recorded)
    images, labels = _folder(tmp_path, 64)
    viewer, widget = _open(make_napari_viewer, qtbot, images, labels_folder=labels)
    prefetcher = widget.prefetcher
    assert isinstance(prefetcher, _review_auto.AutoPrefetcher) and widget._form.model.value
    assert loads and not any(loads)  # loaded, in the prefetch thread
    beside = read_image(labels / f"{widget.current_name.split('.')[0]}_labels.tif", labels=True)
    np.testing.assert_array_equal(widget._labels_layer.data, beside)  # nothing predicted
    assert set(prefetcher.models) == set(_review_auto.builtin_models())
    # Every attribute the base class sets, set before its thread loads the models.
    eager = _review_auto.AutoPrefetcher(widget.review, _review_auto.builtin_models())
    eager.close()
    assert set(vars(eager)) == set(vars(prefetcher))
    assert isinstance(eager, Prefetcher) and prefetcher.keys_of({"nuclei"})


def test_auto_models_that_fail_to_load_leave_no_gui_thread_waiting(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Old: a MemoryError loading the built-in models left ``models`` waiting for good."""
    from test_review_autosave_thread import _folder

    from napari_unet.widgets import _review_auto
    from napari_unet.widgets.review import ReviewWidget

    def failing():
        raise MemoryError

    monkeypatch.setattr(_review_auto, "builtin_models", failing)
    images, _ = _folder(tmp_path, 64)
    viewer = make_napari_viewer(show=False)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = images
    assert widget.open()
    prefetcher, got = widget.prefetcher, {}
    reader = threading.Thread(target=lambda: got.update(models=prefetcher.models), daemon=True)
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "models still waiting for the prefetch thread"
    assert got["models"] == {} and prefetcher.keys_of({"nuclei"}) == set()
    for name in widget.review.names:
        assert "the built-in models could not be loaded: MemoryError" in prefetcher.error(name)
    # What a stand-in over no models opens (before: StopIteration on the GUI thread).
    empty = _review_auto.AutoPrefetcher(widget.review, {})
    try:
        assert empty.models == {} and "could not be loaded" in empty.error(widget.current_name)
    finally:
        empty.close()
