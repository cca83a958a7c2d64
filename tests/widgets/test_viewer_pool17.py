"""The napari viewer kept between tests comes back to each test as a new one would be."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

import viewer_pool  # noqa: E402


def test_a_kept_viewer_is_put_back_as_it_was_made(make_napari_viewer):
    from magicgui.widgets import Container

    viewer = make_napari_viewer()
    assert viewer is viewer_pool._Kept.viewer  # the first plain viewer of a test is the kept one
    viewer.add_image(np.zeros((2, 8, 8)), name="stack")
    viewer.window.add_dock_widget(Container(), name="a dock")
    viewer.dims.ndisplay = 3
    viewer.canvas.grid.enabled = True
    viewer.title = "changed"
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.bind_key("Shift-F12", lambda v: None)
    viewer_pool._reset(viewer)
    assert len(viewer.layers) == 0 and not viewer.window.dock_widgets
    assert viewer.dims.ndisplay == 2 and viewer.dims.ndim == 2
    assert not viewer.canvas.grid.enabled and not viewer.canvas.overlays.scale_bar.visible
    assert viewer.title == viewer_pool._Kept.state["title"]
    assert "Shift-F12" not in {str(k) for k in viewer.keymap}


def test_a_second_viewer_or_a_shown_one_is_new(make_napari_viewer):
    kept = make_napari_viewer()
    other = make_napari_viewer()
    assert other is not kept and viewer_pool._alive(kept) and viewer_pool._alive(other)


@pytest.mark.fresh_viewer
def test_a_fresh_viewer_test_gets_a_new_one(make_napari_viewer):
    assert make_napari_viewer() is not viewer_pool._Kept.viewer


def test_a_closed_kept_viewer_is_not_handed_out_again(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.window._qt_window.close()  # the window's close button
    assert not viewer_pool._alive(viewer)


def test_a_dock_left_alive_is_disconnected_from_the_kept_viewer(make_napari_viewer):
    from magicgui.widgets import Container

    viewer = make_napari_viewer()
    seen = []

    class Dock(Container):
        def on_inserted(self, event):
            seen.append(event.value.name)

    dock = Dock()  # kept alive here, as a worker napari keeps would keep a dock
    viewer.layers.events.inserted.connect(dock.on_inserted)
    viewer.layers.events.inserted.connect(lambda e: seen.append("plain"))
    viewer.add_image(np.zeros((4, 4)), name="a")
    assert seen == ["a", "plain"]
    viewer_pool._reset(viewer)
    viewer.add_image(np.zeros((4, 4)), name="b")
    assert seen == ["a", "plain"]  # neither the dock's method nor the test's function
    assert viewer.window._qt_viewer.layers.model().rowCount() == 1  # napari's own still work
