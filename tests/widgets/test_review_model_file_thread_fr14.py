"""Opening a folder with a model file loads the model in the review's prefetch thread.

Old: *Open folder* with an explicit model (``nuclei (built-in)``, or a model file) read the
file and built the network on the GUI thread: napari froze for seconds at each Open. A file
that is no model file is still refused at Open, the open review left running.
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("napari")
pytest.importorskip("torch")


def test_an_explicit_model_file_is_loaded_off_the_gui_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from test_review_autosave_thread import _folder
    from test_review_dock_fixes import _dock as _open

    from napari_unet.widgets import _exporting
    from napari_unet.widgets._predict_models import BUILTIN

    main, loads = threading.main_thread(), []
    real = _exporting.load_model_file

    def recorded(*args, **kwargs):
        loads.append(threading.current_thread() is main)
        return real(*args, **kwargs)

    monkeypatch.setattr(_exporting, "load_model_file", recorded)
    images, labels = _folder(tmp_path, 48)
    _viewer, widget = _open(make_napari_viewer, qtbot, images, labels_folder=labels, model=BUILTIN)
    qtbot.waitUntil(lambda: bool(widget.prefetcher.key), timeout=60_000)  # the thread loaded it
    assert loads == [False]  # once, and not on the GUI thread
    widget.shutdown()


def test_a_broken_model_file_is_refused_at_open(make_napari_viewer, qtbot, tmp_path):
    from test_review_autosave_thread import _folder
    from test_review_dock_fixes import _dock as _open

    from napari_unet.widgets._review_form import FILE

    images, labels = _folder(tmp_path, 48)
    _viewer, widget = _open(make_napari_viewer, qtbot, images, labels_folder=labels)
    review = widget.review
    broken = tmp_path / "broken.unet.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    widget._form.model.value = FILE
    widget._form.model_file.value = broken
    assert not widget.open()
    assert str(broken) in widget._status.value and "corrupted" in widget._status.value
    assert widget.review is review and widget._next.enabled  # the open review runs on
    widget.shutdown()
