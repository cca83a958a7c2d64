"""``napari-unet import -o <a built-in model's file> --overwrite`` is refused.

Before, it replaced the built-in 'nuclei' model (exit 0), and every dock and command loaded
the imported network as 'nuclei' afterwards; ``train`` and the docks refused that path.
"""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("bioimageio.core")

from napari_unet import build_model, export_bioimageio, save_model  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.models import modelfile  # noqa: E402
from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402


@pytest.fixture
def package(tmp_path, one_thread):
    config = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2}
    model_file = save_model(tmp_path / "tiny.safetensors", build_model(config).eval())
    return export_bioimageio(
        model_file, tmp_path / "tiny.zip", weight_formats=("pytorch_state_dict",)
    )


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("through_link", [False, True])
def test_import_refuses_to_write_a_builtin_model(package, tmp_path, capsys, monkeypatch,
                                                 through_link):  # fmt: skip
    builtin = pretrained_path("nuclei")
    before = _digest(builtin)

    def never(path, *args, **kwargs):  # a guard: this test must not touch the installation
        raise AssertionError(f"the import went on to write {path}")

    monkeypatch.setattr(modelfile, "write_tensors", never)
    target = builtin
    if through_link:
        target = tmp_path / "mine.safetensors"
        target.symlink_to(builtin)
    capsys.readouterr()
    assert main(["import", str(package), "-o", str(target), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "built-in model 'nuclei'" in err and "choose another file" in err
    assert _digest(builtin) == before


def test_import_still_writes_an_ordinary_file_with_overwrite(package, tmp_path):
    out = tmp_path / "mine.safetensors"
    out.write_bytes(b"an older model")
    assert main(["import", str(package), "-o", str(out), "--overwrite"]) == 0
    assert modelfile.read_metadata(out)["config"]["base_channels"] == 4
