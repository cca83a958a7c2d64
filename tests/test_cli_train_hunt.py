"""`napari-unet train` after a bug hunt: what a stopped or interrupted run keeps, which files
pair as image and labels, what --grey and validation do, and what the command says."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import load_model, read_metadata, touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q"]


def _pair(folder, name="img", seed=0, image_suffix=".tif", label_name=None):
    img, lab = touching_cells((96, 96), n_cells=8, seed=seed)
    image = write_image(folder / f"{name}{image_suffix}", (img * 255).astype(np.uint8))
    labels = write_image(folder / (label_name or f"{name}_labels.tif"), lab.astype(np.uint16))
    return image, labels


def _train(images, labels, *extra):
    images = images if isinstance(images, list) else [images]
    labels = labels if isinstance(labels, list) else [labels]
    return main(["train", "--images", *map(str, images), "--labels", *map(str, labels),
                 *extra, *FAST])  # fmt: skip


def test_a_fine_tune_stopped_before_its_first_step_keeps_the_earlier_best(
    tmp_path, capsys, monkeypatch
):
    """Scored at step 0 before the stop was looked at, the start model replaced NAME.best."""
    from napari_unet.core.training import trainer
    from napari_unet.core.training.checkpoint import best_path

    image, labels = _pair(tmp_path)
    val, val_labels = _pair(tmp_path, "val", seed=1)
    validated = ["--val", str(val), "--val-labels", str(val_labels), "--val-every", "2"]
    start, out = tmp_path / "start.safetensors", tmp_path / "m.safetensors"
    assert _train(image, labels, "--steps", "2", "--val-fraction", "0", "-o", str(start)) == 0
    assert _train(image, labels, "--steps", "4", *validated, "-o", str(out)) == 0
    before = best_path(out).read_bytes()
    capsys.readouterr()
    real = trainer._Run.started

    def started_then_ctrl_c(self):  # Ctrl-C as the run starts: before the start is scored
        os.kill(os.getpid(), signal.SIGINT)
        return real(self)

    monkeypatch.setattr(trainer._Run, "started", started_then_ctrl_c)
    assert _train(image, labels, "--steps", "50", "--init", str(start), *validated,
                  "-o", str(out), "--overwrite") == 130  # fmt: skip
    printed = capsys.readouterr()
    assert "nothing saved" in printed.err and "best:" not in printed.out
    assert best_path(out).read_bytes() == before  # before: the start model's weights


def test_a_second_ctrl_c_while_the_model_is_saved_still_saves_it(tmp_path, capsys, monkeypatch):
    """Docs: a second Ctrl-C aborts the step and still saves; during the save, all was lost."""
    from napari_unet.core.training import checkpoint

    image, labels = _pair(tmp_path)
    out = tmp_path / "m.safetensors"
    real = checkpoint.save_result

    def ctrl_c_twice_then_save(result, path):
        os.kill(os.getpid(), signal.SIGINT)  # the first: stop after the step
        os.kill(os.getpid(), signal.SIGINT)  # the second, while the model is written
        return real(result, path)

    monkeypatch.setattr(checkpoint, "save_result", ctrl_c_twice_then_save)
    assert _train(image, labels, "--steps", "3", "--val-fraction", "0", "-o", str(out)) == 130
    assert f"saved {out}" in capsys.readouterr().err
    assert load_model(out)[1]["training"]["steps_done"] == 3  # before: no model at all

    def ctrl_c_once_then_save(result, path):  # a first Ctrl-C only stops: the run ends well
        os.kill(os.getpid(), signal.SIGINT)
        return real(result, path)

    monkeypatch.setattr(checkpoint, "save_result", ctrl_c_once_then_save)
    assert _train(image, labels, "--steps", "5", "--resume", str(out), "-o", str(out)) == 0
    assert "finished at step 5" in capsys.readouterr().out
    assert load_model(out)[1]["training"]["steps_done"] == 5


def test_ctrl_c_while_a_script_saves_the_run_raises_once_it_is_saved(tmp_path, monkeypatch):
    from napari_unet import TrainConfig, make_pairs, train
    from napari_unet.core.training import checkpoint

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    config = TrainConfig(model="tiny", steps=2, crop_size=48, batch_size=2, device="cpu")
    pairs = make_pairs([img], [lab], **config.pair_options())
    real = checkpoint.save_result

    def ctrl_c_then_save(result, path):
        os.kill(os.getpid(), signal.SIGINT)
        return real(result, path)

    monkeypatch.setattr(checkpoint, "save_result", ctrl_c_then_save)
    out = tmp_path / "m.safetensors"
    # Python's own Ctrl-C handler, as a script has (pytest-xdist's workers ignore SIGINT)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            train(pairs, config, output=out)
    finally:
        signal.signal(signal.SIGINT, old)
    assert caught.value.result.saved_to == out
    assert load_model(out)[1]["training"]["steps_done"] == 2


def test_a_folder_given_as_images_and_labels_pairs_images_with_their_label_files(
    tmp_path, capsys
):
    """Each file of the folder was paired with itself: a PNG's grey values as its labels."""
    cellpose = tmp_path / "cellpose"
    cellpose.mkdir()
    _pair(cellpose, "a", image_suffix=".png", label_name="a_cp_masks.png")
    out = tmp_path / "m.safetensors"
    code = _train(cellpose, cellpose, "--steps", "1", "--val-fraction", "0", "-o", str(out))
    err = capsys.readouterr().err
    assert code == 0, err  # before: "two label files are for the image 'a'"
    assert "both name" in err and "a_cp_masks.png" in err
    assert read_metadata(out)["provenance"]["data"] == ["a.png"]
    # a folder whose label files are not named after an image: refused, not self-paired
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    image, _ = _pair(mixed, "nuclei", image_suffix=".png", label_name="nuclei_gt.tif")
    other = tmp_path / "other.safetensors"
    assert _train(mixed, mixed, "--steps", "1", "-o", str(other)) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "none of its files is named as the labels" in err
    # and one file as its own labels
    assert _train(image, image, "--steps", "1", "-o", str(other)) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "its own label file" in err
    assert not other.exists()


@pytest.mark.parametrize("weights, axis", [((1, 0.6, 0.3), 0), ((1, 0.5), 0), ((1, 0.5), -1)])
def test_grey_turns_a_channels_first_colour_image_grey(tmp_path, capsys, weights, axis):
    """3 channels first (before: a colour model), and 2 channels either way (before: a
    2-channel model despite --grey)."""
    import tifffile

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    colour = (np.stack([img * w for w in weights], axis) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "cyx.tif", colour, photometric="minisblack")
    labels = write_image(tmp_path / "cyx_labels.tif", lab.astype(np.uint16))
    out = tmp_path / "m.safetensors"
    code = _train(tmp_path / "cyx.tif", labels, "--grey", "--steps", "1", "--val-fraction", "0",
                  "-o", str(out))  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert read_metadata(out)["config"]["in_channels"] == 1  # before: a 3-channel model


def test_the_validation_line_says_what_it_scores_and_evaluate_scores_it_alike(tmp_path, capsys):
    image, labels = _pair(tmp_path)
    val, val_labels = _pair(tmp_path, "val", seed=1)
    out = tmp_path / "m.safetensors"
    assert _train(image, labels, "--steps", "20", "--val-every", "20", "--val", str(val),
                  "--val-labels", str(val_labels), "--lr", "0.01", "-o", str(out)) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "step 20: val_loss" in captured.out and "own scale, light as recorded" in captured.out
    how = "--object-size none --background keep"
    assert how in captured.err
    printed = read_metadata(out)["training"]["history"]["val"][-1]  # the last model's scores
    report = tmp_path / "e.json"
    assert main(["evaluate", str(out), *how.split(), "--images", str(val), "--labels",
                 str(val_labels), "--json", str(report)]) == 0  # fmt: skip
    total = json.loads(report.read_text())["total"]
    assert total["n_pred"] == printed["n_pred"] and total["n_gt"] == printed["n_gt"]
    assert total["pixel_iou"] == pytest.approx(printed["pixel_iou"])
    assert total["per_threshold"][0]["ap"] == pytest.approx(printed["ap50"])


def test_val_fraction_with_val_is_refused(tmp_path, capsys):
    """It was ignored, but recorded: a resume without --val then held out that fraction."""
    image, labels = _pair(tmp_path)
    val, val_labels = _pair(tmp_path, "val", seed=1)
    out = tmp_path / "m.safetensors"
    assert _train(image, labels, "--steps", "2", "--val", str(val), "--val-labels",
                  str(val_labels), "--val-fraction", "0.3", "-o", str(out)) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "--val-fraction 0.3" in err and not out.exists()


def test_a_run_that_recorded_a_fraction_beside_val_images_resumes_keeping_its_best(
    tmp_path, capsys
):
    """Resumed in place without --val, it validated on a strip of a training image and that
    score replaced the best chosen on the separate validation images."""
    from napari_unet import TrainConfig, make_pairs, train
    from napari_unet.core.images.io import read_image
    from napari_unet.core.training.checkpoint import best_path

    image, labels = _pair(tmp_path)
    val, val_labels = _pair(tmp_path, "val", seed=1)
    out = tmp_path / "m.safetensors"

    config = TrainConfig(model="tiny", steps=4, val_every=2, crop_size=48, batch_size=2,
                         device="cpu", val_fraction=0.3)  # fmt: skip
    read = [np.asarray(read_image(p)) for p in (image, labels, val, val_labels)]
    pairs = make_pairs([read[0]], [read[1]], names=[image.name], **config.pair_options())
    holdout = make_pairs([read[2]], [read[3]], names=[val.name], validation=True,
                         **config.pair_options())  # fmt: skip
    with pytest.warns(UserWarning, match="val_fraction 0.3 is ignored"):
        result = train(pairs, config, val=holdout, output=out)
    # Nothing was held out: the result and the file record no fraction (before: 0.3).
    assert result.config.val_fraction == 0
    assert read_metadata(out)["provenance"]["config"]["val_fraction"] == 0
    best = best_path(out).read_bytes()
    assert _train(image, labels, "--steps", "6", "--resume", str(out), "-o", str(out)) == 0
    assert "not validated" in capsys.readouterr().err
    assert best_path(out).read_bytes() == best  # before: replaced, scored on a training strip


def test_a_resume_with_another_optimiser_says_the_rate_was_scaled_and_names_the_carried_best(
    tmp_path, capsys
):
    image, labels = _pair(tmp_path)
    first, second = tmp_path / "m.safetensors", tmp_path / "n.safetensors"
    assert _train(image, labels, "--steps", "4", "--val-every", "2", "--val-fraction", "0.3",
                  "-o", str(first)) == 0  # fmt: skip
    best_step = read_metadata(first)["training"]["best_metrics"]["step"]
    capsys.readouterr()
    assert _train(image, labels, "--steps", "5", "--resume", str(first), "--optimizer", "sgd",
                  "--val-fraction", "0", "-o", str(second)) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "learning rate 0.01 (the adam rate 0.001 of the run it resumes, scaled to sgd" in (
        captured.err
    )
    assert "kept from" not in captured.err  # before: "kept" of a rate ten times the run's
    assert read_metadata(second)["provenance"]["lr_reason"].startswith("the adam rate 0.001")
    assert f"carried best of step {best_step}" in captured.out
    assert "best so far" not in captured.out  # before: as if the resumed step were best


def test_a_validation_image_that_is_a_training_image_is_warned_about(tmp_path, capsys):
    image, labels = _pair(tmp_path)
    other, other_labels = _pair(tmp_path, "other", seed=1)
    copy = tmp_path / "copy.tif"
    copy.write_bytes(image.read_bytes())  # another file, the same pixels
    out = tmp_path / "m.safetensors"
    for val in (image, copy):
        assert _train([image, other], [labels, other_labels], "--steps", "1", "--val", str(val),
                      "--val-labels", str(labels), "-o", str(out), "--overwrite") == 0  # fmt: skip
        err = capsys.readouterr().err
        assert "warning" in err and f"{val.name} is also a training image" in err
    assert _train(image, labels, "--steps", "1", "--val", str(other), "--val-labels",
                  str(other_labels), "-o", str(out), "--overwrite") == 0  # fmt: skip
    assert "also a training image" not in capsys.readouterr().err
