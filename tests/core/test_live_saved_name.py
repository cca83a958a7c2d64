"""A model trained live from a built-in model no longer calls itself that built-in model."""

from __future__ import annotations

from napari_unet.core.live.saved import file_metadata, start_metadata


def test_the_built_in_name_and_description_are_not_carried():
    builtin = {
        "name": "nuclei",
        "description": "Starter U-Net ...; napari-unet's built-in model 'nuclei'.",
        "normalization": {"low": 1.0, "high": 99.8},
        "provenance": {"run_id": "abc"},
    }
    meta = file_metadata(start_metadata(builtin), steps=12, lr=1e-4)
    assert "name" not in meta and "description" not in meta  # an export named its package so
    assert meta["normalization"] == builtin["normalization"]
    assert meta["provenance"]["live_steps"] == 12
