"""The Predict dock's results lie on the image, spare the user's layers, and stop with the dock.

Before: the result (and the probabilities) of a rotated, sheared or affine-transformed image
got only its scale and translate, so it lay beside the cells; "current view/plane only"
predicted another part of a rotated image than the one on screen; "also add probabilities"
removed or overwrote a user's own layer named ``"<image> probabilities"`` (a map from
another tool); and removing the dock mid-run still added its result afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets._layers import camera  # noqa: E402
from napari_unet.widgets.predict import VIEW, PredictWidget, result_name  # noqa: E402

SHEAR = [[1.0, 0.2], [0.0, 1.0]]


def _dock(viewer, tiny, layer, add=True):
    widget = PredictWidget(viewer)
    if add:
        viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = layer
    return widget


def _on_the_image(image, result) -> None:
    """Every corner and the middle of ``result`` lie where the image's same pixel lies."""
    h, w = result.data.shape[-2:]
    for y, x in [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h / 2, w / 3)]:
        lead = [0] * (image.ndim - 2)
        world_image = np.asarray(image.data_to_world([*lead, y, x]))[-2:]
        lead = [0] * (result.ndim - 2)
        world_result = np.asarray(result.data_to_world([*lead, y, x]))[-2:]
        assert np.allclose(world_image, world_result, atol=1e-6), (result.name, (y, x))


@pytest.mark.parametrize(
    "geometry",
    [
        {"rotate": 30, "scale": (0.5, 0.5), "translate": (5, 7)},
        {"shear": SHEAR, "scale": (0.5, 2.0)},
        {"affine": [[0.0, 1.5, 3.0], [-1.0, 0.0, 90.0], [0.0, 0.0, 1.0]]},
    ],
    ids=["rotated", "sheared", "affine"],
)
def test_the_result_and_probabilities_lie_on_a_transformed_image(
    run_predict, make_napari_viewer, tiny, geometry
):
    viewer = make_napari_viewer()
    image = viewer.add_image(
        touching_cells((96, 96), n_cells=10, seed=3)[0], name="img", **geometry
    )
    widget = _dock(viewer, tiny, image)
    widget._probabilities.value = True
    run_predict(widget)
    assert "objects in" in widget._status.value, widget._status.value
    _on_the_image(image, viewer.layers[result_name("img", "tiny")])
    _on_the_image(image, viewer.layers["img probabilities (tiny)"])
    image.rotate = 45  # the image moved since: predicting again puts the result on it
    run_predict(widget)
    _on_the_image(image, viewer.layers[result_name("img", "tiny")])


def test_a_rotated_stack_and_a_rotated_channels_first_image(
    run_predict, make_napari_viewer, tiny, tmp_path
):
    from napari_unet.core.models import build_model
    from napari_unet.core.models.modelfile import save_model

    viewer = make_napari_viewer()
    stack = np.stack([touching_cells((64, 64), n_cells=6, seed=s)[0] for s in range(3)])
    image = viewer.add_image(stack, name="stack", rotate=30, scale=(2, 0.5, 0.5))
    widget = _dock(viewer, tiny, image)
    run_predict(widget)
    _on_the_image(image, viewer.layers[result_name("stack", "tiny")])
    # (2, H, W) read as a 2-channel model's channels: a 2D result on the last two axes
    two = viewer.add_image(stack[:2], name="two", rotate=-20, translate=(0, 4, 9))
    net = build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": 2})
    widget._model_file.value = save_model(tmp_path / "two.unet.safetensors", net)
    widget._image.value = two
    widget._size.value = 0
    run_predict(widget)
    result = next(ly for ly in viewer.layers if ly.name.startswith("two segmentation"))
    assert result.data.shape == (64, 64), widget._status.value
    _on_the_image(two, result)


def test_current_view_of_a_rotated_image_predicts_what_is_on_screen(
    run_predict, make_napari_viewer, tiny
):
    viewer = make_napari_viewer(show=True)
    data = touching_cells((256, 256), n_cells=60, seed=1)[0]
    image = viewer.add_image(data, name="img", rotate=40, scale=(0.5, 0.5), translate=(3, 8))
    viewer.window._qt_window.resize(900, 700)
    camera(viewer).center = (0, *image.data_to_world([150, 90]))
    camera(viewer).zoom = 6
    for _ in range(20):
        QApplication.processEvents()
    widget = _dock(viewer, tiny, image)
    widget._scope.value = VIEW
    widget._probabilities.value = True
    run_predict(widget)
    probs = viewer.layers["img probabilities (tiny)"].data
    assert probs.shape == (256, 256) and (probs == 0).any(), widget._status.value  # a part
    rect = viewer.window._qt_viewer.canvas.view.camera.rect  # what vispy draws (world)
    inside = 0
    for wy in np.linspace(rect.bottom, rect.top, 7):
        for wx in np.linspace(rect.left, rect.right, 7):
            y, x = np.round(image.world_to_data([wy, wx])).astype(int)
            if 0 <= y < 256 and 0 <= x < 256:  # on screen, on the image: predicted
                inside += 1
                assert probs[y, x] > 0, (wy, wx, y, x)
    assert inside > 20


def test_a_users_probability_layer_is_never_removed_or_written_over(
    run_predict, make_napari_viewer, tiny
):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((96, 96), n_cells=10, seed=3)[0], name="img")
    other = viewer.add_image(np.full((48, 48), 0.25, np.float32), name="img probabilities (tiny)")
    widget = _dock(viewer, tiny, image)
    widget._probabilities.value = True
    run_predict(widget)
    assert other in viewer.layers and np.all(other.data == 0.25)
    ours = viewer.layers["img probabilities (tiny) 2"]
    assert ours.data.shape == (96, 96) and ours.data.max() > 0.5
    assert "Kept your layer 'img probabilities (tiny)'" in widget._status.value
    assert "'img probabilities (tiny) 2'" in widget._status.value
    run_predict(widget)  # the dock's own layer is updated in place, not a third one
    assert (
        viewer.layers["img probabilities (tiny) 2"] is ours
        and "img probabilities (tiny) 3" not in viewer.layers
    )
    assert "Kept your layer" not in widget._status.value
    # one of the same shape is not written over either
    viewer.layers.remove(ours)
    viewer.layers.remove(other)
    same = viewer.add_image(np.full((96, 96), 0.25, np.float32), name="img probabilities (tiny)")
    run_predict(widget)
    assert np.all(same.data == 0.25) and "img probabilities (tiny) 2" in viewer.layers
    assert "Kept your layer 'img probabilities (tiny)'" in widget._status.value


def test_a_packages_probabilities_spare_a_users_layer_of_that_name(
    run_predict, make_napari_viewer, tmp_path
):
    pytest.importorskip("bioimageio.core")
    import foreign_package as fp

    from napari_unet.sample_data import nuclei_data

    pixels = nuclei_data()[0].astype(np.float32)[:96, :96]
    package = fp.build(tmp_path / "tinynet", pixels[:64, :64])
    viewer = make_napari_viewer()
    image = viewer.add_image(pixels, name="nuclei", rotate=15)
    name = "nuclei segmentation (tinynet) probabilities"
    mine = viewer.add_image(np.full((96, 96), 0.25, np.float32), name=name)
    widget = PredictWidget(viewer)
    widget._image.value = image
    widget._tile.value = 48
    widget._model_file.value = package
    run_predict(widget)
    assert mine in viewer.layers and np.all(mine.data == 0.25), widget._status.value
    assert f"{name} 2" in viewer.layers and f"Kept your layer {name!r}" in widget._status.value
    _on_the_image(image, viewer.layers[f"{name} 2"])


def test_removing_the_dock_mid_run_cancels_it(make_napari_viewer, qtbot, tiny):
    viewer = make_napari_viewer()
    stack = np.stack([touching_cells((256, 256), n_cells=40, seed=s)[0] for s in range(4)])
    image = viewer.add_image(stack, name="img")
    widget = _dock(viewer, tiny, image, add=False)
    dock = viewer.window.add_dock_widget(widget, name="Predict")
    widget._tile.value = 64
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=60_000)
    worker = widget._worker
    viewer.window.remove_dock_widget(dock)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=120_000)  # stopped, or done
    qtbot.wait(300)  # what the worker sent last reaches the GUI thread
    assert widget._worker is None
    assert [ly.name for ly in viewer.layers] == ["img"]
