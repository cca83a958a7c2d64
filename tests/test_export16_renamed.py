"""A bioimage.io package renamed (``.bmz``, no suffix) is one for ``predict`` and ``export``
too, as for ``import`` (before: "this is a zip archive, not a napari-unet model file")."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from napari_unet import build_model, export_bioimageio, save_model  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.exchange import spec  # noqa: E402

STATE_DICT = ("pytorch_state_dict",)


@pytest.fixture(autouse=True)
def _fast(monkeypatch, one_thread):
    monkeypatch.setattr(spec, "default_formats", lambda: STATE_DICT)


@pytest.fixture
def renamed(tmp_path):
    import torch

    torch.manual_seed(0)
    net = build_model({"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2})
    model = save_model(tmp_path / "tiny.safetensors", net.eval())
    package = export_bioimageio(model, tmp_path / "tiny.zip", name="Tiny renamed model",
                                weight_formats=STATE_DICT)  # fmt: skip
    out = {}
    for name in ("tiny.bmz", "tiny_package"):
        out[name] = tmp_path / name
        shutil.copyfile(package, out[name])
    return package, out


def test_predict_runs_a_renamed_package_as_the_zip(renamed, tmp_path):
    import tifffile

    package, copies = renamed
    image = tmp_path / "img.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(image, (rng.random((48, 48)) * 255).astype(np.uint8))
    results = []
    for i, model in enumerate((package, *copies.values())):
        out = tmp_path / f"out{i}"
        assert main(["predict", str(model), str(image), "-o", str(out)]) == 0  # before: 2
        results.append(tifffile.imread(out / "img_labels.tif"))
    for labels in results[1:]:
        np.testing.assert_array_equal(labels, results[0])


def test_export_takes_a_renamed_package_and_keeps_its_name(renamed, tmp_path):
    import yaml

    _, copies = renamed
    for name, copy in copies.items():
        out = tmp_path / f"again-{name}.zip"
        assert main(["export", str(copy), "-o", str(out)]) == 0  # before: 2
        with zipfile.ZipFile(out) as z:
            assert yaml.safe_load(z.read("rdf.yaml"))["name"] == "Tiny renamed model"


def test_a_model_file_renamed_is_still_a_model_file(renamed, tmp_path):
    from napari_unet.core.exchange.identity import is_package_file

    package, copies = renamed
    model = tmp_path / "tiny.safetensors"
    odd = tmp_path / "tiny.bmz.model"
    shutil.copyfile(model, odd)
    assert not is_package_file(odd) and not is_package_file(model)
    assert not is_package_file(tmp_path / "missing.bmz") and not is_package_file(tmp_path)
    assert all(is_package_file(p) for p in (package, *copies.values()))


def test_the_docks_take_a_renamed_package_as_a_package(renamed, tmp_path):
    from napari_unet.widgets._exporting import is_package

    package, copies = renamed
    assert all(is_package(p) for p in copies.values())  # before: read as a model file
    assert is_package(tmp_path / "not-yet.zip")  # an output name: a package to write
    assert not is_package(tmp_path / "tiny.safetensors") and not is_package(None)
