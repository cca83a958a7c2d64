"""bioimage.io packages: a re-export keeps the package's identity, multichannel models
export, the test output is what the package's own preprocessing gives, NaN scores and long
descriptions survive (each failed before its fix)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from napari_unet import build_model, export_bioimageio, save_model  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.exchange import spec  # noqa: E402
from napari_unet.core.models.modelfile import read_metadata  # noqa: E402

STATE_DICT = ("pytorch_state_dict",)


@pytest.fixture(autouse=True)
def _fast(monkeypatch, one_thread):
    """The command writes the state dict only (TorchScript and ONNX take seconds each)."""
    monkeypatch.setattr(spec, "default_formats", lambda: STATE_DICT)


def _net(in_channels: int = 1, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    config = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2,
              "in_channels": in_channels}  # fmt: skip
    return build_model(config).eval()


def _rdf(package) -> dict:
    import yaml

    with zipfile.ZipFile(package) as z:
        return yaml.safe_load(z.read("rdf.yaml"))


def _identity(package) -> tuple:
    rdf = _rdf(package)
    return rdf["name"], [a["name"] for a in rdf["authors"]], rdf["license"]


def _array(package, name: str) -> np.ndarray:
    with zipfile.ZipFile(package) as z:
        return np.load(io.BytesIO(z.read(name)))


MINE = ("My tiny nuclei model", ["Ada Lovelace", "Grace Hopper"], "CC-BY-4.0")


@pytest.fixture
def first(tmp_path):
    """A package exported with its own name, authors and licence."""
    model_file = save_model(tmp_path / "tiny.safetensors", _net())
    name, authors, licence = MINE
    return export_bioimageio(model_file, tmp_path / "first.zip", name=name, authors=authors,
                             license=licence, weight_formats=STATE_DICT)  # fmt: skip


def test_the_command_exports_a_package_again_with_its_own_identity(first, tmp_path):
    second = tmp_path / "second.zip"
    assert main(["export", str(first), "-o", str(second)]) == 0
    assert _identity(second) == MINE  # before: tiny / "unknown (exported...)" / BSD-3-Clause
    third = tmp_path / "third.zip"
    assert main(["export", str(first), "-o", str(third), "--license", "MIT"]) == 0
    assert _identity(third) == (*MINE[:2], "MIT")  # a new one given replaces only that one


def test_import_then_export_keeps_the_identity(first, tmp_path):
    model_file = tmp_path / "m.safetensors"
    assert main(["import", str(first), "-o", str(model_file)]) == 0
    recorded = read_metadata(model_file)
    assert (recorded["name"], recorded["authors"], recorded["license"]) == MINE
    again = tmp_path / "again.zip"
    assert main(["export", str(model_file), "-o", str(again)]) == 0
    assert _identity(again) == MINE


def test_import_reads_an_identity_edited_in_rdf_yaml(tmp_path):
    # A package of a model that records none, its rdf.yaml edited before uploading (or
    # exported before the identity was recorded in config.napari_unet).
    model_file = save_model(tmp_path / "plain.safetensors", _net())
    package = export_bioimageio(model_file, tmp_path / "plain.zip", weight_formats=STATE_DICT)
    assert _identity(package)[1:] == (["unknown (exported by napari-unet)"], "BSD-3-Clause")
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "rdf.yaml":
                data = data.replace(b"unknown (exported by napari-unet)", b"Ada Lovelace")
                data = data.replace(b"license: BSD-3-Clause", b"license: MIT")
            dst.writestr(item, data)
    back = tmp_path / "back.safetensors"
    assert main(["import", str(edited), "-o", str(back)]) == 0
    assert (read_metadata(back)["authors"], read_metadata(back)["license"]) == (
        ["Ada Lovelace"], "MIT"
    )  # fmt: skip
    plain = tmp_path / "plain-back.safetensors"  # nothing edited: the very file it came from
    assert main(["import", str(package), "-o", str(plain)]) == 0
    assert plain.read_bytes() == model_file.read_bytes()


def test_a_model_file_recording_a_licence_is_exported_under_it(tmp_path):
    model_file = save_model(tmp_path / "lic.safetensors", _net(), license="MIT")
    package = tmp_path / "lic.zip"
    assert main(["export", str(model_file), "-o", str(package)]) == 0
    assert _rdf(package)["license"] == "MIT"  # before: the command's BSD-3-Clause
    plain = export_bioimageio(_net(), tmp_path / "plain.zip", weight_formats=STATE_DICT)
    assert _rdf(plain)["license"] == "BSD-3-Clause"  # the default without one


def test_the_help_promises_no_weight_format_option(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    assert "weight formats" not in text and "--license" in text


@pytest.mark.parametrize("channels", [2, 4])
def test_models_of_2_or_4_channels_export_with_the_grey_image_repeated(tmp_path, channels):
    model_file = save_model(tmp_path / f"m{channels}.safetensors", _net(channels))
    package = tmp_path / f"m{channels}.zip"
    assert main(["export", str(model_file), "-o", str(package)]) == 0  # before: exit 2
    x = _array(package, "test_input.npy")
    assert x.shape[:2] == (1, channels)
    assert all(np.array_equal(x[0, 0], x[0, c]) for c in range(channels))
    assert x[0, 0].std() > 0  # the nuclei image, not a blank
    if channels == 2:
        from napari_unet.core.exchange.export import check_package

        passed, lines = check_package(package)
        assert passed, "\n".join(lines)


def test_the_test_output_is_what_the_packages_preprocessing_gives(tmp_path):
    # A field of background noise with one speck: napari-unet's noise floor (and a
    # recorded clip) would change its normalisation, which scale_range cannot reproduce.
    import torch

    from napari_unet.core.models.heads import activate, head_of

    rng = np.random.default_rng(0)
    image = rng.normal(100, 4, (256, 256)).astype(np.float32)
    image[120:130, 120:130] += 25
    image[40:42, 40:42] += 2000  # a bright speck, clipped by napari-unet's predictor
    net = _net()
    norm = {"method": "percentile", "low": 1.0, "high": 99.8, "clip": 1.5}
    package = export_bioimageio((net, {"normalization": norm}), tmp_path / "noise.zip",
                                image=image, weight_formats=STATE_DICT)  # fmt: skip
    x, y = _array(package, "test_input.npy"), _array(package, "test_output.npy")
    lo, hi = np.percentile(x[0, 0].astype(np.float64), [1.0, 99.8])
    scaled = ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)  # the spec's scale_range
    with torch.no_grad():
        probs = activate(net(torch.from_numpy(scaled)), head_of(net)).numpy()
    assert np.abs(probs - y).max() < 1e-4  # before: up to 0.5 apart
    from napari_unet.core.exchange.export import check_package

    passed, lines = check_package(package)
    assert passed, "\n".join(lines)


def test_a_nan_score_survives_export_and_import(tmp_path):
    model_file = save_model(tmp_path / "nan.safetensors", _net(),
                            metrics={"dice": float("nan"), "f1": 0.5})  # fmt: skip
    package = tmp_path / "nan.zip"
    assert main(["export", str(model_file), "-o", str(package)]) == 0
    back = tmp_path / "back.safetensors"
    assert main(["import", str(package), "-o", str(back)]) == 0
    assert back.read_bytes() == model_file.read_bytes()  # before: the NaN came back as null


def test_a_description_over_1024_characters_is_shortened_in_the_package(tmp_path):
    text = "A model described at length. " * 60  # 1740 characters; the spec allows 1024
    model_file = save_model(tmp_path / "long.safetensors", _net(), description=text)
    package = tmp_path / "long.zip"
    assert main(["export", str(model_file), "-o", str(package)]) == 0  # before: exit 2
    described = _rdf(package)["description"]
    assert len(described) <= 1024 and described.startswith(text[:900])
    assert described.endswith("the whole description is in the README)")
    with zipfile.ZipFile(package) as z:
        assert text.strip() in z.read("README.md").decode()
    back = tmp_path / "back.safetensors"
    assert main(["import", str(package), "-o", str(back)]) == 0
    assert back.read_bytes() == model_file.read_bytes()  # the whole text is kept
