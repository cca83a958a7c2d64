"""Without ``--overwrite``, ``export`` and ``import`` never replace a file written meanwhile.

Before, the output was checked only at the start: two ``export`` runs to one ``race.zip``
both exited 0 and said ``-> race.zip``, and the zip held only the second's package (the
first had reported success for a package that no longer existed); ``import`` likewise.
Here the other run's file appears between the start check and the write, deterministically.
"""

from __future__ import annotations

import errno
import os

import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_write

OTHER = b"the package another run wrote meanwhile"


def _debris(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_not_to_overwrite_keeps_a_file_written_meanwhile(tmp_path):
    out = tmp_path / "race.zip"
    with pytest.raises(InputError, match=r"race\.zip.*--overwrite"):  # noqa: PT012
        with atomic_write(out, overwrite=False) as part:
            part.write_bytes(b"mine")
            out.write_bytes(OTHER)  # the other run finishes first
    assert out.read_bytes() == OTHER and _debris(tmp_path) == []
    with atomic_write(out) as part:  # the default replaces, as before
        part.write_bytes(b"mine")
    assert out.read_bytes() == b"mine"
    with pytest.raises(InputError, match="exists"), atomic_write(out, overwrite=False):
        pass  # there on entry: refused before any work
    assert out.read_bytes() == b"mine" and _debris(tmp_path) == []


def test_without_hard_links_a_check_then_the_rename(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "hard links not supported", str(dst))

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "m.safetensors"
    with atomic_write(out, overwrite=False) as part:
        part.write_bytes(b"mine")
    assert out.read_bytes() == b"mine" and _debris(tmp_path) == []
    with pytest.raises(InputError, match="--overwrite"):  # noqa: PT012
        with atomic_write(tmp_path / "n.safetensors", overwrite=False) as part:
            part.write_bytes(b"mine")
            (tmp_path / "n.safetensors").write_bytes(OTHER)
    assert (tmp_path / "n.safetensors").read_bytes() == OTHER and _debris(tmp_path) == []


# --- the commands (bioimageio needed) ----------------------------------------------------


@pytest.fixture
def tiny(tmp_path, monkeypatch, one_thread):
    pytest.importorskip("bioimageio.core")
    from napari_unet import build_model, save_model
    from napari_unet.core.exchange import spec

    monkeypatch.setattr(spec, "default_formats", lambda: ("pytorch_state_dict",))
    config = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2}
    return save_model(tmp_path / "tiny.safetensors", build_model(config).eval())


def _meanwhile(monkeypatch, module, name, out):
    """Make ``module.name`` write ``out`` as another run would, after doing its own work."""
    original = getattr(module, name)

    def step(*args, **kwargs):
        result = original(*args, **kwargs)
        out.write_bytes(OTHER)
        return result

    monkeypatch.setattr(module, name, step)


@pytest.mark.parametrize("step", ["_write_files", "_save"])  # before the write; in it
def test_export_keeps_a_package_written_meanwhile(tiny, tmp_path, capsys, monkeypatch, step):
    from napari_unet.cli import main
    from napari_unet.core.exchange import export

    out = tmp_path / "race.zip"
    _meanwhile(monkeypatch, export, step, out)
    assert main(["export", str(tiny), "-o", str(out)]) == 2  # before: 0, "-> race.zip"
    captured = capsys.readouterr()
    assert "race.zip" in captured.err and "--overwrite" in captured.err
    assert "wrote nothing" in captured.err and "->" not in captured.out
    assert out.read_bytes() == OTHER and _debris(tmp_path) == []


def test_export_with_overwrite_replaces_it(tiny, tmp_path, monkeypatch):
    import zipfile

    from napari_unet.cli import main
    from napari_unet.core.exchange import export

    out = tmp_path / "race.zip"
    _meanwhile(monkeypatch, export, "_write_files", out)
    assert main(["export", str(tiny), "-o", str(out), "--overwrite"]) == 0
    assert "rdf.yaml" in zipfile.ZipFile(out).namelist()


def test_import_keeps_a_model_file_written_meanwhile(tiny, tmp_path, capsys, monkeypatch):
    import safetensors.torch

    from napari_unet import export_bioimageio
    from napari_unet.cli import main
    from napari_unet.core.exchange import importer

    package = export_bioimageio(tiny, tmp_path / "tiny.zip")
    for module, name, file in ((importer, "import_bioimageio", "a.safetensors"),
                               (safetensors.torch, "save_file", "b.safetensors")):  # fmt: skip
        out = tmp_path / file
        with monkeypatch.context() as patch:
            _meanwhile(patch, module, name, out)
            assert main(["import", str(package), "-o", str(out)]) == 2  # before: 0
        err = capsys.readouterr().err
        assert file in err and "--overwrite" in err and "wrote nothing" in err
        assert out.read_bytes() == OTHER and _debris(tmp_path) == []
