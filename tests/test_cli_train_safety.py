"""`napari-unet train` never loses what the user made: outputs are never inputs, a run
that trained nothing writes nothing, a failed save lands in a fallback file, logs append."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import load_model, touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q",
        "--val-fraction", "0"]  # fmt: skip


@pytest.fixture()
def pair(tmp_path):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "img.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    return image, labels


def train(image, labels, *extra):
    return main(["train", "--images", str(image), "--labels", str(labels), *extra, *FAST])


@pytest.mark.parametrize("target", ["labels", "image"])
@pytest.mark.parametrize("flag", ["-o", "--log"])
def test_an_output_that_is_an_input_is_refused_and_nothing_changes(pair, capsys, flag, target):
    image, labels = pair
    victim = labels if target == "labels" else image
    before = victim.read_bytes()
    extra = [flag, str(victim)]
    if flag == "--log":
        extra += ["-o", str(victim.parent / "m.safetensors")]
    assert train(image, labels, "--steps", "2", *extra) == 2
    err = capsys.readouterr().err
    assert "is an input" in err and err.count("error:") == 1
    assert victim.read_bytes() == before
    assert not (victim.parent / "m.safetensors").exists()


def test_the_model_fine_tuned_from_is_not_overwritten(pair, tmp_path, capsys):
    image, labels = pair
    base = tmp_path / "base.safetensors"
    assert train(image, labels, "--steps", "2", "-o", str(base)) == 0
    before = base.read_bytes()
    assert train(image, labels, "--steps", "2", "--init", str(base), "-o", str(base)) == 2
    assert "is an input" in capsys.readouterr().err and base.read_bytes() == before
    # ...while --resume M -o M continues the run in place, as documented.
    assert train(image, labels, "--steps", "4", "--resume", str(base), "-o", str(base)) == 0
    assert load_model(base)[1]["training"]["steps_done"] == 4


def test_an_output_folder_is_refused_before_training(pair, tmp_path, capsys):
    image, labels = pair
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    assert train(image, labels, "--steps", "5", "-o", str(folder)) == 2
    err = capsys.readouterr().err
    assert "it is a folder" in err and not (tmp_path / "model.jsonl").exists()
    assert train(image, labels, "--steps", "5", "-o", str(tmp_path / "no" / "m.safetensors")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_run_stopped_before_its_first_step_leaves_the_existing_model(
    pair, tmp_path, capsys, monkeypatch
):
    image, labels = pair
    out = tmp_path / "m.safetensors"
    assert train(image, labels, "--steps", "3", "-o", str(out)) == 0
    before = out.read_bytes()
    # Ctrl-C arrives while the run starts (the first step checks the flag first).
    from napari_unet.core.training import trainer

    real = trainer._Run.started

    def started_then_ctrl_c(self):
        os.kill(os.getpid(), signal.SIGINT)
        return real(self)

    monkeypatch.setattr(trainer._Run, "started", started_then_ctrl_c)
    assert train(image, labels, "--steps", "50", "-o", str(out), "--overwrite") == 0
    assert "nothing saved" in capsys.readouterr().out
    assert out.read_bytes() == before  # the trained model was not replaced by a 0-step one


def test_a_failed_final_save_lands_in_a_fallback_file(pair, tmp_path, capsys, monkeypatch):
    image, labels = pair
    out = tmp_path / "m.safetensors"
    from napari_unet.core.training import checkpoint

    real = checkpoint.save_result

    def disk_full_for_the_output(result, path):
        if path == out:
            raise OSError(28, "No space left on device")
        return real(result, path)

    monkeypatch.setattr(checkpoint, "save_result", disk_full_for_the_output)
    assert train(image, labels, "--steps", "3", "-o", str(out)) == 0
    err = capsys.readouterr().err
    (saved,) = (p for p in tmp_path.glob("m.unsaved-*.safetensors") if ".optim" not in p.name)
    assert str(saved) in err and not out.exists()
    assert load_model(saved)[1]["training"]["steps_done"] == 3


def test_resuming_appends_to_the_log(pair, tmp_path):
    image, labels = pair
    out, log = tmp_path / "m.safetensors", tmp_path / "m.jsonl"
    assert train(image, labels, "--steps", "3", "-o", str(out)) == 0
    first = log.read_text().splitlines()
    assert train(image, labels, "--steps", "6", "--resume", str(out), "-o", str(out)) == 0
    lines = log.read_text().splitlines()
    assert lines[: len(first)] == first and len(lines) > len(first)
    starts = [json.loads(x)["start_step"] for x in lines if '"TrainStarted"' in x]
    assert starts == [0, 3]


def test_a_failed_best_save_warns_and_the_run_goes_on_to_its_end(tmp_path, monkeypatch):
    from napari_unet import TrainConfig, make_pairs
    from napari_unet import train as train_api
    from napari_unet.core.training import trainer

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer, "save_snapshot", disk_full)
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    config = TrainConfig(model={"arch": "unet", "base_channels": 4, "depth": 2}, steps=4,
                         val_every=2, crop_size=48, batch_size=2, device="cpu")  # fmt: skip
    pairs = make_pairs([img], [lab], **config.pair_options())
    out = tmp_path / "m.safetensors"
    with pytest.warns(RuntimeWarning, match="could not save the best model"):
        result = train_api(pairs, config, val=pairs, output=out)
    assert result.steps_done == 4 and result.best_metrics is not None
    assert load_model(out)[1]["training"]["steps_done"] == 4  # the end of the run saved it


def test_a_run_resumed_from_a_file_names_only_best_weights_it_has(tmp_path):
    import torch

    from napari_unet import TrainConfig, make_pairs
    from napari_unet import train as train_api
    from napari_unet.core.training.checkpoint import best_path

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    model = {"arch": "unet", "base_channels": 4, "depth": 2}
    first = TrainConfig(model=model, steps=4, val_every=2, crop_size=48, batch_size=2,
                        device="cpu")  # fmt: skip
    pairs = make_pairs([img], [lab], **first.pair_options())
    train_api(pairs, first, val=pairs, output=tmp_path / "m.safetensors")
    more = TrainConfig(**{**first.to_dict(), "steps": 6, "lr": 9.0})  # a run that gets worse
    result = train_api(pairs, more, val=pairs, resume=tmp_path / "m.safetensors",
                       output=tmp_path / "n.safetensors")  # fmt: skip
    step = result.best_metrics["step"]
    # The first part's best (read back from m.best) beats a run that gets worse: it is the
    # run's best, its weights in hand, and written beside the new output.
    assert step <= 4
    best, meta = load_model(best_path(tmp_path / "n.safetensors"))
    assert meta["metrics"]["at_save"]["step"] == step
    for key, tensor in result.best_model().state_dict().items():
        assert torch.equal(best.state_dict()[key], tensor), key


def test_folders_pair_each_image_with_the_labels_of_its_name(tmp_path, capsys):
    # Sorted, the names pair wrongly: "cell.png" < "cell_2.png" but "cell_2_labels" < "cell_labels".
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    for name, size in (("cell", 96), ("cell_2", 80)):
        img, lab = touching_cells((size, size), n_cells=6, seed=size)
        write_image(tmp_path / "img" / f"{name}.png", (img * 255).astype(np.uint8))
        write_image(tmp_path / "lab" / f"{name}_labels.tif", lab.astype(np.uint16))
    out = tmp_path / "m.safetensors"
    assert train(tmp_path / "img", tmp_path / "lab", "--steps", "1", "-o", str(out)) == 0
    assert "names differ" not in capsys.readouterr().err
    assert load_model(out)[1]["provenance"]["data"] == ["cell.png", "cell_2.png"]


def test_regions_pair_with_the_image_of_their_name(tmp_path, capsys):
    # Sorted, "a_b_region" < "a_region": zipped with the images, each got the other's region.
    for folder in ("img", "lab", "reg"):
        (tmp_path / folder).mkdir()
    for name, size in (("a", 96), ("a_b", 80)):
        img, lab = touching_cells((size, size), n_cells=6, seed=size)
        write_image(tmp_path / "img" / f"{name}.png", (img * 255).astype(np.uint8))
        write_image(tmp_path / "lab" / f"{name}_labels.tif", lab.astype(np.uint16))
        region = np.zeros((size, size), np.uint8)
        region[: size // 2] = 1
        write_image(tmp_path / "reg" / f"{name}_region.tif", region)
    out = tmp_path / "m.safetensors"
    code = train(tmp_path / "img", tmp_path / "lab", "--regions", str(tmp_path / "reg"),
                 "--steps", "1", "-o", str(out))  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_names_that_match_keep_their_image_and_only_the_rest_pair_in_order(tmp_path, capsys):
    from napari_unet.cli.measure import pair_images

    images = [tmp_path / "c1.tif", tmp_path / "c0.tif"]
    labels = [tmp_path / "c0_labels.tif", tmp_path / "c1_seg.tif"]
    pairs = [(label.name, image.name) for _, label, image in pair_images(labels, images)]
    assert pairs == [("c0_labels.tif", "c0.tif"), ("c1_seg.tif", "c1.tif")]  # before: swapped
    assert "c1_seg.tif with c1.tif" in capsys.readouterr().err


def test_an_existing_model_is_kept_unless_overwrite_is_given(pair, tmp_path, capsys):
    """Running the same command again replaced a trained model and its best silently."""
    image, labels = pair
    out = tmp_path / "m.safetensors"
    assert train(image, labels, "--steps", "3", "-o", str(out)) == 0
    before = out.read_bytes()
    assert train(image, labels, "--steps", "2", "-o", str(out)) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert train(image, labels, "--steps", "5", "--resume", str(out), "-o", str(out)) == 0
    assert train(image, labels, "--steps", "2", "-o", str(out), "--overwrite") == 0


def test_overwrite_without_validation_leaves_no_best_of_the_replaced_run(pair, tmp_path):
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    image, labels = pair
    out = tmp_path / "m.safetensors"
    # FAST without --val-fraction 0: the first run validates on the default hold-out
    common = ["train", "--images", str(image), "--labels", str(labels), "-o", str(out),
              *FAST[:-2]]  # fmt: skip
    assert main([*common, "--steps", "2"]) == 0
    assert best_path(out).exists()
    assert main([*common, "--steps", "3", "--val-fraction", "0", "--overwrite"]) == 0
    assert load_model(out)[1]["provenance"]["steps"] == 3
    assert not best_path(out).exists()  # before: the replaced run's best stayed beside it
    assert not optimizer_path(out, previous=True).exists()
