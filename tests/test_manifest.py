"""The npe2 manifest: valid, every python_name importable, samples open in a real viewer."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from npe2 import PluginManager

from napari_unet.sample_data import NUCLEI_SOURCE


@pytest.fixture(scope="module")
def manifest():
    pm = PluginManager.instance()
    pm.discover()
    return pm.get_manifest("napari-unet")


def test_npe2_validate_passes():
    npe2 = shutil.which("npe2", path=str(Path(sys.executable).parent))
    assert npe2, "npe2 command not installed beside this Python"
    result = subprocess.run(
        [npe2, "validate", "napari-unet"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_python_name_imports(manifest):
    # Exactly as napari resolves them: "module.path:attribute".
    names = [c.python_name for c in manifest.contributions.commands or [] if c.python_name]
    assert names, "the manifest contributes no commands"
    for name in names:
        module, _, attr = name.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert callable(obj), name


def test_manifest_lists_both_samples(manifest):
    keys = {s.key for s in manifest.contributions.sample_data or []}
    assert {"touching_cells", "nuclei"} <= keys


@pytest.mark.parametrize(
    ("key", "image_dtype", "shape"),
    [("touching_cells", np.float32, (384, 384)), ("nuclei", np.uint8, (260, 347))],
)
def test_sample_opens_in_viewer(make_napari_viewer, key, image_dtype, shape):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", key)
    kinds = {type(layer).__name__: layer for layer in viewer.layers}
    assert set(kinds) == {"Image", "Labels"}
    image, labels = kinds["Image"], kinds["Labels"]
    assert image.data.shape == shape and image.data.dtype == image_dtype
    assert labels.data.shape == shape
    assert np.issubdtype(labels.data.dtype, np.integer)
    # Ground truth with many cells, and cells that touch (the point of these samples).
    assert len(np.unique(labels.data)) > 60
    lab = np.asarray(labels.data)
    left, right = lab[:, :-1], lab[:, 1:]
    assert np.any((left > 0) & (right > 0) & (left != right)), "no touching cells"


def test_nuclei_sample_carries_attribution(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "nuclei")
    assert viewer.layers["nuclei"].metadata["source_image"] == NUCLEI_SOURCE
    assert "CC0" in NUCLEI_SOURCE
