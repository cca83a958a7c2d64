"""The Live dock's eleventh hunt: pickers changed while training, or while the model loads.

- The *annotated region* picker was read at Start only: picking *(painted cells only)*
  while training kept the removed rectangles as annotated background (and picking a Shapes
  layer used none), while the picker showed the new choice and nothing said so.
- With the model on *auto*, another image picked while the Start button loaded the model
  was trained with the model auto chose for the image picked at the click.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_live_hunt_fixes2 import _applied, _discs, _dock
from test_live_start import _gated_loading

pytest.importorskip("napari")


def _square(y0, y1, x0, x1):
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)


def _running(make_napari_viewer, qtbot, model_file, with_region: bool):
    """The Live dock training (paused) on discs, a Shapes layer of background; (dock, shapes)."""
    img, _ = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    shapes = viewer.add_shapes([_square(0, 40, 0, 40)], shape_type="rectangle", name="bg")
    dock = _dock(viewer, image, labels, model_file)
    dock.reset_choices()
    dock._annotated_box.value = shapes if with_region else None
    assert dock.start(), dock._status.value
    dock.trainer.pause()
    _applied(qtbot, dock.trainer)
    assert dock.trainer.data.region.any() == with_region
    return dock, shapes


def test_painted_cells_only_picked_while_training_drops_the_region(
    make_napari_viewer, qtbot, model_file
):
    dock, shapes = _running(make_napari_viewer, qtbot, model_file, with_region=True)
    trainer, link = dock.trainer, dock._link
    dock._annotated_box.value = None  # "(painted cells only)"
    said = dock._status.value
    _applied(qtbot, trainer)
    assert not trainer.data.region.any(), "the rectangles are still trained as background"
    assert dock._link is None and link.trainer is None  # no longer following the layer
    assert "painted cells only" in said
    dock._show_status()  # the status timer's refresh: still said
    assert "no annotated region (painted cells only) since step" in dock._status.value
    before = trainer.last_update
    shapes.add_rectangles(_square(50, 90, 50, 90))  # the layer no longer picked: nothing sent
    qtbot.wait(50)
    assert trainer.last_update == before and trainer.running
    dock.stop()
    assert trainer.error is None


def test_a_region_picked_while_training_is_used(make_napari_viewer, qtbot, model_file):
    dock, shapes = _running(make_napari_viewer, qtbot, model_file, with_region=False)
    trainer = dock.trainer
    dock._annotated_box.value = shapes
    said = dock._status.value
    _applied(qtbot, trainer)
    assert trainer.data.region[20, 20] and not trainer.data.region[60, 60], "no region used"
    assert "annotated region 'bg'" in said
    dock._show_status()
    assert "annotated region 'bg' since step" in dock._status.value
    shapes.add_rectangles(_square(50, 90, 50, 90))  # followed from now on
    qtbot.waitUntil(lambda: trainer.data.region[70, 70], timeout=10_000)
    dock.stop()
    assert trainer.error is None


def test_another_image_picked_while_the_model_loads_cancels_start(
    make_napari_viewer, qtbot, monkeypatch
):
    from napari_unet.widgets.live import LiveWidget

    img, _ = _discs()  # bright discs on a dark background: auto chooses nuclei
    viewer = make_napari_viewer()
    dark = viewer.add_image(img, name="dark")
    bright = viewer.add_image(255 - img, name="bright")  # auto: nuclei-brightfield
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="annotations")
    gate, loaded, _ = _gated_loading(monkeypatch)
    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    dock._image_box.value, dock._labels_box.value = bright, labels
    dock._start.native.click()
    try:
        assert "auto chose nuclei-brightfield" in dock._status.value
        dock._image_box.value = dark  # the image meant, picked while the model loads
        said = dock._status.value
    finally:
        gate.set()
    qtbot.waitUntil(lambda: bool(loaded), timeout=60_000)
    qtbot.wait(300)  # the worker's result is delivered
    assert dock.trainer is None, "the model auto chose for 'bright' trains 'dark'"
    assert dock._start.enabled  # Start again: auto chooses for 'dark'
    assert "Start cancelled" in said and "press Start live training" in said
    assert dock._status.value == said


def test_a_closed_dock_no_longer_accepts_clicks(make_napari_viewer, qtbot):
    """With click to accept on, closing the dock left its click callback on the viewer: a
    click still copied predicted objects, and no dock could turn it off."""
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", "Live")
    widget._click.value = True
    assert widget._on_click in viewer.mouse_drag_callbacks
    viewer.window.remove_dock_widget(dock)  # the dock's x button
    qtbot.waitUntil(lambda: widget._on_click not in viewer.mouse_drag_callbacks, timeout=5000)
