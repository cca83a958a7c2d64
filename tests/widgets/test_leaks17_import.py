"""Import TIFF lets go of the TIFF it read once it has written it (napari keeps workers).

Before, each import's worker kept the imported TIFF and a copy of the annotations for the
life of the window.
"""

from __future__ import annotations

import weakref

import numpy as np
import tifffile
from test_leaks17_workers import WORKER_MS, _annotating, _gone

from napari_unet.widgets import _annotate_work


def test_an_import_lets_go_of_the_tiff_it_read(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    _viewer, dock, labels = _annotating(make_napari_viewer, qtbot, tmp_path)
    dock._saver.enabled = False  # only the import is measured
    cells = np.zeros((64, 96), np.uint16)
    cells[5:15, 5:15], cells[30:40, 50:70] = 1, 2
    mask = tmp_path / "mask.tif"
    tifffile.imwrite(mask, cells)
    seen, real = [], _annotate_work._changes

    def spy(data, current):
        seen.append(weakref.ref(data))  # (current is the layer's own array)
        return real(data, current)

    monkeypatch.setattr(_annotate_work, "_changes", spy)
    dock._tiff_path.value = mask
    dock._import_btn.native.click()
    qtbot.waitUntil(lambda: bool(labels.editable and np.asarray(labels.data).max() == 2),
                    timeout=WORKER_MS)  # fmt: skip
    qtbot.waitUntil(lambda: bool(dock._import_btn.enabled), timeout=WORKER_MS)
    assert len(seen) == 1
    _gone(qtbot, seen[0])  # before: the worker kept it (and a copy) for good
