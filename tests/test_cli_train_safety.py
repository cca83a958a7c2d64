"""`napari-unet train` never loses what the user made: outputs are never inputs, a run
that trained nothing writes nothing, a failed save lands in a fallback file, logs append."""

from __future__ import annotations

import json
import os
import signal
import warnings

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
    # 130, as Ctrl-C: before, 0 and `train ... && predict` went on without the model asked
    assert train(image, labels, "--steps", "50", "-o", str(out), "--overwrite") == 130
    assert "nothing saved" in capsys.readouterr().err
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
    assert train(image, labels, "--steps", "3", "-o", str(out)) == 1  # before: 0, and a script
    # went on without the model it asked for
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


def _validated_run(tmp_path, pair):
    """A run of 4 steps validated on a separate image (``--val``), then its files."""
    image, labels = pair
    img, lab = touching_cells((96, 96), n_cells=8, seed=1)
    val = write_image(tmp_path / "val.tif", (img * 65535).astype(np.uint16))
    val_lab = write_image(tmp_path / "val_lab.tif", lab.astype(np.uint16))
    out = tmp_path / "m.safetensors"
    assert train(image, labels, "--steps", "4", "--val-every", "2", "-o", str(out), "--val",
                 str(val), "--val-labels", str(val_lab)) == 0  # fmt: skip
    return out


def test_a_resume_without_val_keeps_the_runs_validation_and_its_best(pair, tmp_path, capsys):
    """Resumed without --val, a run held out 20% of a training image, and its first
    evaluation there replaced the first part's best (scored on --val) however worse."""
    from napari_unet.core.training.checkpoint import best_path

    image, labels = pair
    out = _validated_run(tmp_path, pair)
    best = best_path(out).read_bytes()
    first_best = load_model(out)[1]["training"]["best_metrics"]
    capsys.readouterr()
    # FAST less its --val-fraction 0: neither --val nor --val-fraction is given
    assert main(["train", "--images", str(image), "--labels", str(labels), "--steps", "6",
                 "--resume", str(out), "-o", str(out), *FAST[:-2]]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "warning" in err and "not validated" in err and "--val" in err
    meta = load_model(out)[1]
    assert meta["provenance"]["config"]["val_fraction"] == 0  # before: the 0.2 hold-out
    assert meta["training"]["best_metrics"] == first_best
    assert best_path(out).read_bytes() == best  # the first part's best stays


def test_a_resume_keeps_the_runs_own_hold_out_fraction(pair, tmp_path):
    image, labels = pair
    out = tmp_path / "m.safetensors"
    common = ["train", "--images", str(image), "--labels", str(labels), "-o", str(out),
              *FAST[:-2]]  # fmt: skip
    assert main([*common, "--steps", "2", "--val-fraction", "0.3"]) == 0
    assert main([*common, "--steps", "3", "--resume", str(out)]) == 0
    assert load_model(out)[1]["provenance"]["config"]["val_fraction"] == 0.3  # before: 0.2


def test_a_resume_without_steps_runs_to_the_runs_own_total(pair, tmp_path, capsys):
    """Without --steps a resumed run went on to the default 500, not to its own total."""
    from napari_unet import TrainConfig, make_pairs
    from napari_unet import train as train_api

    image, labels = pair
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    config = TrainConfig(model="tiny", steps=4, crop_size=48, batch_size=2, device="cpu")
    pairs = make_pairs([img], [lab], **config.pair_options())
    calls = iter(range(100))  # checked before every step: stops before the third
    out = tmp_path / "m.safetensors"
    part = train_api(pairs, config, stop=lambda: next(calls) >= 2, output=out)
    assert part.steps_done == 2 and part.stopped
    resume = ["--resume", str(out), "-o", str(out)]
    assert train(image, labels, *resume) == 0
    assert "finished at step 4" in capsys.readouterr().out
    assert load_model(out)[1]["training"]["steps_done"] == 4
    # The run did its steps: a larger --steps is needed, and nothing changes.
    before = out.read_bytes()
    assert train(image, labels, *resume) == 2
    err = capsys.readouterr().err
    assert "already trained its 4 steps" in err and "--steps" in err and err.count("error:") == 1
    assert out.read_bytes() == before


def test_a_log_that_is_no_json_lines_log_or_a_model_is_refused(pair, tmp_path, capsys):
    """--log naming a model file appended JSON lines to it: the model could not be read."""
    image, labels = pair
    old = tmp_path / "old.safetensors"
    assert train(image, labels, "--steps", "2", "-o", str(old)) == 0
    text = tmp_path / "notes.txt"
    text.write_text("my notes\n")
    new = tmp_path / "new.safetensors"
    for log, extra, message in [
        (old, [], "not a JSON-lines log"),
        (text, [], "not a JSON-lines log"),
        (old, ["--resume", str(old)], "model file"),
    ]:
        before = log.read_bytes()
        assert train(image, labels, "--steps", "3", "-o", str(new), "--log", str(log),
                     *extra) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert message in err and err.count("error:") == 1, err
        assert log.read_bytes() == before and not new.exists()
    load_model(old)  # still a model
    # An existing JSON-lines log is appended to, as a resumed run's log is.
    log = tmp_path / "old.jsonl"
    assert train(image, labels, "--steps", "3", "-o", str(new), "--log", str(log)) == 0


def test_an_output_sharing_another_runs_optimiser_state_is_refused(pair, tmp_path, capsys):
    """-o nuclei and -o nuclei.safetensors share nuclei.optim.safetensors: the second run
    replaced the first one's optimiser state, which then could not be resumed. (-o nuclei.v1
    and -o nuclei.v2 shared it too before names kept their ending: both are allowed now.)"""
    from napari_unet.core.training.checkpoint import optimizer_path

    image, labels = pair
    v1, v2 = tmp_path / "nuclei", tmp_path / "nuclei.safetensors"
    assert optimizer_path(v1) == optimizer_path(v2)
    assert train(image, labels, "--steps", "2", "-o", str(v1)) == 0
    state = optimizer_path(v1)
    before = state.read_bytes()
    assert train(image, labels, "--steps", "2", "-o", str(v2)) == 2
    err = capsys.readouterr().err
    assert str(state) in err and "nuclei's run" in err and err.count("error:") == 1
    assert "nuclei_2.safetensors" in err
    assert state.read_bytes() == before and not v2.exists()
    assert train(image, labels, "--steps", "3", "--resume", str(v1), "-o", str(v1)) == 0
    # a state whose model file is gone resumes nothing: a new run may replace it
    v1.unlink()
    assert train(image, labels, "--steps", "2", "-o", str(v2)) == 0 and v2.exists()


@pytest.mark.parametrize("ending", [".optim.safetensors", ".optim.prev.safetensors"])
def test_an_output_named_as_a_runs_optimiser_state_is_refused(pair, tmp_path, capsys, ending):
    """Before, the hint said to pass --overwrite, which replaced run m's optimiser state:
    m could not be resumed any more."""
    image, labels = pair
    model = tmp_path / "m.safetensors"
    assert train(image, labels, "--steps", "2", "-o", str(model)) == 0
    state = tmp_path / f"m{ending}"
    if not state.exists():  # NAME.optim.prev is kept from a second save on
        state.write_bytes(b"kept")
    before = state.read_bytes()
    capsys.readouterr()
    assert train(image, labels, "--steps", "2", "-o", str(state), "--overwrite") == 2
    err = capsys.readouterr().err
    assert "optimiser state of the run 'm'" in err and err.count("error:") == 1
    assert state.read_bytes() == before


def test_messages_name_the_command_and_the_options_they_are_about(pair, tmp_path, capsys):
    import zipfile

    image, labels = pair
    out = tmp_path / "x.safetensors"
    # two label files for one image: no advice to "measure them in separate runs"
    other = tmp_path / "other.tif"
    other.write_bytes(image.read_bytes())
    twins = [tmp_path / "img_labels.tif", tmp_path / "img_masks.tif"]
    for twin in twins:
        twin.write_bytes(labels.read_bytes())
    code = main(["train", "--images", str(image), str(other), "--labels", *map(str, twins),
                 "-o", str(out), "--steps", "1", *FAST])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "two label files" in err and "measure" not in err, err
    # --val with two images and one label file: about --val, not the training images
    assert train(image, labels, "--val", str(image), str(other), "--val-labels", str(labels),
                 "-o", str(out), "--steps", "1") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "(--val)" in err and "(--val-labels)" in err and err.count("error:") == 1, err
    # a bioimage.io package as --init: import it first
    package = tmp_path / "m.zip"
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("rdf.yaml", "type: model\n")
    assert train(image, labels, "--init", str(package), "-o", str(out), "--steps", "1") == 2
    err = capsys.readouterr().err
    assert "bioimage.io model package" in err and "napari-unet import" in err
    assert not out.exists()


def test_a_warning_of_the_package_prints_as_one_warning_line(pair, tmp_path, monkeypatch, capsys):
    """Before: Python's format (a source path, a line number, the category, a code line)."""
    from napari_unet.core.training import trainer

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer, "save_snapshot", disk_full)
    image, labels = pair
    out = tmp_path / "m.safetensors"
    args = ["train", "--images", str(image), "--labels", str(labels), "--steps", "4",
            "--val-every", "2", "-o", str(out), *FAST[:-2], "--val-fraction", "0.3"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as a user's Python shows them (pytest -W ignore)
        assert main(args) == 0
    err = capsys.readouterr().err
    assert "napari-unet train: warning: could not save the best model" in err
    assert "RuntimeWarning" not in err and ".py:" not in err
    assert out.exists()


def test_warnings_of_other_packages_keep_python_s_format(capsys):
    import warnings

    from napari_unet.cli import PACKAGE, warning_lines

    with warnings.catch_warnings(record=True) as caught:  # as Python would show them
        warnings.simplefilter("always")
        shown = warnings.showwarning
        with warning_lines("predict"):
            warnings.warn_explicit("ours", RuntimeWarning, str(PACKAGE / "core" / "x.py"), 3)
            warnings.warn_explicit("theirs", UserWarning, "/elsewhere/lib.py", 7)
        assert warnings.showwarning is shown  # put back
    assert capsys.readouterr().err == "napari-unet predict: warning: ours\n"
    assert [(str(w.message), w.filename, w.lineno) for w in caught] == [
        ("theirs", "/elsewhere/lib.py", 7)
    ]
