"""The Review dock's status line for an image it could not read, judged all the same.

Before, rejecting an unreadable last image (NaN pixels, a damaged file) said "None objects
from the model": Python's None, and a model that never ran on it (an odd-input hunt).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_review_dock_fixes import _dock

pytest.importorskip("torch")


def test_an_unread_image_judged_says_it_was_not_read(make_napari_viewer, qtbot, tmp_path):
    from napari_unet.sample_data import nuclei_data

    images = tmp_path / "images"
    images.mkdir()
    tifffile.imwrite(images / "a_ok.tif", nuclei_data()[0][:64, :64])
    tifffile.imwrite(images / "b_nan.tif", np.full((32, 32), np.nan, np.float32))
    viewer, widget = _dock(make_napari_viewer, qtbot, images, output=tmp_path / "out")
    widget.accept()  # on to the unreadable image
    qtbot.waitUntil(lambda: "NaN" in widget._status.value, timeout=60_000)
    widget.reject()
    qtbot.waitUntil(lambda: "rejected" in widget._status.value, timeout=10_000)
    status = widget._status.value
    assert "b_nan.tif: rejected; not read or predicted" in status, status
    assert "None" not in status and "from the model" not in status
