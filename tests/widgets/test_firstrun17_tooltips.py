"""Dock tooltips name only the values their controls offer (hunt 17, first run)."""

from __future__ import annotations


def test_weight_map_class_weights_tooltip_offers_the_combo_boxs_values(make_napari_viewer):
    """The tooltip said "or one weight per class"; the box has balanced and none only."""
    from napari_unet.widgets.weightmap import WeightMapWidget

    box = WeightMapWidget(make_napari_viewer())._class_weights
    assert list(box.choices) == ["balanced", "none"]
    tip = box.tooltip
    assert "balanced (" in tip and "none (" in tip
    assert "or one weight per class" not in tip and "--class-weights" in tip


def test_predict_device_tooltip_offers_the_combo_boxs_values(make_napari_viewer):
    """The tooltip listed cuda:N, which the box does not offer."""
    from napari_unet.widgets.predict import PredictWidget

    box = PredictWidget(make_napari_viewer())._device
    assert "cuda:N" not in box.tooltip
    for value in box.choices:
        assert value in box.tooltip
