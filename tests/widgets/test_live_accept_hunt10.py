"""The Live dock's accepts and the Annotate dock: nothing is written into a read-only layer.

Each test fails on the docks before the fix: Live's *Accept all* (and a click) wrote into
the annotations while the Annotate dock's *Accept prediction* ran on them (both took their
new ids from the same state, and the Annotate accept then wrote its cells over Live's), and
into a layer no Annotate session saved any more (the cells showed but were never saved);
the Annotate accept wrote its precomputed pixels over cells written meanwhile.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import ndimage
from test_annotate_hunt5 import WORKER_MS, _widget
from test_live_hunt_fixes2 import _discs, _dock, _started

pytest.importorskip("napari")


def _held_accepts(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Accepts wait in their worker, the layer read and the cells chosen (``read`` set),
    until ``gate`` is set: ``(gate, read)``."""
    from napari_unet.widgets import _session

    gate, read, real = threading.Event(), threading.Event(), _session.acceptance_job

    def held(*args, **kwargs):
        job = real(*args, **kwargs)

        def run():
            result = job()
            read.set()
            gate.wait(WORKER_MS / 1000)
            return result

        return run

    monkeypatch.setattr(_session, "acceptance_job", held)
    return gate, read


def _pieces(data, cell) -> int:
    return ndimage.label(data == cell, structure=np.ones((3, 3)))[1]


def _one_piece_each(data) -> bool:
    return all(_pieces(data, c) == 1 for c in np.unique(data[data > 0]))


def _accept_done(widget) -> bool:
    return bool(widget._annotations.editable and widget._accept_btn.enabled)


def _extra_cell(truth):
    """A predicted object where no disc lies (for an accept after the refusals)."""
    yy, xx = np.mgrid[: truth.shape[0], : truth.shape[1]]
    more = truth.copy()
    more[(yy - 40) ** 2 + (xx - 40) ** 2 <= 25] = 9
    return more


def _docks(make_napari_viewer, qtbot, tmp_path, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    annotate = _widget(viewer, image, tmp_path / "proj")
    labels = annotate._annotations
    live = _dock(viewer, image, labels, model_file)
    _started(qtbot, live)
    live._live.data[...] = truth
    return viewer, annotate, live, labels, truth


def test_live_accepts_wait_for_annotates_accept_prediction(
    make_napari_viewer, qtbot, tmp_path, errors, model_file, monkeypatch
):
    """Before, Accept all wrote 4 cells into the locked layer during the accept (ids from
    the same state as the accept's), which then wrote its own pixels over them."""
    from napari_unet.widgets._live_accept import _click_accept

    gate, read = _held_accepts(monkeypatch)
    viewer, annotate, live, labels, truth = _docks(make_napari_viewer, qtbot, tmp_path, model_file)
    annotate._prediction_combo.value = viewer.add_labels(truth, name="cells segmentation (m)")
    annotate._accept_btn.native.click()
    qtbot.waitUntil(read.is_set, timeout=WORKER_MS)  # its cells chosen, as in the repro
    assert not labels.editable
    errors.clear()
    assert live.accept_in_region() == 0
    assert "the Annotate dock is writing into it (Accept prediction" in live._status.value
    assert errors and "read-only" in errors[-1]
    _click_accept(live, 20, 20)  # a click on disc 1
    assert "the Annotate dock is writing into it (Accept prediction" in live._status.value
    live._show_status()  # the status timer's refresh keeps saying why
    assert "accepting is off" in live._status.value
    assert not np.any(labels.data), "Live wrote into the layer the accept writes into"
    gate.set()
    qtbot.waitUntil(lambda: _accept_done(annotate), timeout=WORKER_MS)
    data = np.asarray(labels.data)
    assert "Accepted 4 predicted cells" in annotate._status.value
    assert np.array_equal(data > 0, truth > 0) and _one_piece_each(data)
    live._live.data[...] = _extra_cell(truth)  # the accept done: Live accepts again
    assert live.accept_in_region() == 1
    data = np.asarray(labels.data)
    assert data[40, 40] == data.max() == 5 and _one_piece_each(data)
    live._show_status()
    assert "accepting is off" not in live._status.value
    live.stop()


def test_an_accept_into_a_layer_changed_meanwhile_writes_nothing(
    make_napari_viewer, qtbot, tmp_path, errors, model_file, monkeypatch
):
    """Before, the accept wrote its precomputed cells over those written meanwhile (by code
    that ignores the layer's read-only state), with the same ids."""
    gate, read = _held_accepts(monkeypatch)
    viewer, annotate, live, labels, truth = _docks(make_napari_viewer, qtbot, tmp_path, model_file)
    annotate._prediction_combo.value = viewer.add_labels(truth, name="cells segmentation (m)")
    annotate._accept_btn.native.click()
    qtbot.waitUntil(read.is_set, timeout=WORKER_MS)  # the worker has read the layer
    labels.data_setitem(np.nonzero(truth == 1), 1)  # a script's cell, where disc 1 lies
    labels.data_setitem(np.nonzero(_extra_cell(truth) == 9), 2)  # id 2, elsewhere
    before = np.array(labels.data, copy=True)
    errors.clear()
    gate.set()
    qtbot.waitUntil(lambda: _accept_done(annotate), timeout=WORKER_MS)
    assert "press Accept prediction again" in annotate._status.value and errors
    np.testing.assert_array_equal(labels.data, before)  # nothing written
    annotate._accept_btn.native.click()  # again, from the layer as it is now
    qtbot.waitUntil(lambda: _accept_done(annotate), timeout=WORKER_MS)
    data = np.asarray(labels.data)
    assert "Accepted 3 predicted cells" in annotate._status.value
    assert np.array_equal(data > 0, (truth > 0) | (before > 0)) and _one_piece_each(data)
    live.stop()


def test_live_accepts_nothing_into_a_layer_no_session_saves(
    make_napari_viewer, qtbot, tmp_path, errors, model_file
):
    """Before, Start on another image left 'cells annotations' read-only (no session saves
    it) and Live's Accept all still wrote 4 cells into it: shown, never saved."""
    viewer, annotate, live, labels, truth = _docks(make_napari_viewer, qtbot, tmp_path, model_file)
    other = viewer.add_image(np.zeros((32, 32), np.uint8), name="other")
    annotate._image_combo.value = other
    annotate._folder.value = tmp_path / "other proj"
    annotate._start_btn.native.click()
    assert annotate._image is other and not labels.editable
    errors.clear()
    assert live.accept_in_region() == 0
    assert "no Annotate session saves it" in live._status.value and errors
    assert not np.any(labels.data)
    annotate._image_combo.value = live._image  # its session again: Live accepts
    annotate._folder.value = tmp_path / "proj"
    annotate._start_btn.native.click()
    assert annotate._annotations is labels and labels.editable
    assert live.accept_in_region() == 4
    assert np.array_equal(labels.data > 0, truth > 0)
    live.stop()
