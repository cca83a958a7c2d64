"""The Weight map dock in a real viewer: layers appear, follow changes, never pile up work."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import target_and_weights, touching_cells
from napari_unet.widgets import weightmap as weightmap_module
from napari_unet.widgets.weightmap import WeightMapWidget


def idle(widget: WeightMapWidget) -> bool:
    return widget._worker is None and not widget._timer.isActive() and not widget._pending


def settle(qtbot, widget: WeightMapWidget) -> None:
    qtbot.wait(50)
    qtbot.waitUntil(lambda: idle(widget), timeout=20000)


@pytest.fixture
def setup(make_napari_viewer, qtbot, runs):
    _, labels = touching_cells((128, 128), n_cells=25, seed=2)
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells", scale=(0.5, 0.5))
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    settle(qtbot, widget)
    assert runs == [] and len(viewer.layers) == 1  # opening the dock computes nothing
    viewer.layers.selection.active = viewer.layers["cells"]
    widget._run.native.click()  # asked
    settle(qtbot, widget)
    return viewer, widget, labels


def test_layers_appear_with_colormap_and_match_the_core(setup, runs):
    viewer, widget, labels = setup
    assert len(runs) == 1  # computed once, off the GUI thread, when asked
    weights = viewer.layers["cells weights"]
    target = viewer.layers["cells target"]
    ref_t, ref_w = target_and_weights(labels)
    np.testing.assert_array_equal(weights.data, ref_w)
    np.testing.assert_array_equal(target.data, ref_t)
    assert weights.colormap.name == "inferno"
    assert weights.contrast_limits == pytest.approx([0.0, float(ref_w.max())])
    assert tuple(weights.scale) == (0.5, 0.5) and tuple(target.scale) == (0.5, 0.5)
    assert "cells weights" in widget._status.value
    # The active layer is still the one being painted, not the new target.
    assert viewer.layers.selection.active is viewer.layers["cells"]
    # The result layers are marked for display and no dock offers them as inputs.
    assert [name for name, _ in widget._labels_choices()] == ["cells"]
    from napari_unet.widgets.annotate import AnnotateWidget
    from napari_unet.widgets.predict import PredictWidget
    from napari_unet.widgets.train import TrainWidget

    train, predict, annotate = TrainWidget(viewer), PredictWidget(viewer), AnnotateWidget(viewer)
    offered = {c.name for w in (train._image, train._labels_box, predict._image) for c in w.choices}
    offered |= {name for name, _ in annotate._image_choices() + annotate._prediction_choices()}
    assert offered == {"cells"}


def test_recomputes_on_settings_and_paint_without_piling_up(setup, qtbot, runs):
    viewer, widget, labels = setup
    widget._live.value = True  # switched on: recomputed at once (nothing else changed)
    settle(qtbot, widget)
    assert len(runs) == 2
    del runs[1:]
    for value in (12.0, 14.0, 16.0, 18.0, 20.0):  # a burst of changes: debounced
        widget._w0.value = value
    widget._sigma.value = 3.0
    settle(qtbot, widget)
    assert len(runs) == 2
    ref = target_and_weights(labels, w0=20.0, sigma=3.0)[1]
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, ref)
    # Painting (here: replacing the data) re-runs it too.
    layer = viewer.layers["cells"]
    edited = labels.copy()
    edited[:20, :20] = labels.max() + 1
    layer.data = edited
    settle(qtbot, widget)
    assert len(runs) == 3
    np.testing.assert_array_equal(
        viewer.layers["cells weights"].data, target_and_weights(edited, w0=20.0, sigma=3.0)[1]
    )
    # A paint stroke (here: one dab of the brush) re-runs it too.
    layer.brush_size = 5
    layer.paint((60, 60), 99)
    settle(qtbot, widget)
    assert len(runs) == 4
    np.testing.assert_array_equal(
        viewer.layers["cells weights"].data,
        target_and_weights(layer.data, w0=20.0, sigma=3.0)[1],
    )
    # Changes while a computation runs queue exactly one more run.
    widget._start()
    widget._gap.value = 1
    widget._start()
    widget._start()
    settle(qtbot, widget)
    assert len(runs) == 6
    assert runs[-1]["gap"] == 1
    assert len([lyr for lyr in viewer.layers if lyr.name == "cells weights"]) == 1


def test_shapes_region_mask_and_three_classes(setup, qtbot):
    viewer, widget, labels = setup
    # Drawn on the labels' grid (scale 0.5): its vertices are the labels' pixels.
    square = np.array([[0, 0], [0, 60], [60, 60], [60, 0]])
    viewer.add_shapes([square], name="region", scale=(0.5, 0.5))
    widget._mask.value = viewer.layers["region"]
    widget._mode.value = "3class"
    widget._class_weights.value = "none"
    widget._run.native.click()
    settle(qtbot, widget)
    mask = np.zeros(labels.shape, bool)
    mask[:61, :61] = True
    ref_t, ref_w = target_and_weights(labels, mask=mask, mode="3class", class_weights="none")
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, ref_w)
    np.testing.assert_array_equal(viewer.layers["cells target"].data, ref_t)


def test_manual_mode_stack_and_errors(make_napari_viewer, qtbot, errors, runs):
    viewer = make_napari_viewer()
    stack = np.stack([touching_cells((64, 64), 10, seed=s)[1] for s in range(3)])
    viewer.add_labels(stack, name="movie")
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="small region")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._live.value = False
    widget._show_target.value = False
    settle(qtbot, widget)
    widget._labels_box.value = viewer.layers["movie"]
    widget._mask.value = viewer.layers["small region"]
    widget._run.native.click()
    settle(qtbot, widget)
    assert errors and "same" in errors[-1] and "Error" in widget._status.value
    widget._mask.value = None
    widget._run.native.click()
    settle(qtbot, widget)
    assert viewer.layers["movie weights"].data.shape == stack.shape
    assert "movie target" not in viewer.layers
    np.testing.assert_array_equal(viewer.layers["movie weights"].data, target_and_weights(stack)[1])
    viewer.add_shapes(name="empty")
    widget._mask.value = viewer.layers["empty"]
    widget._run.native.click()
    assert "no shapes" in errors[-1]
    # A Labels region not painted yet is no mistake: nothing is annotated, all weights 0.
    n_errors = len(errors)
    viewer.add_labels(np.zeros_like(stack), name="to paint")
    widget._mask.value = viewer.layers["to paint"]
    widget._run.native.click()
    settle(qtbot, widget)
    assert len(errors) == n_errors
    assert not viewer.layers["movie weights"].data.any()


def test_a_background_tab_computes_nothing_until_it_is_shown(make_napari_viewer, qtbot, runs):
    """An unused Weight map tab adds no layers (the demo docks it behind the Predict tab)."""
    from magicgui.widgets import Label

    _, labels = touching_cells((96, 96), n_cells=12, seed=4)
    viewer = make_napari_viewer(show=True)
    viewer.add_labels(labels, name="cells")
    widget = WeightMapWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Weight map")
    viewer.window.add_dock_widget(Label(value="another dock"), name="front", tabify=True)
    qtbot.waitUntil(lambda: widget.native.visibleRegion().isEmpty(), timeout=5000)
    widget._live.value = True
    widget._w0.value = 12.0  # a change while out of sight
    qtbot.wait(weightmap_module.DEBOUNCE_MS + 200)
    settle(qtbot, widget)
    assert runs == [] and "cells weights" not in viewer.layers
    dock.raise_()  # the user opens the tab: the map is computed then
    qtbot.waitUntil(lambda: "cells weights" in viewer.layers, timeout=20000)
    settle(qtbot, widget)
    assert len(runs) == 1 and runs[0]["w0"] == 12.0


def test_a_long_error_wraps_and_never_widens_the_dock(
    make_napari_viewer, qtbot, errors, monkeypatch
):
    """Issue 16, point 6: one long message used to widen a dock for good."""
    path = "/".join(["a_folder_with_a_rather_long_name"] * 30)  # no space to wrap at

    def failing(labels, **kwargs):
        raise OSError(f"cannot write {path}")
        yield  # a generator, as the real one

    viewer = make_napari_viewer(show=True)
    viewer.add_labels(touching_cells((64, 64), 8, seed=1)[1], name="cells")
    widget = WeightMapWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Weight map")
    settle(qtbot, widget)
    width, hint = dock.width(), widget.native.minimumSizeHint().width()
    height = widget._status.native.height()
    monkeypatch.setattr(weightmap_module, "iter_target_and_weights", failing)
    widget._run.native.click()
    settle(qtbot, widget)
    assert path in errors[-1]  # the notification carries the full text
    assert widget._status.value.startswith("Error: Weight map: cannot write")
    assert dock.width() == width and widget.native.minimumSizeHint().width() <= hint
    # Grown to show the error (before, two lines cut it off), up to 12 lines: the hover shows
    # the rest of a path this long.
    status = widget._status.native
    assert height < status.height() <= 12 * status.fontMetrics().lineSpacing() + 4


def test_a_recomputed_map_follows_the_labels_layer_and_drops_a_stale_target(setup, qtbot):
    viewer, widget, _ = setup
    cells = viewer.layers["cells"]
    cells.rotate, cells.translate = 30, (5, 7)  # moved after the first map
    widget._show_target.value = False
    widget._w0.value = 12.0
    widget._run.native.click()
    settle(qtbot, widget)
    weights = viewer.layers["cells weights"]
    np.testing.assert_allclose(weights.rotate, cells.rotate)
    assert tuple(weights.translate) == (5, 7) and tuple(weights.scale) == (0.5, 0.5)
    assert "cells target" not in viewer.layers  # it was of the earlier settings


def test_a_users_own_layers_of_those_names_are_never_written_over(
    make_napari_viewer, qtbot, runs
):
    """A layer named `<labels> weights` or `<labels> target` was reused whoever made it:
    the user's weights from the command line, or painted labels, were replaced."""
    _, labels = touching_cells((64, 64), n_cells=6, seed=1)
    viewer = make_napari_viewer()
    viewer.add_labels(labels, name="cells")
    mine = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    viewer.add_image(mine, name="cells weights")
    painted = np.zeros((64, 64), np.int32)
    painted[40:60, 40:60] = 3
    viewer.add_labels(painted, name="cells target")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    widget._labels_box.value = viewer.layers["cells"]
    for _ in range(2):  # the second run reuses the dock's own layers
        widget._run.native.click()
        settle(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers["cells weights"].data, mine)
    np.testing.assert_array_equal(viewer.layers["cells target"].data, painted)
    assert len(viewer.layers) == 5
    ours = viewer.layers["cells weights [1]"].data
    np.testing.assert_array_equal(ours, target_and_weights(labels)[1])
    widget._w0.value = 12.0
    widget._run.native.click()
    viewer.layers.remove("cells")  # while it computes
    settle(qtbot, widget)
    assert "removed" in widget._status.value
