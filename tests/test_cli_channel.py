"""``--channel`` of predict and evaluate: what a grey model reads of a colour image."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import napari_unet as nu
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

#: A DSB2018 histology image: RGBA PNG, dark purple nuclei on pink tissue.
HISTOLOGY = "063_00ae65c1c663"


@pytest.fixture
def colour(tmp_path):
    """The nuclei sample in channel 1 of an RGB image; channels 0 and 2 are noise."""
    image, truth = nu.nuclei_data()
    noise = np.random.default_rng(0).integers(0, 255, image.shape, dtype=np.uint8)
    rgb = np.stack([noise, image, noise[::-1]], axis=-1)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "grey.tif", image)
    tifffile.imwrite(tmp_path / "truth.tif", truth)
    return tmp_path


def test_predict_channel_reads_that_channel_only(colour, capsys):
    out = colour / "out"
    assert (
        main(["predict", "nuclei", str(colour / "rgb.tif"), "-o", str(out), "--channel", "1"]) == 0
    )
    assert main(["predict", "nuclei", str(colour / "grey.tif"), "-o", str(out)]) == 0
    picked = tifffile.imread(out / "rgb_labels.tif")
    np.testing.assert_array_equal(picked, tifffile.imread(out / "grey_labels.tif"))
    assert main(["predict", "nuclei", str(colour / "rgb.tif"), "-o", str(out), "--overwrite"]) == 0
    mean = tifffile.imread(out / "rgb_labels.tif")  # auto: the mean, noise and all
    assert not np.array_equal(mean, picked)


def test_bad_channel_values_are_clear_errors(colour, capsys):
    out = colour / "out"
    assert (
        main(["predict", "nuclei", str(colour / "rgb.tif"), "-o", str(out), "--channel", "3"]) == 2
    )
    err = capsys.readouterr().err
    assert "channel 3" in err and "Traceback" not in err, err
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "nuclei", str(colour / "rgb.tif"), "-o", str(out), "--channel", "red"])
    assert exit_info.value.code == 2
    assert "expected auto, mean or a channel number" in capsys.readouterr().err
    pair = ["evaluate", str(colour / "truth.tif"), str(colour / "truth.tif"), "--channel", "1"]
    assert main(pair) == 2 and "MODEL form" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())


def test_evaluate_scores_a_colour_histology_png(shared_data, tmp_path, capsys):
    images = shared_data / "dsb2018" / "images" / f"{HISTOLOGY}.png"
    truth = shared_data / "dsb2018" / "masks" / f"{HISTOLOGY}.tif"
    json_out = tmp_path / "scores.json"
    args = ["evaluate", "nuclei", "--images", str(images), "--labels", str(truth)]
    assert main([*args, "--json", str(json_out)]) == 0, capsys.readouterr().err
    import json

    total = json.loads(json_out.read_text())["total"]
    assert total["n_gt"] == 70 and total["n_pred"] > 0  # RGBA read, alpha dropped, scored


def test_a_colour_model_predicts_a_grey_file_as_grey_rgb(colour, capsys):
    """The grey file gives exactly what the same picture stored as grey RGB gives."""
    import torch

    from napari_unet.core.training.config import PRESETS

    torch.manual_seed(0)
    model = nu.save_model(
        colour / "rgb.unet.safetensors", nu.build_model({**PRESETS["tiny"], "in_channels": 3})
    )
    image = tifffile.imread(colour / "grey.tif")
    tifffile.imwrite(colour / "grey_rgb.tif", np.stack([image] * 3, -1), photometric="rgb")
    out = colour / "out"
    for name in ("grey", "grey_rgb"):
        code = main(["predict", str(model), str(colour / f"{name}.tif"), "-o", str(out),
                     "--probabilities"])  # fmt: skip
        assert code == 0, capsys.readouterr().err
    written = sorted(p.name for p in out.iterdir())
    for grey_file in [p for p in written if p.startswith("grey_") and "rgb" not in p]:
        twin = grey_file.replace("grey_", "grey_rgb_", 1)
        np.testing.assert_array_equal(tifffile.imread(out / grey_file), tifffile.imread(out / twin))
    assert len(written) >= 4, written


def test_predict_reads_the_channels_an_imagej_file_records(colour, capsys):
    # A two-channel ImageJ hyperstack (C, Y, X): one image of two channels, not two planes.
    image = tifffile.imread(colour / "grey.tif")
    noise = np.random.default_rng(1).integers(0, 255, image.shape, dtype=np.uint8)
    both = np.stack([noise, image])
    tifffile.imwrite(colour / "ij.tif", both, imagej=True, metadata={"axes": "CYX"})
    out = colour / "out"
    picks = ["--channel", "1"]
    assert main(["predict", "nuclei", str(colour / "ij.tif"), "-o", str(out), *picks]) == 0
    assert main(["predict", "nuclei", str(colour / "grey.tif"), "-o", str(out)]) == 0
    picked = tifffile.imread(out / "ij_labels.tif")
    assert picked.shape == image.shape
    np.testing.assert_array_equal(picked, tifffile.imread(out / "grey_labels.tif"))
