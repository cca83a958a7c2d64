"""The wheel and sdist carry the manifest where npe2 looks for it."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # `python -m build` makes the sdist, then the wheel *from the sdist*: both paths are checked.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"build failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return out


def test_wheel_holds_manifest_and_entry_point(dists):
    (wheel,) = dists.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_unet/napari.yaml" in names
        manifest = yaml.safe_load(zf.read("napari_unet/napari.yaml"))
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = zf.read(entry_points).decode()
        assert "napari-unet = napari_unet:napari.yaml" in text
        assert "napari-unet = napari_unet.cli:main" in text
        assert "napari_unet/data/nuclei.tif" in names
        assert "napari_unet/data/nuclei.unet.safetensors" in names  # the built-in models
        assert "napari_unet/data/nuclei-brightfield.unet.safetensors" in names
    assert manifest == yaml.safe_load((REPO / "napari.yaml").read_text())
    assert manifest["name"] == "napari-unet"


def test_sdist_holds_manifest(dists):
    (sdist,) = dists.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
    assert any(n.endswith("/napari.yaml") and "/src/" not in n for n in names)
