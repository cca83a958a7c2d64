"""A full disk while training saves its model keeps the model (`train`, the API, save_model).

safetensors reports a failed write as its own SafetensorError, not an OSError: before, the
handlers that keep the weights (the fallback file, the best model's warning, the command's
``error:`` line) did not see it, the run ended with a traceback and the model was lost. The
full disk is simulated under safetensors' own writer, only for the folders named full.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import load_model, touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q"]
ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.fixture()
def full(tmp_path, monkeypatch):
    """Folders whose disk is full (a set to add to); the temporary folder is ``tmp_path/tmp``."""
    import safetensors.torch
    from safetensors import SafetensorError

    folders = {tmp_path / "full"}
    for folder in (*folders, tmp_path / "tmp"):
        folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    real = safetensors.torch.serialize_file

    def serialize_file(tensors, filename, *args, **kwargs):
        if Path(filename).parent in folders:
            raise SafetensorError(ENOSPC)
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "serialize_file", serialize_file)
    return folders


@pytest.fixture()
def pair(tmp_path):
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    image = write_image(tmp_path / "img.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    return image, labels


def train(pair, out, *extra):
    image, labels = pair
    args = ["train", "--images", str(image), "--labels", str(labels), "-o", str(out)]
    return main([*args, "--steps", "2", *FAST, *extra])


def fallback(folder: Path) -> Path:
    (saved,) = (p for p in folder.glob("m.unsaved-*.safetensors") if ".optim" not in p.name)
    return saved


def test_a_full_disk_at_the_end_saves_the_model_in_the_temporary_folder(
    pair, full, tmp_path, capsys
):
    out = tmp_path / "full" / "m.safetensors"
    assert train(pair, out, "--val-fraction", "0") == 1  # before: a SafetensorError traceback
    err = capsys.readouterr().err
    saved = fallback(tmp_path / "tmp")
    assert str(saved) in err and "No space left on device" in err and "Traceback" not in err
    assert load_model(saved)[1]["training"]["steps_done"] == 2
    assert not out.exists() and list((tmp_path / "full").glob("*.safetensors*")) == []


def test_a_full_disk_for_the_best_model_warns_and_the_run_goes_on(pair, full, tmp_path, capsys):
    out = tmp_path / "full" / "m.safetensors"
    assert train(pair, out, "--val-fraction", "0.3") == 1  # before: a traceback from _save_best
    err = capsys.readouterr().err
    assert "warning: could not save the best model of step 2" in err
    assert "No space left on device" in err and "error:" not in err
    assert load_model(fallback(tmp_path / "tmp"))[1]["training"]["steps_done"] == 2


def test_no_room_anywhere_ends_with_one_error_line(pair, full, tmp_path, capsys):
    full.add(tmp_path / "tmp")
    assert train(pair, tmp_path / "full" / "m.safetensors", "--val-fraction", "0") == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "nor a fallback file" in err
    assert "No space left on device" in err and "Traceback" not in err


def test_the_trainer_keeps_its_best_model_in_memory_when_the_disk_is_full(full, tmp_path):
    from napari_unet import TrainConfig, make_pairs
    from napari_unet import train as train_api

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    config = TrainConfig(model={"arch": "unet", "base_channels": 4, "depth": 2}, steps=4,
                         val_every=2, crop_size=48, batch_size=2, device="cpu")  # fmt: skip
    pairs = make_pairs([img], [lab], **config.pair_options())
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = train_api(pairs, config, val=pairs, output=tmp_path / "full" / "m.safetensors")
    said = [str(w.message) for w in said if issubclass(w.category, RuntimeWarning)]
    assert any(re.match("could not save the best model.*No space left", m) for m in said)
    assert any(re.match("could not save the model to .*No space left", m) for m in said)
    assert result.best_metrics is not None and result.best_model() is not None
    assert result.saved_to == fallback(tmp_path / "tmp")
    assert load_model(result.saved_to)[1]["training"]["steps_done"] == 4


def test_save_model_says_a_full_disk_as_an_oserror_and_keeps_the_old_file(full, tmp_path):
    import errno

    from napari_unet import build_model, save_model

    out = tmp_path / "full" / "m.safetensors"
    out.write_bytes(b"old")
    with pytest.raises(OSError, match="No space left on device") as caught:
        save_model(out, build_model({"arch": "unet", "base_channels": 4, "depth": 2}))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(out)
    assert out.read_bytes() == b"old"  # untouched, and no temporary file left beside it
    assert [p.name for p in out.parent.iterdir()] == ["m.safetensors"]
