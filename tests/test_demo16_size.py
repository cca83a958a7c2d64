"""``napari-unet demo --size`` small: the sample still shows beside the docks, or a message.

Before, at 800x600 the docks took all but a 17 px strip of the window and the screenshot
showed none of the sample; below 800x600 nothing can show, so such a size is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.cli import demo
from napari_unet.core.errors import InputError


@pytest.mark.parametrize("text", ["700x600", "800x500", "400x300"])
def test_a_size_too_small_for_the_sample_is_refused_naming_the_smallest(text):
    with pytest.raises(InputError, match="at least 800x600"):
        demo._parse_size(text)


def test_the_smallest_size_is_accepted():
    assert demo._parse_size("800x600") == (800, 600)


def test_at_800x600_the_whole_sample_shows_in_a_useful_canvas(qtbot, monkeypatch):
    from qtpy.QtWidgets import QApplication

    monkeypatch.setattr(demo, "_fit_screen", lambda s: s)  # a screen at least that large
    viewer = demo.build_viewer("touching_cells", (800, 600), show=True)
    try:
        for _ in range(10):
            QApplication.processEvents()
        assert len(viewer.window.dock_widgets) == 6  # every plugin dock is still there
        height, width = (int(v) for v in viewer.canvas.size[-2:])
        assert width >= 300 and height >= 300, (height, width)
        cam = viewer.scene.camera
        half = np.asarray((height, width), float) / cam.zoom / 2
        low, high = np.asarray(cam.center[-2:], float) - half, cam.center[-2:] + half
        extent = np.asarray(viewer.layers[0].extent.world, float)[:, -2:]
        assert np.all(low <= extent[0] + 0.5) and np.all(high >= extent[1] - 0.5)
        assert np.max((extent[1] - extent[0]) / (high - low)) > 0.8  # fitted, not a speck
    finally:
        viewer.close()
