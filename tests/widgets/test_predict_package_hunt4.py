"""The Predict dock and bioimage.io packages that failed before their fix: another tool's
weights that cannot be loaded (a traceback in the worker), and napari-unet's own package
left with TorchScript weights only (refused as "not exported by napari-unet")."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("bioimageio.core")

import foreign_package as fp  # noqa: E402

from napari_unet.widgets.predict import PredictWidget  # noqa: E402


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(1).random((48, 56)).astype(np.float32)


def _repack(package, out, replace, drop, edit):
    import yaml

    with zipfile.ZipFile(package) as z:
        files = {n: z.read(n) for n in z.namelist()}
    rdf = yaml.safe_load(files.pop("rdf.yaml"))
    edit(rdf)
    for name in drop:
        files.pop(name, None)
    files.update(replace)
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("rdf.yaml", yaml.safe_dump(rdf, sort_keys=False))
    return out


def test_the_dock_reports_weights_that_do_not_load(
    run_predict, make_napari_viewer, image, tmp_path
):
    package = fp.build(tmp_path / "other", image[:32, :32], formats=("torchscript",))
    with zipfile.ZipFile(package) as z:
        cut = z.read("weights_torchscript.pt")[:300]

    def edit(rdf):
        rdf["weights"]["torchscript"]["sha256"] = hashlib.sha256(cut).hexdigest()

    broken = _repack(package, tmp_path / "cut.zip", {"weights_torchscript.pt": cut}, (), edit)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="cells")
    dock = PredictWidget(viewer)
    dock._image.value = viewer.layers["cells"]
    dock._model_file.value = broken
    run_predict(dock)
    status = dock._status.value
    assert "torchscript weights could not be loaded" in status, status  # before: a traceback
    assert "PytorchStreamReader failed" in status and "Traceback" not in status
    assert [ly.name for ly in viewer.layers] == ["cells"]


def test_our_package_with_torchscript_only_loads_for_the_dock(tmp_path):
    import torch

    from napari_unet import build_model, export_bioimageio, save_model
    from napari_unet.core.exchange.foreign import ForeignModel
    from napari_unet.widgets._exporting import load_predict_model

    torch.manual_seed(0)
    net = build_model({"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2})
    model_file = save_model(tmp_path / "tiny.safetensors", net.eval())
    package = export_bioimageio(model_file, tmp_path / "tiny.zip",
                                weight_formats=("pytorch_state_dict", "torchscript"))  # fmt: skip

    def edit(rdf):
        rdf["weights"].pop("pytorch_state_dict")
        rdf["weights"]["torchscript"].pop("parent", None)

    slim = _repack(package, tmp_path / "slim.zip", {}, ("weights.pt",), edit)
    model, metadata = load_predict_model(slim)  # before: "was not exported by napari-unet"
    assert isinstance(model, ForeignModel) and metadata == {}
    assert model.plan.weight_format == "torchscript"
