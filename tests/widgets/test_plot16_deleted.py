"""The training plot's render thread when Qt deletes the widget under it.

Before, the thread emitted the widget's own signal: a dock collected while a picture was
being drawn (the Train dock never docked, dropped) crashed the test process with a
segmentation fault in ``_render_loop``, and the thread ran on after the widget was gone.
"""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")


def test_deleting_the_widget_stops_its_render_thread(qtbot):
    from qtpy import sip

    from napari_unet.widgets.plot import TrainingPlot

    plot = TrainingPlot(min_interval=0.0)
    qtbot.waitUntil(lambda: bool(plot.n_draws), timeout=10000)  # the first picture shown
    thread, pictures = plot._thread, getattr(plot, "_pictures", None)
    sip.delete(plot)  # as Qt deletes a collected dock's children
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=5000)  # before: ran on
    pictures.picture.emit(None)  # a picture drawn meanwhile reaches nobody, quietly
    qtbot.wait(20)
