"""`napari-unet train -o` never writes over a built-in model's file.

An editable install keeps ``napari_unet/data/*.safetensors`` writable: with ``--overwrite``
the command trained into the built-in file, and every ``"nuclei"`` (and ``"auto"``) loaded
that run's weights afterwards. The Python API still may (``scripts/train_nuclei.py``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet import touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.models import pretrained  # noqa: E402

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q",
        "--val-fraction", "0", "--steps", "2"]  # fmt: skip


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_builtin_files_are_the_installed_model_files():
    files = pretrained.builtin_files()
    for name in pretrained.PRETRAINED:
        assert files[pretrained.pretrained_path(name).resolve()] == name


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("relative", [False, True])
def test_train_refuses_a_builtin_model_as_output(tmp_path, monkeypatch, capsys, overwrite,
                                                 relative):  # fmt: skip
    from napari_unet.core.training import trainer

    def trained(*a, **k):  # the code before trained into the built-in file: never let it
        raise AssertionError("training started with a built-in model as the output")

    monkeypatch.setattr(trainer, "iter_train", trained)
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "img.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    builtin = pretrained.pretrained_path("nuclei")
    before = _digest(builtin)
    out = builtin
    if relative:  # the same file by another spelling
        monkeypatch.chdir(builtin.parent)
        out = builtin.name
    extra = ["--overwrite"] if overwrite else []
    args = ["train", "--images", str(image), "--labels", str(labels), "-o", str(out),
            "--log", str(tmp_path / "log.jsonl"), *extra, *FAST]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "that is the built-in model 'nuclei'; choose another file" in err
    assert err.count("error:") == 1
    assert _digest(builtin) == before
    assert not (tmp_path / "log.jsonl").exists()


def test_train_to_another_file_is_unchanged(tmp_path, capsys):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "img.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    out = tmp_path / "nuclei.unet.safetensors"  # the built-in file's name, elsewhere
    assert main(["train", "--images", str(image), "--labels", str(labels), "-o", str(out),
                 *FAST]) == 0  # fmt: skip
    assert out.exists()
