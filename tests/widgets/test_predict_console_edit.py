"""Predict keeps a correction written into its result without napari's undo history.

A console line, a script or another plugin writes ``layer.data[...] = v`` and refreshes:
napari records no history of it. The Predict dock told edits by that history alone for a
while and wrote the next result over such a correction; layers of up to 64 MiB are compared
whole again (a review of the day's change found it).
"""

from __future__ import annotations

import pytest
from test_gui_stalls_hunt import _labels_names, _predict_dock

pytest.importorskip("napari")


def test_a_correction_written_from_the_console_is_kept(make_napari_viewer, tiny, run_predict):
    pytest.importorskip("torch")
    from napari_unet.widgets.predict import result_name

    viewer, widget = _predict_dock(make_napari_viewer, tiny)
    run_predict(widget)
    name = result_name("cells", "A")
    seg = viewer.layers[name]
    seg.data[5:15, 5:15] = 999  # the user's correction, written in place, no history
    seg.refresh()
    run_predict(widget)
    assert int(seg.data[5, 5]) == 999
    assert _labels_names(viewer) == [name, f"{name} 2"]  # the new result beside it
    assert "Kept your edits" in widget._status.value
