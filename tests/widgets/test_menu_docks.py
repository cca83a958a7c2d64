"""Docks opened from the Plugins menu hold napari's own viewer and layers, not proxies.

napari gives a plugin dock a proxy of the viewer, and a new proxy of each layer read through
it, so a layer the dock made never ``is`` the one an event names: in a dock from the menu
(the way a biologist opens them), deleting the annotated-region layer went unnoticed.
"""

from __future__ import annotations

import napari
import numpy as np
import pytest

DOCKS = ["Annotate", "Weight map", "Train", "Predict", "Review", "Live"]


@pytest.mark.parametrize("name", DOCKS)
def test_a_menu_dock_sees_napari_own_layers(make_napari_viewer, name):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((32, 32), np.float32), name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unet", name)
    assert type(widget._viewer) is napari.Viewer
    assert widget._viewer.layers["cells"] is image


def test_a_menu_annotate_dock_notices_its_region_layer_removed(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(0).random((48, 48)), name="cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-unet", "Annotate")
    widget._image_combo.value = image
    widget._folder.value = tmp_path / "project"
    widget._start_btn.native.click()
    region = widget._region
    assert region is not None and region in viewer.layers
    viewer.layers.remove(region)
    assert widget._region is None
    assert "Annotated region layer removed" in widget._status.value
