"""Training's side files and settings (hunt 15, fixer T2).

1. Outputs without a ``.safetensors`` ending kept their optimiser state, best model and log
   under the name less its last ending: ``nuclei_v1.1`` destroyed ``nuclei_v1.0``'s resume.
2. A one-class (sigmoid) network crashed training with a raw IndexError.
3. ``output="."`` (and ``-o .``) raised ``ValueError: PosixPath('.') has an empty name``.
4. A seed above 2**63 - 1 passed TrainConfig and then failed in torch.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet import InputError  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "32", "--batch-size", "1", "--device", "cpu", "-q",
        "--val-fraction", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def pairs():
    img, lab = nu.touching_cells((96, 96), n_cells=8, seed=0)
    return nu.make_pairs([img], [lab])


def _cfg(**kw):
    settings = {"model": "tiny", "steps": 3, "batch_size": 1, "crop_size": 32, "device": "cpu",
                "prefetch": 0, "val_every": 100} | kw  # fmt: skip
    return nu.TrainConfig(**settings)


@pytest.fixture
def in_tmp(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


@pytest.fixture
def files(tmp_path):
    img, lab = nu.touching_cells((96, 96), n_cells=8, seed=0)
    image = nu.write_image(tmp_path / "img.tif", (img * 65535).astype(np.uint16))
    labels = nu.write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    return image, labels


def _cli(files, *extra):
    image, labels = files
    return main(["train", "--images", str(image), "--labels", str(labels), *extra, *FAST])


# -- 1. names that differ after their last dot keep their own side files ----------------


def test_side_file_names_keep_a_non_safetensors_ending_whole():
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    assert optimizer_path("d/nuclei_v1.0").name == "nuclei_v1.0.optim.safetensors"
    assert optimizer_path("nuclei_v1.1").name == "nuclei_v1.1.optim.safetensors"
    assert optimizer_path("v1.0", previous=True).name == "v1.0.optim.prev.safetensors"
    assert best_path("nuclei_v1.0").name == "nuclei_v1.0.best.safetensors"
    # as before for .safetensors outputs and names without an ending
    assert optimizer_path("m.safetensors").name == "m.optim.safetensors"
    assert optimizer_path("m.SAFETENSORS").name == "m.optim.safetensors"
    assert best_path("m.safetensors").name == "m.best.safetensors"
    assert best_path("m.SAFETENSORS").name == "m.best.SAFETENSORS"
    assert optimizer_path("m").name == "m.optim.safetensors"
    assert best_path("m").name == "m.best.safetensors"


def test_a_second_output_differing_after_the_last_dot_keeps_the_first_resumable(pairs, tmp_path):
    first, second = tmp_path / "nuclei_v1.0", tmp_path / "nuclei_v1.1"
    nu.train(pairs, _cfg(), output=first)
    nu.train(pairs, _cfg(), output=second)
    result = nu.train(pairs, _cfg(steps=5), resume=first, output=tmp_path / "more.safetensors")
    assert result.steps_done == 5


def test_a_run_saved_under_the_old_state_name_still_resumes(pairs, tmp_path):
    """A run saved before kept v1.optim.safetensors beside v1.0: it is still found."""
    from napari_unet.core.training.checkpoint import optimizer_path

    out = tmp_path / "v1.0"
    nu.train(pairs, _cfg(), output=out)
    optimizer_path(out).rename(tmp_path / "v1.optim.safetensors")
    assert nu.train(pairs, _cfg(steps=5), resume=out).steps_done == 5


def test_cli_outputs_differing_after_the_last_dot_keep_their_own_state_and_log(files, tmp_path):
    from napari_unet.core.training.checkpoint import optimizer_path

    v1, v2 = tmp_path / "nuclei.v1", tmp_path / "nuclei.v2"
    assert _cli(files, "--steps", "2", "-o", str(v1)) == 0
    state, log = optimizer_path(v1).read_bytes(), (tmp_path / "nuclei.v1.jsonl").read_bytes()
    assert _cli(files, "--steps", "2", "-o", str(v2)) == 0
    assert optimizer_path(v1).read_bytes() == state
    assert (tmp_path / "nuclei.v1.jsonl").read_bytes() == log
    assert (tmp_path / "nuclei.v2.jsonl").is_file()
    assert _cli(files, "--steps", "3", "--resume", str(v1), "-o", str(v1)) == 0


def test_cli_name_and_name_safetensors_still_share_a_state_and_are_refused(files, tmp_path, capsys):
    """``-o nuclei`` and ``-o nuclei.safetensors`` keep one state: the second is refused,
    whichever comes first (before, only one order was checked)."""
    for first, second in (("a", "a.safetensors"), ("b.safetensors", "b")):
        assert _cli(files, "--steps", "2", "-o", str(tmp_path / first)) == 0
        capsys.readouterr()
        assert _cli(files, "--steps", "2", "-o", str(tmp_path / second)) == 2
        err = capsys.readouterr().err
        assert f"{first}'s run" in err and err.count("error:") == 1, err
        assert f"{first[0]}_2.safetensors" in err and not (tmp_path / second).exists()


# -- 2. a one-class network is refused in plain words -----------------------------------


def test_fine_tuning_a_one_class_model_is_refused(pairs, tmp_path):
    net = nu.build_model({"arch": "unet", "base_channels": 8, "depth": 2, "n_classes": 1})
    nu.save_model(tmp_path / "one.safetensors", net)
    with pytest.raises(InputError, match="a one-class model cannot be trained here"):
        nu.train(pairs, _cfg(lr=1e-3), init=tmp_path / "one.safetensors",
                 output=tmp_path / "tuned.safetensors")  # fmt: skip
    assert not (tmp_path / "tuned.safetensors").exists()


def test_training_a_one_class_model_from_scratch_is_refused(pairs, tmp_path):
    model = {"arch": "unet", "base_channels": 8, "depth": 2, "n_classes": 1}
    with pytest.raises(InputError, match="a one-class model cannot be trained here"):
        nu.train(pairs, _cfg(model=model), output=tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_cli_init_of_a_one_class_model_is_refused(files, tmp_path, capsys):
    net = nu.build_model({"arch": "unet", "base_channels": 8, "depth": 2, "n_classes": 1})
    nu.save_model(tmp_path / "one.safetensors", net)
    out = tmp_path / "m.safetensors"
    image, labels = files
    rc = main(["train", "--images", str(image), "--labels", str(labels), "--steps", "2",
               "--init", str(tmp_path / "one.safetensors"), "-o", str(out), "--crop-size", "32",
               "--batch-size", "1", "--device", "cpu", "-q", "--val-fraction", "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "a one-class model cannot be trained here" in err, err
    assert "Traceback" not in err and not out.exists()


# -- 3. an output that is a folder, also ".", is refused in plain words -----------------


@pytest.mark.parametrize("output", [".", ""])
def test_api_output_dot_is_refused_as_a_folder(pairs, in_tmp, output):
    with pytest.raises(InputError, match="it is a folder; give a file name"):
        nu.train(pairs, _cfg(), output=output)


def test_cli_output_dot_is_refused_as_a_folder(files, in_tmp, capsys):
    assert _cli(files, "--steps", "2", "-o", ".") == 2
    err = capsys.readouterr().err
    assert "it is a folder; give a file name" in err and err.count("error:") == 1, err


# -- 4. seeds torch cannot take are refused when made ------------------------------------


def test_a_seed_beyond_64_bits_is_refused():
    with pytest.raises(InputError, match=r"seed must be an integer in \[0, 2\*\*63 - 1\]"):
        nu.TrainConfig(seed=2**63)
    assert nu.TrainConfig(seed=2**63 - 1).seed == 2**63 - 1


def test_the_largest_seed_trains_with_dropout(pairs):
    from napari_unet.core.training.setup import step_random

    net = torch.nn.Sequential(torch.nn.Dropout(0.5))
    with step_random(net, 2**63 - 1, 7, torch.device("cpu")):
        torch.rand(1)
    result = nu.train(pairs, _cfg(steps=2, seed=2**63 - 1))
    assert result.steps_done == 2
