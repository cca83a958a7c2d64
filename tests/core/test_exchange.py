"""bioimage.io packages: exported, validated by bioimageio.core's own test, imported back."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from napari_unet import InputError, export_bioimageio, import_bioimageio  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.exchange.export import check_package  # noqa: E402
from napari_unet.core.exchange.spec import default_formats  # noqa: E402
from napari_unet.core.models.modelfile import save_model  # noqa: E402


def _reproduced(lines: list[str]) -> set[str]:
    """The weight formats whose test output bioimageio.core reproduced."""
    found = set()
    for line in lines:
        if line.startswith("passed: Reproduce test outputs from test inputs ("):
            found.add(line.rsplit("(", 1)[1].rstrip(")"))
    return found


@pytest.fixture(scope="module")
def tiny_package(trained_same, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    model, metadata = trained_same
    model_file = save_model(folder / "tiny.safetensors", model, **metadata)
    return model_file, export_bioimageio(model_file, folder / "tiny.zip")


def test_tiny_package_passes_bioimageio_test_for_every_weight_format(tiny_package):
    _, package = tiny_package
    passed, lines = check_package(package)
    assert passed, "\n".join(lines)
    written = set(default_formats())  # onnx too where onnx and onnxruntime are installed
    assert _reproduced(lines) == written
    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
    assert {"rdf.yaml", "weights.pt", "weights_torchscript.pt", "napari_unet_arch.py",
            "test_input.npy", "test_output.npy", "cover.png", "README.md"} <= names  # fmt: skip
    assert ("weights.onnx" in names) == ("onnx" in written)


def test_import_gives_the_same_model_file_and_probabilities(tiny_package, tmp_path):
    import napari_unet as nu

    model_file, package = tiny_package
    out = tmp_path / "back.safetensors"
    assert main(["import", str(package), "-o", str(out)]) == 0
    assert out.read_bytes() == model_file.read_bytes()  # same tensors, same metadata
    image = nu.touching_cells((160, 200), n_cells=12, seed=3)[0]
    before = nu.predict(nu.load_model(model_file)[0], image)
    model, metadata = import_bioimageio(package)
    after = nu.predict(model, image)
    assert np.abs(np.asarray(before) - np.asarray(after)).max() <= 1e-5


def test_valid_padding_and_distance_head_package_passes(tmp_path):
    import torch

    from napari_unet import build_model

    torch.manual_seed(0)
    net = build_model({"arch": "unet", "padding": "valid", "base_channels": 4, "depth": 3,
                       "head": "distance"}).eval()  # fmt: skip
    formats = ("pytorch_state_dict", *(["onnx"] if "onnx" in default_formats() else []))
    package = export_bioimageio(net, tmp_path / "valid.zip", weight_formats=formats)
    passed, lines = check_package(package)
    assert passed, "\n".join(lines)
    assert _reproduced(lines) == set(formats)  # ONNX with valid padding's cropped output
    model, metadata = import_bioimageio(package)
    assert model.config == net.config and metadata["class_names"] == [
        "background", "cell", "distance"
    ]  # fmt: skip


def test_builtin_nuclei_export_passes_and_round_trips(tmp_path):
    from napari_unet.core.models.pretrained import pretrained_path

    package = tmp_path / "nuclei.zip"
    assert main(["export", "nuclei", "-o", str(package), "--test"]) == 0
    out = tmp_path / "nuclei.safetensors"
    assert main(["import", str(package), "-o", str(out)]) == 0
    assert out.read_bytes() == pretrained_path("nuclei").read_bytes()
    with zipfile.ZipFile(package) as z:
        readme = z.read("README.md").decode()
        rdf = z.read("rdf.yaml").decode()
    assert "## Validation" in readme and "held_out.ap50 | 0.6719" in readme
    assert "10.1007/978-3-319-24574-4_28" in rdf and "10.1038/s41592-019-0612-7" in rdf
    assert "min_percentile: 1.0" in rdf and "max_percentile: 99.8" in rdf


def test_the_architecture_file_needs_torch_only(tmp_path):
    from napari_unet.core.exchange.archsource import write_architecture

    write_architecture(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import napari_unet_arch as a, torch; "
        "m = a.NapariUNetProbabilities({'arch': 'unet3p', 'base_channels': 4, 'depth': 3}); "
        "p = m.eval()(torch.rand(1, 1, 32, 32)); assert abs(float(p.sum(1).mean()) - 1) < 1e-5; "
        "assert not [k for k in sys.modules if k.startswith('napari_unet.')]"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)


def test_foreign_and_broken_packages_are_refused(tiny_package, tmp_path):
    _, package = tiny_package
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(foreign, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "rdf.yaml":
                data = data.replace(b"\n  napari_unet:\n", b"\n  other_tool:\n")
            dst.writestr(item, data)
    with pytest.raises(InputError, match="not exported by napari-unet"):
        import_bioimageio(foreign)
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    with pytest.raises(InputError, match="not a bioimage.io model package"):
        import_bioimageio(junk)
    with pytest.raises(InputError, match="no such file"):
        import_bioimageio(tmp_path / "missing.zip")


def test_a_network_whose_halo_needs_more_than_256_px_exports(tmp_path):
    # UNet 3+ of depth 5 (the default) needs 272 px: every export failed, blaming the image
    from napari_unet.core.exchange.export import make_test_input
    from napari_unet.core.models import build_model

    net = build_model({"arch": "unet3p", "base_channels": 4})
    assert make_test_input(net.geometry).shape == (1, 272, 272)  # the 260 px sample, mirrored
    tiny = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    x = make_test_input(net.geometry, tiny)
    assert x.shape == (1, 272, 272) and x[0, 126:146, 121:151].tolist() == tiny.tolist()
    package = export_bioimageio(net, tmp_path / "u3p.zip", weight_formats=("pytorch_state_dict",))
    passed, lines = check_package(package)
    assert passed, "\n".join(lines)


def test_export_refusals(trained_same, tmp_path, capsys):
    model, metadata = trained_same
    with pytest.raises(InputError, match=r"\.zip"):
        export_bioimageio((model, metadata), tmp_path / "x.tar")
    with pytest.raises(InputError, match="may add torchscript and onnx"):
        export_bioimageio((model, metadata), tmp_path / "x.zip", weight_formats=("keras",))
    odd = {**metadata, "normalization": {"method": "dtype"}}
    with pytest.raises(InputError, match="pixel type"):
        export_bioimageio((model, odd), tmp_path / "x.zip")
    (tmp_path / "there.zip").write_text("")
    assert main(["export", "nuclei", "-o", str(tmp_path / "there.zip")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert not list(tmp_path.glob(".napari-unet-export-*"))  # no debris


def test_without_the_extra_both_say_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)
    assert main(["export", "nuclei", "-o", str(tmp_path / "n.zip")]) == 2
    assert 'pip install ".[bioimageio]"' in capsys.readouterr().err
    assert main(["import", str(tmp_path / "n.zip"), "-o", str(tmp_path / "m.safetensors")]) == 2
    assert 'pip install ".[bioimageio]"' in capsys.readouterr().err
