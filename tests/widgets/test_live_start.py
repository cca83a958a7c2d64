"""The Live dock's Start button loads the model in a thread; napari is not frozen meanwhile.

Loading the model froze napari for 0.5-2 s, most of a Start on an 8192 x 8192 image (its
normalisation, 1.4 s more, now happens on the trainer's thread).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("napari")


def _dock(make_napari_viewer, size: int = 256):
    """A viewer with a noise image, empty annotations and the Live dock (not started)."""
    from napari_unet.widgets.live import LiveWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(0).random((size, size)), name="cells")
    labels = viewer.add_labels(np.zeros((size, size), np.int32), name="cells annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image, labels
    return viewer, widget, labels


def _gated_loading(monkeypatch):
    """Model loading that waits for ``gate``; ``threads`` records where it ran."""
    from napari_unet.widgets import _exporting

    original, gate, done, threads = _exporting.load_model_file, threading.Event(), [], []

    def gated(path):
        threads.append(threading.current_thread())
        assert gate.wait(60)
        try:
            return original(path)
        finally:
            done.append(path)

    monkeypatch.setattr(_exporting, "load_model_file", gated)
    return gate, done, threads


def test_the_start_button_loads_the_model_in_a_thread(make_napari_viewer, qtbot, monkeypatch):
    _, widget, _ = _dock(make_napari_viewer)
    gate, done, threads = _gated_loading(monkeypatch)
    widget._start.native.click()
    qtbot.waitUntil(lambda: bool(threads), timeout=10_000)  # the GUI thread is free
    assert threads[0] is not threading.main_thread()
    assert widget.trainer is None and not widget._start.enabled
    assert widget._status.value.startswith("Loading the model")  # (auto chose ...)
    gate.set()
    qtbot.waitUntil(lambda: widget.trainer is not None and widget.trainer.running, timeout=60_000)
    assert widget._stop.enabled and not widget._start.enabled
    widget.stop()
    assert widget._start.enabled


def test_stopping_while_the_model_loads_starts_no_training(make_napari_viewer, qtbot, monkeypatch):
    _, widget, _ = _dock(make_napari_viewer)
    gate, done, _ = _gated_loading(monkeypatch)
    widget._start.native.click()
    widget.stop()  # closing the dock or napari calls stop()
    assert widget._start.enabled
    gate.set()
    qtbot.waitUntil(lambda: bool(done), timeout=60_000)
    qtbot.wait(300)  # the worker's result is delivered
    assert widget.trainer is None and widget._start.enabled


def test_a_model_file_that_fails_to_load_is_a_message(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.widgets.live import FILE

    _, widget, _ = _dock(make_napari_viewer)
    bad = tmp_path / "notes.safetensors"
    bad.write_text("not a model")
    widget._model_file.value = bad
    assert widget._model.value == FILE
    widget._start.native.click()
    qtbot.waitUntil(lambda: "could not load the model" in widget._status.value, timeout=30_000)
    assert widget.trainer is None and widget._start.enabled


def test_the_loader_thread_readies_the_optimiser():
    """The first optimiser a process makes imports torch._dynamo (1-2 s); Start built it on
    the GUI thread (most of Start's 2.3 s freeze at 8192 x 8192): the loader does it now."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from napari_unet.core.models.pretrained import pretrained_path\n"
        "from napari_unet.widgets._live_parts import _load_for_training\n"
        "model, meta = _load_for_training(pretrained_path('nuclei'))\n"
        "print('torch._dynamo' in sys.modules, meta['background'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["True", "dark"]
