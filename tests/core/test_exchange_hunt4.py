"""bioimage.io packages that failed before their fix: another tool's weights that cannot be
loaded (a traceback), a zip bomb in the weights (gigabytes of memory), napari-unet's own
package left with TorchScript weights only ("not exported by napari-unet"), a model file or
an image given as a package (a YAML error), and a model file with a shortened config that
save_model refused to write again."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

import foreign_package as fp  # noqa: E402

from napari_unet import InputError, build_model, export_bioimageio, save_model  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.exchange.foreign import ForeignModel, open_bioimageio  # noqa: E402
from napari_unet.core.exchange.importer import import_bioimageio  # noqa: E402
from napari_unet.core.models.modelfile import load_model  # noqa: E402


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """One torch thread (bioimageio.core's pipeline and the export run on the CPU)."""


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.random((40, 48)).astype(np.float32)


@pytest.fixture(scope="module")
def foreign(image, tmp_path_factory):
    """Another tool's package with pytorch_state_dict and torchscript weights."""
    root = tmp_path_factory.mktemp("hunt4-foreign")
    return fp.build(root / "other", image[:32, :32], formats=("pytorch_state_dict", "torchscript"))


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    """A package napari-unet exported: (model file, package with both weight formats)."""
    import torch

    root = tmp_path_factory.mktemp("hunt4-ours")
    torch.manual_seed(0)
    net = build_model({"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2})
    model_file = save_model(root / "tiny.safetensors", net.eval())
    package = export_bioimageio(model_file, root / "tiny.zip",
                                weight_formats=("pytorch_state_dict", "torchscript"))  # fmt: skip
    return model_file, package


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _repack(package, out, replace=None, drop=(), edit=None, big=None):
    """A copy of ``package`` with files replaced or dropped and its rdf.yaml edited.

    ``big``: ``(name, n_bytes)``, a file of zeros written deflated (a zip bomb).
    """
    import yaml

    with zipfile.ZipFile(package) as z:
        files = {n: z.read(n) for n in z.namelist()}
    rdf = yaml.safe_load(files.pop("rdf.yaml"))
    if edit:
        edit(rdf)
    for name in drop:
        files.pop(name, None)
    files.update(replace or {})
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("rdf.yaml", yaml.safe_dump(rdf, sort_keys=False))
        if big:
            chunk = bytes(2**22)
            with z.open(big[0], "w", force_zip64=True) as w:
                for _ in range(big[1] // len(chunk)):
                    w.write(chunk)
    return out


def _weights(rdf, fmt):
    return rdf["weights"][fmt]


class _RunsCode:
    """Unpickling this would create a folder: it must never happen."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


# 1. another tool's weights that cannot be loaded: one clear message, nothing unpickled


def _unloadable(foreign, tmp_path):
    import io

    import torch

    marker = tmp_path / "unpickled"
    buf = io.BytesIO()
    torch.save({"a.weight": _RunsCode(marker)}, buf)
    pickled = buf.getvalue()

    def state_only(rdf):
        rdf["weights"].pop("torchscript")
        _weights(rdf, "pytorch_state_dict")["sha256"] = _sha(pickled)

    cut = None
    with zipfile.ZipFile(foreign) as z:
        cut = z.read("weights_torchscript.pt")[:300]

    def ts_only(rdf):
        rdf["weights"].pop("pytorch_state_dict")
        _weights(rdf, "torchscript").pop("parent", None)
        _weights(rdf, "torchscript")["sha256"] = _sha(cut)

    bad_arch = b"def oops(:\n"

    def broken_arch(rdf):
        rdf["weights"].pop("torchscript")
        _weights(rdf, "pytorch_state_dict")["architecture"]["sha256"] = _sha(bad_arch)

    made = {
        "pickle": _repack(foreign, tmp_path / "pickle.zip", {"weights.pt": pickled},
                          ["weights_torchscript.pt"], state_only),
        "cut torchscript": _repack(foreign, tmp_path / "cut.zip",
                                   {"weights_torchscript.pt": cut}, ["weights.pt"], ts_only),
        "broken architecture": _repack(foreign, tmp_path / "arch.zip",
                                       {"tiny_net.py": bad_arch}, ["weights_torchscript.pt"],
                                       broken_arch),
    }  # fmt: skip
    return made, marker


def test_another_tools_weights_that_do_not_load_are_refused_in_one_line(
    foreign, image, tmp_path
):
    made, marker = _unloadable(foreign, tmp_path)
    whys = {
        "pickle": "not a plain state dict of tensors",
        "cut torchscript": "RuntimeError: PytorchStreamReader failed",
        "broken architecture": "ImportError",
    }
    for kind, package in made.items():
        model = ForeignModel(package)
        with pytest.raises(InputError, match="weights could not be loaded") as caught:
            model.predict(image)  # before: a ValueError, RuntimeError or ImportError
        text = str(caught.value)
        assert package.name in text and whys[kind] in text and "\n" not in text, kind
    assert not marker.exists()  # nothing was unpickled


def test_the_predict_command_says_so_without_a_traceback(foreign, image, tmp_path, capsys):
    from napari_unet.core.images.io import write_image

    made, _ = _unloadable(foreign, tmp_path)
    src = write_image(tmp_path / "cells.tif", image)
    code = main(["predict", str(made["cut torchscript"]), str(src), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "torchscript weights could not be loaded" in err  # before: exit 1
    assert "Traceback" not in err


# 2. a zip bomb in the weights is refused before it is read


def test_a_zip_bomb_in_our_packages_weights_is_refused_before_reading(ours, tmp_path):
    def no_checksum(rdf):
        rdf["weights"].pop("torchscript", None)
        _weights(rdf, "pytorch_state_dict").pop("sha256", None)

    bomb = _repack(ours[1], tmp_path / "bomb.zip", drop=["weights.pt"], edit=no_checksum,
                   big=("weights.pt", 96 * 2**20))  # fmt: skip
    assert bomb.stat().st_size < 2 * 2**20
    with pytest.raises(InputError, match="unpacks to 100.7 MB.*zip bomb"):
        import_bioimageio(bomb)  # before: read whole, then "not a complete PyTorch file"
    with pytest.raises(InputError, match="zip bomb"):
        open_bioimageio(bomb)  # predict and the Predict dock import it the same way


def test_a_zip_bomb_in_another_tools_weights_is_refused(foreign, tmp_path):
    def no_checksum(rdf):
        rdf["weights"].pop("torchscript")
        _weights(rdf, "pytorch_state_dict").pop("sha256", None)

    bomb = _repack(foreign, tmp_path / "bomb.zip", drop=["weights.pt", "weights_torchscript.pt"],
                   edit=no_checksum, big=("weights.pt", 96 * 2**20))  # fmt: skip
    with pytest.raises(InputError, match="unpacks to 100.7 MB from .*zip bomb"):
        open_bioimageio(bomb)  # before: bioimageio.core read it into memory


def test_weights_are_read_no_further_than_the_limit(tmp_path):
    import io

    from napari_unet.core.exchange.weightsize import read_capped, weights_limit

    limit = weights_limit({"arch": "unet", "base_channels": 4, "depth": 2})
    assert 16 * 2**20 < limit < 18 * 2**20  # the tensors (a few kB) and the container
    reader = io.BytesIO(bytes(5 * 2**20))  # whatever the archive declared
    with pytest.raises(InputError, match="holds more"):
        read_capped(reader, tmp_path / "p.zip", "weights.pt", 2**20)
    assert reader.tell() <= 2 * 2**20  # stopped soon after the limit
    assert read_capped(io.BytesIO(b"abc"), tmp_path, "w", 10) == b"abc"


# 3. our own package with TorchScript weights only


def test_our_package_without_its_state_dict_predicts_and_import_says_why(ours, image, tmp_path):
    def ts_only(rdf):
        rdf["weights"].pop("pytorch_state_dict")
        _weights(rdf, "torchscript").pop("parent", None)

    package = _repack(ours[1], tmp_path / "ts_only.zip", drop=["weights.pt"], edit=ts_only)
    with pytest.raises(InputError) as caught:
        import_bioimageio(package)
    text = str(caught.value)
    assert "was not exported by napari-unet" not in text  # before: it was, and said it was not
    assert "has no pytorch_state_dict weights, which import needs (it has: torchscript)" in text
    opened = open_bioimageio(package)  # before: the same refusal
    assert isinstance(opened, ForeignModel) and opened.plan.weight_format == "torchscript"
    got = opened.predict(image, tile=64)
    full = ForeignModel(ours[1], weight_format="pytorch_state_dict").predict(image, tile=64)
    assert got.shape == (2, *image.shape) and np.abs(got - full).max() <= 1e-5
    assert main(["import", str(package), "-o", str(tmp_path / "m.safetensors")]) == 2


# 4. a model file or an image given as a package


def test_a_model_file_or_an_image_is_named_not_read_as_yaml(ours, image, tmp_path, capsys):
    from napari_unet.core.images.io import write_image

    model_file = ours[0]
    tif = write_image(tmp_path / "cells.tif", image)
    renamed = tmp_path / "model.zip"
    renamed.write_bytes(model_file.read_bytes())
    cases = {
        model_file: "is a napari-unet model file (safetensors), not a bioimage.io package",
        renamed: "is a napari-unet model file (safetensors)",
        tif: "is not a bioimage.io package: it is an image",
    }
    for path, expected in cases.items():
        with pytest.raises(InputError, match=r"bioimage\.io package") as caught:
            import_bioimageio(path)
        assert expected in str(caught.value) and "YAML" not in str(caught.value), path
        assert main(["import", str(path), "-o", str(tmp_path / "x.safetensors")]) == 2
        assert expected in capsys.readouterr().err
    with pytest.raises(InputError, match="is a napari-unet model file"):
        open_bioimageio(renamed)  # predict MODEL.zip


def test_a_package_renamed_without_zip_still_imports(ours, tmp_path):
    """A review caught the binary-file refusal taking a renamed zip (.bmz, no suffix) too."""
    package = ours[1]
    for name in ("pkg.bmz", "pkg_noext"):
        renamed = tmp_path / name
        renamed.write_bytes(package.read_bytes())
        model, _meta = import_bioimageio(renamed)
        assert model is not None


# 5. a shortened stored config (older writers) is saved again


def _shortened(model_file, out):
    raw = model_file.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["napari_unet"])
    short = {k: meta["config"][k] for k in ("arch", "base_channels", "depth", "padding")}
    header["__metadata__"]["napari_unet"] = json.dumps({"format_version": 1, "config": short})
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    out.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    return out


def test_a_model_file_with_a_shortened_config_saves_again(ours, tmp_path):
    old = _shortened(ours[0], tmp_path / "old.safetensors")
    model, metadata = load_model(old)
    assert set(metadata["config"]) == {"arch", "base_channels", "depth", "padding"}
    again = save_model(tmp_path / "again.safetensors", model, **metadata)  # before: refused
    model2, metadata2 = load_model(again)
    assert metadata2["config"] == dict(model.config)
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items(),
                              strict=True):  # fmt: skip
        assert (a == b).all(), k
    wrong = {**metadata, "config": {**metadata["config"], "depth": 3}}
    with pytest.raises(InputError, match="'config' is computed from the model"):
        save_model(tmp_path / "wrong.safetensors", model, **wrong)  # still checked
