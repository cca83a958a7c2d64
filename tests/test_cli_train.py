import json
import os
import signal
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    touching_cells,
    write_image,
)
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def files(tmp_path):
    paths = {}
    for name, seed in (("a", 0), ("b", 1)):
        img, lab = touching_cells((96, 96), n_cells=8, seed=seed)
        paths[name] = (
            write_image(tmp_path / f"{name}.tif", (img * 65535).astype(np.uint16)),
            write_image(tmp_path / f"{name}_labels.tif", lab.astype(np.uint16)),
        )
    return tmp_path, paths


FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q"]


def test_cli_trains_validates_and_saves(files, capsys):
    from napari_unet import load_model

    tmp, p = files
    out = tmp / "m.safetensors"
    code = main(
        ["train", "--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(out),
         "--steps", "6", "--val", str(p["b"][0]), "--val-labels", str(p["b"][1]),
         "--val-every", "3", *FAST]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "finished at step 6" in captured.out
    assert "step 3: val_loss" in captured.out and "ap50" in captured.out  # metrics printed
    model, meta = load_model(out)
    assert meta["provenance"]["steps"] == 6
    assert (tmp / "m.best.safetensors").exists() and (tmp / "m.optim.safetensors").exists()
    records = [json.loads(line) for line in (tmp / "m.jsonl").read_text().splitlines()]
    kinds = {r["event"] for r in records}
    assert {"TrainStarted", "TrainStep", "Evaluation", "Checkpoint"} <= kinds
    assert [r["step"] for r in records if r["event"] == "Evaluation"] == [3, 6]

    # resume to 8 steps, then fine-tune a new model from it
    code = main(["train", "--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(out),
                 "--steps", "8", "--resume", str(out), "--val-fraction", "0", *FAST])  # fmt: skip
    assert code == 0 and "finished at step 8" in capsys.readouterr().out
    ft = tmp / "ft.safetensors"
    code = main(["train", "--images", str(p["b"][0]), "--labels", str(p["b"][1]), "-o", str(ft),
                 "--steps", "2", "--init", str(out), "--zoom", "0.4", "--workers", "2",
                 "--precision", "fp32", *FAST])  # fmt: skip
    assert code == 0
    prov = load_model(ft)[1]["provenance"]
    assert "fine-tuned" in prov["source"]
    assert prov["config"]["augment"]["scale"] == 0.4 and prov["config"]["workers"] == 2
    assert prov["config"]["precision"] == "fp32"


def test_resume_continues_the_runs_settings_unless_given_again(files, capsys):
    from napari_unet import load_model

    tmp, p = files
    out = tmp / "sgd.safetensors"
    pair = ["--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(out)]
    quick = ["--arch", "tiny", "--device", "cpu", "-q", "--val-fraction", "0"]
    first = ["--optimizer", "sgd", "--lr", "0.005", "--batch-size", "2", "--crop-size", "48",
             "--dice", "0.5", "--no-augment"]  # fmt: skip
    assert main(["train", *pair, "--steps", "3", *first, *quick]) == 0
    assert main(["train", *pair, "--steps", "5", "--resume", str(out), *quick]) == 0
    log = [json.loads(line) for line in (tmp / "sgd.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in log if r["event"] == "TrainStarted"] == [0.005, 0.005]
    config = load_model(out)[1]["provenance"]["config"]
    assert (config["optimizer"], config["lr"], config["batch_size"]) == ("sgd", 0.005, 2)
    assert (config["crop_size"], config["dice_weight"]) == (48, 0.5)
    assert config["augment"]["flips"] is False  # before: adam, auto rate, 4 x 128, augmented
    assert main(["train", *pair, "--steps", "6", "--resume", str(out), "--crop-size", "64",
                 *quick]) == 0  # fmt: skip
    config = load_model(out)[1]["provenance"]["config"]
    assert config["crop_size"] == 64 and config["optimizer"] == "sgd"  # given again: used


def test_robust_trains_for_worse_images_and_a_resume_keeps_it(files, capsys):
    from napari_unet import load_model
    from napari_unet.core.training.augment import ROBUST

    tmp, p = files
    out = tmp / "robust.safetensors"
    pair = ["--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(out)]
    quick = ["--arch", "tiny", "--device", "cpu", "-q", "--val-fraction", "0"]
    assert main(["train", *pair, "--steps", "2", "--robust", "--zoom", "0.3", *quick]) == 0
    augment = load_model(out)[1]["provenance"]["config"]["augment"]
    assert {k: augment[k] for k in ROBUST} == ROBUST and augment["scale"] == 0.3
    # a resume keeps it; --zoom given again changes the zoom alone
    assert main(["train", *pair, "--steps", "3", "--resume", str(out), "--zoom", "0.1",
                 *quick]) == 0  # fmt: skip
    augment = load_model(out)[1]["provenance"]["config"]["augment"]
    assert {k: augment[k] for k in ROBUST} == ROBUST and augment["scale"] == 0.1
    code = main(["train", *pair, "--steps", "2", "--robust", "--no-augment", "--overwrite",
                 *quick])  # fmt: skip
    assert code != 0 and "--no-augment" in capsys.readouterr().err


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_stops_gracefully_and_saves(files, capsys):
    tmp, p = files
    out = tmp / "int.safetensors"
    log = tmp / "int.jsonl"

    def interrupt_when_training():
        for _ in range(600):
            if log.exists() and '"TrainStep"' in log.read_text():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background
    t = threading.Thread(target=interrupt_when_training, daemon=True)
    t.start()
    code = main(["train", "--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(out),
                 "--steps", "100000", "--val-fraction", "0", *FAST])  # fmt: skip
    t.join(5)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "stopped at step" in captured.out
    assert out.exists()
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_cli_bad_input_gets_one_error_line(files, capsys, tmp_path):
    tmp, p = files
    lab_float = write_image(tmp / "f.tif", np.zeros((96, 96), np.float32) + 0.5)
    lab_small = write_image(tmp / "s.tif", np.ones((50, 50), np.uint16))
    empty = write_image(tmp / "e.tif", np.zeros((96, 96), np.uint16))
    cases = [
        (["--labels", str(lab_float)], "integer"),
        (["--labels", str(lab_small)], "shape"),
        (["--labels", str(empty)], "no annotated cell"),
        (["--labels", str(p["a"][1]), "--regions", str(empty)], "region is empty"),
        (["--labels", str(p["a"][1]), "--init", str(tmp / "nope.safetensors")], "not found"),
        (["--labels", str(p["a"][1]), "--val", str(p["b"][0])], "--val-labels"),
        (["--labels", str(p["a"][1]), "--workers", "-1"], "workers must be an integer >= 0"),
        (["--labels", str(p["a"][1]), "--zoom", "-0.5"], "scale must be a number >= 0"),
    ]
    for extra, message in cases:
        code = main(["train", "--images", str(p["a"][0]), *extra, "-o", str(tmp / "x.safetensors"),
                     "--steps", "2", *FAST])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert message in err and err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp / "x.safetensors").exists()


def test_cli_trains_a_head_and_predict_follows_it(files, capsys):
    """--head distance: the file records it; predict (files and Zarr) labels with seeds."""
    from napari_unet import load_model, read_image
    from napari_unet.core.models.heads import head_of

    tmp, p = files
    out = tmp / "d.safetensors"
    code = main(
        ["train", "--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(out),
         "--steps", "3", "--val-fraction", "0", "--head", "distance", *FAST]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    model, meta = load_model(out)
    assert head_of(model) == "distance" and meta["class_names"][-1] == "distance"
    zarr = pytest.importorskip("zarr")
    store = tmp / "b.zarr"
    zarr.save_array(str(store), np.asarray(read_image(p["b"][0])))
    for src, extra in ((p["b"][0], []), (store, ["--tile", "64"])):
        rc = main(["predict", str(out), str(src), "-o", str(tmp / "pred"), "--seed-level", "0.4",
                   "--threshold", "0.3", "--overwrite", *extra])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
    rc = main(["predict", str(out), str(p["b"][0]), "-o", str(tmp / "x"), "--seed-level", "2"])
    assert rc == 2 and "seed_level must be between 0 and 1" in capsys.readouterr().err
    # A head the file's model does not have cannot be asked for when fine-tuning.
    code = main(
        ["train", "--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o",
         str(tmp / "e.safetensors"), "--steps", "2", "--val-fraction", "0", "--init", str(out),
         "--head", "3class", *FAST]
    )  # fmt: skip
    assert code == 2 and "its head is 'distance'" in capsys.readouterr().err


def test_cli_lr_auto_prints_and_records_the_chosen_rate(trained_same, tmp_path, capsys):
    from tiny_model import separate_discs

    from napari_unet import load_model, save_model

    model, meta = trained_same
    start = save_model(tmp_path / "tiny.safetensors", model, normalization=meta["normalization"])
    image, labels = separate_discs(0)  # the tiny model already segments these discs
    img = write_image(tmp_path / "d.tif", image)
    lab = write_image(tmp_path / "d_labels.tif", labels.astype(np.uint16))
    # FAST without --arch: this start model is not the tiny preset (no batch norm)
    common = ["train", "--images", str(img), "--labels", str(lab), "--steps", "2",
              "--val-fraction", "0", "--init", str(start), *FAST[2:]]  # fmt: skip
    for lr, rate, reason in (("auto", 1e-4, "(auto: the start model already segments"),
                             ("3e-4", 3e-4, "(set by the user)")):  # fmt: skip
        out = tmp_path / f"{lr}.safetensors"
        code = main([*common, "-o", str(out), "--lr", lr])
        err = capsys.readouterr().err
        assert code == 0, err
        assert f"learning rate {rate:g} {reason}" in err
        assert load_model(out)[1]["provenance"]["lr"] == pytest.approx(rate)
        started = json.loads((tmp_path / f"{lr}.jsonl").read_text().splitlines()[0])
        assert started["event"] == "TrainStarted" and started["lr"] == pytest.approx(rate)
    with pytest.raises(SystemExit):
        main([*common, "-o", str(tmp_path / "x.safetensors"), "--lr", "fast"])
    assert "expected auto or a number" in capsys.readouterr().err


def test_cli_fine_tune_fits_the_images_to_the_start_models_channels(files, capsys):
    """A colour model fine-tunes on grey files (grey RGB), a grey one on colour (averaged)."""
    from napari_unet import build_model, load_model, save_model

    tmp, p = files
    grey_image = p["a"][0]
    colour_image = write_image(
        tmp / "colour.tif", np.stack([np.asarray(touching_cells((96, 96), 8, seed=0)[0])] * 3, -1)
    )
    from napari_unet.core.training.config import PRESETS

    tiny = PRESETS["tiny"]
    rgb = save_model(tmp / "rgb.safetensors", build_model({**tiny, "in_channels": 3}))
    grey = save_model(tmp / "grey.safetensors", build_model({**tiny, "in_channels": 1}))
    for start, image in ((rgb, grey_image), (grey, colour_image)):
        out = tmp / f"ft-{start.stem}.safetensors"
        code = main(["train", "--images", str(image), "--labels", str(p["a"][1]), "-o", str(out),
                     "--steps", "2", "--init", str(start), "--val-fraction", "0",
                     *FAST])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        model, _ = load_model(out)
        assert model.in_channels == load_model(start)[0].in_channels


def test_fine_tuning_normalises_as_the_start_model_was_trained(files, capsys):
    from napari_unet import TrainConfig, load_model, save_model
    from napari_unet.core.models import build_model

    tmp, p = files
    base = tmp / "zscore.safetensors"
    zscore = {"method": "zscore"}
    save_model(base, build_model(TrainConfig(model="tiny").model), normalization=zscore)
    ft = tmp / "ft.safetensors"
    code = main(["train", "--images", str(p["a"][0]), "--labels", str(p["a"][1]), "-o", str(ft),
                 "--steps", "1", "--init", str(base), "--val-fraction", "0", *FAST])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert load_model(ft)[1]["normalization"] == zscore  # before: the default percentiles


def _train_cli(images, labels, out, *extra):
    images = images if isinstance(images, list) else [images]
    labels = labels if isinstance(labels, list) else [labels]
    return main(["train", "--images", *map(str, images), "--labels", *map(str, labels),
                 "-o", str(out), "--steps", "2", "--val-fraction", "0", *FAST, *extra])  # fmt: skip


def test_a_four_channel_imagej_tiff_trains_on_all_four_channels(tmp_path, capsys):
    import tifffile

    from napari_unet import load_model

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    rng = np.random.default_rng(1)
    cyx = np.stack([img, img * 0.5, rng.random(img.shape), img[::-1]]).astype(np.float32)
    tifffile.imwrite(tmp_path / "c4.tif", cyx, imagej=True, metadata={"axes": "CYX"})
    labels = write_image(tmp_path / "c4_labels.tif", lab.astype(np.uint16))
    out = tmp_path / "c4.safetensors"
    assert _train_cli(tmp_path / "c4.tif", labels, out) == 0, capsys.readouterr().err
    assert load_model(out)[0].in_channels == 4  # before: 3, the 4th dropped as an alpha


def test_a_stack_with_2d_labels_is_one_error_line_and_no_model(tmp_path, capsys):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    series = write_image(tmp_path / "ts.tif", np.stack([img] * 12).astype(np.float32))
    labels = write_image(tmp_path / "ts_labels.tif", lab.astype(np.uint16))
    out = tmp_path / "ts.safetensors"
    assert _train_cli(series, labels, out) == 2  # before: a 12-channel model
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "12 planes" in err and "labels are 2D" in err
    assert not out.exists()


def test_grey_turns_colour_stacks_grey_too(tmp_path, capsys):
    import tifffile

    from napari_unet import load_model

    cells = [touching_cells((96, 96), n_cells=8, seed=s) for s in range(3)]
    rgb = np.stack([np.stack([i, i * 0.5, i * 0.2], -1) for i, _ in cells]).astype(np.float32)
    tifffile.imwrite(tmp_path / "rgbstack.tif", rgb, photometric="rgb")  # (Z, Y, X, 3)
    stack_labels = write_image(tmp_path / "rgbstack_labels.tif",
                               np.stack([lab for _, lab in cells]).astype(np.uint16))  # fmt: skip
    grey = write_image(tmp_path / "grey.tif", cells[0][0].astype(np.float32))
    grey_labels = write_image(tmp_path / "grey_labels.tif", cells[0][1].astype(np.uint16))
    out = tmp_path / "mix.safetensors"
    code = _train_cli([tmp_path / "rgbstack.tif", grey], [stack_labels, grey_labels], out,
                      "--grey")  # fmt: skip
    assert code == 0, capsys.readouterr().err  # before: "1 channel(s) but ... 3; ... --grey"
    assert load_model(out)[0].in_channels == 1


def test_fine_tuning_records_the_models_own_architecture_and_refuses_another_arch(files, capsys):
    from napari_unet import read_metadata

    tmp, p = files
    image, labels = p["a"]
    tiny = tmp / "tiny.safetensors"
    assert _train_cli(image, labels, tiny) == 0
    ft = tmp / "ft.safetensors"
    assert main(["train", "--images", str(image), "--labels", str(labels), "-o", str(ft),
                 "--steps", "2", "--val-fraction", "0", "--init", str(tiny),
                 *FAST[2:]]) == 0  # fmt: skip
    recorded = read_metadata(ft)["provenance"]["config"]["model"]
    assert recorded["base_channels"] == 8 and recorded["depth"] == 3  # before: small's 16, 4
    for start in ("--init", "--resume"):
        code = _train_cli(image, labels, tmp / "x.safetensors", "--steps", "4", start, str(tiny),
                          "--arch", "small")  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and "--arch small does not match" in err and "leave --arch out" in err
    assert not (tmp / "x.safetensors").exists()
    # Naming the model's own preset is no contradiction.
    assert _train_cli(image, labels, tmp / "y.safetensors", "--init", str(tiny)) == 0
