"""The built-in name ``auto``: nuclei for bright objects on dark, nuclei-brightfield for dark."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
from PIL import Image

import napari_unet as nu
from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.images.contrast import BRIGHT_BACKGROUND, background_level, dark_on_bright
from napari_unet.core.models.pretrained import (
    choose_pretrained,
    is_pretrained_name,
    pretrained_path,
    resolve_model,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fluorescence():
    return nu.nuclei_data()


def test_background_level_tells_a_dark_background_from_a_bright_one(fluorescence):
    image, _ = fluorescence
    assert background_level(image) < 0.1
    assert background_level(255 - image) > 0.9
    # colour is averaged (as a grey model reads it); channels first or last alike
    rgb = np.stack([255 - image, 250 - image // 2, 255 - image], axis=-1).astype(np.uint8)
    assert dark_on_bright(rgb) and dark_on_bright(np.moveaxis(rgb, -1, 0), channel_axis=0)
    assert not dark_on_bright(np.stack([image] * 3, axis=-1))
    # a stack and a lazy image are read too
    assert dark_on_bright(np.stack([255 - image] * 3)) and not dark_on_bright(image[None])
    da = pytest.importorskip("dask.array")
    assert dark_on_bright(da.from_array(255 - image, chunks=64))
    assert not dark_on_bright(da.from_array(image, chunks=64))


def test_an_image_without_contrast_counts_as_fluorescence():
    assert background_level(np.full((64, 64), 7, np.uint8)) is None
    assert not dark_on_bright(np.full((64, 64), 7, np.uint8))
    assert not dark_on_bright(np.full((64, 64), np.nan, np.float32))
    assert choose_pretrained(np.zeros((32, 32))) == "nuclei"


def test_it_judges_the_channel_the_model_will_read(fluorescence, tmp_path, capsys):
    image, _ = fluorescence
    two = np.stack([255 - image, image], axis=-1)  # brightfield and nuclear fluorescence
    assert choose_pretrained(two, channel=1) == "nuclei"
    assert choose_pretrained(two, channel=0) == "nuclei-brightfield"
    _write(tmp_path / "in", "two", two)
    args = ["predict", "auto", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--channel"]
    assert main([*args, "1"]) == 0
    assert "built-in model nuclei (auto" in capsys.readouterr().out


def test_constant_padding_is_not_background(fluorescence):
    """A bright-background tile in a mostly black mosaic; a dark one keeps its nuclei model."""
    image, _ = fluorescence
    h, w = image.shape
    mosaic = np.zeros((2 * h, 2 * w), np.uint8)
    mosaic[:h, :w] = 255 - image  # three tiles were never scanned
    assert background_level(mosaic) < BRIGHT_BACKGROUND  # the padding is the median
    assert choose_pretrained(mosaic) == "nuclei-brightfield"
    mosaic[:h, :w] = image
    assert choose_pretrained(mosaic) == "nuclei"
    # an exactly black background is background, not padding: kept between the nuclei
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:256, :256]
    colony = np.zeros((256, 256), np.uint16)  # background-subtracted, nuclei in a cluster
    for cy, cx in [(110, 110), (110, 146), (146, 110), (146, 146), (128, 128)]:
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 17**2
        colony[disc] = 1000 + rng.integers(0, 300, disc.sum())
    assert choose_pretrained(colony) == "nuclei"
    one = np.zeros((64, 64), np.uint8)  # a crop of one textured nucleus
    disc = (yy[:64, :64] - 32) ** 2 + (xx[:64, :64] - 32) ** 2 < 20**2
    one[disc] = 180 + rng.integers(0, 40, disc.sum())
    assert choose_pretrained(one) == "nuclei"


def test_a_file_name_is_refused_with_what_to_do():
    with pytest.raises(InputError, match="not a file name"):
        choose_pretrained("he.png")
    with pytest.raises(InputError, match="at least 2 dimensions"):
        choose_pretrained(np.zeros(5))


def test_auto_chooses_the_model_for_the_image(fluorescence):
    image, _ = fluorescence
    assert choose_pretrained(image) == "nuclei"
    assert choose_pretrained(255 - image) == "nuclei-brightfield"
    assert pretrained_path("auto", 255 - image) == pretrained_path("nuclei-brightfield")
    assert resolve_model("auto", image) == pretrained_path("nuclei")
    _, meta = nu.pretrained("auto", image=255 - image)
    assert meta["provenance"]["recipe"].startswith("scripts/train_nuclei.py")
    assert is_pretrained_name("auto")
    with pytest.raises(InputError, match="chooses by the image"):
        nu.pretrained("auto")
    with pytest.raises(InputError, match="'auto'"):  # the unknown-name message lists it
        nu.pretrained("nucleus")


def test_auto_is_right_on_every_dsb2018_train_image(shared_data):
    """The level's threshold was set between the kinds on the train rows: it must split them."""
    folder = shared_data / "dsb2018_full"
    with open(folder / "index.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] != "test"]
    wrong = []
    for row in rows[::4]:  # 132 of the 529 train and val images: every kind
        image = np.asarray(Image.open(folder / "images" / f"{row['name']}.png"))
        want = "nuclei" if row["group"].startswith("fluo") else "nuclei-brightfield"
        if choose_pretrained(image) != want:
            wrong.append(row["name"])
    assert not wrong, wrong
    assert 0.19 < BRIGHT_BACKGROUND < 0.43  # the measured gap between the kinds


def _write(folder, name, image):
    folder.mkdir(exist_ok=True)
    tifffile.imwrite(folder / f"{name}.tif", image)


def test_predict_auto_chooses_per_image_and_says_so(fluorescence, tmp_path, capsys):
    image, truth = fluorescence
    _write(tmp_path / "in", "fluo", image)
    _write(tmp_path / "in", "dark", 255 - image)
    assert main(["predict", "auto", str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "dark.tif: built-in model nuclei-brightfield (auto: dark objects on a bright" in out
    assert "fluo.tif: built-in model nuclei (auto: bright objects on a dark" in out
    # the fluorescence image gets exactly what the nuclei model gives
    model, meta = nu.pretrained("nuclei")
    want = nu.segment(model, image, metadata=meta)
    got = tifffile.imread(tmp_path / "out" / "fluo_labels.tif")
    assert np.array_equal(got > 0, want > 0) and got.max() == want.max()


def test_evaluate_auto_scores_each_image_with_its_model(fluorescence, tmp_path, capsys):
    image, truth = fluorescence
    _write(tmp_path / "images", "fluo", image)
    _write(tmp_path / "truth", "fluo", truth)
    report = tmp_path / "r.json"
    args = ["evaluate", "auto", "--images", str(tmp_path / "images"), "--labels",
            str(tmp_path / "truth"), "--json", str(report)]  # fmt: skip
    assert main(args) == 0
    assert "fluo: built-in model nuclei (auto)" in capsys.readouterr().err
    ap50 = json.loads(report.read_text())["total"]["per_threshold"][0]["ap"]
    assert ap50 > 0.58  # the nuclei model's floor on this sample (test_pretrained)


def test_auto_segments_histology_where_the_fluorescence_model_finds_nothing(shared_data, tmp_path):
    """Two histology test images: auto gives nuclei-brightfield's result, not nuclei's."""
    from napari_unet.core.metrics import evaluate_many

    folder = shared_data / "dsb2018_full"
    with open(folder / "index.csv", newline="") as f:
        names = [r["name"] for r in csv.DictReader(f)
                 if r["split"] == "test" and r["group"].startswith("histo")][:2]  # fmt: skip
    pairs = []
    for name in names:
        image = np.asarray(Image.open(folder / "images" / f"{name}.png"))
        truth = tifffile.imread(folder / "masks" / f"{name}.tif")
        model, meta = nu.pretrained("auto", image=image)
        pairs.append((name, nu.segment(model, image, metadata=meta), truth))
    total = evaluate_many(pairs, thresholds=(0.5,))[1]
    assert total["per_threshold"][0]["ap"] > 0.6  # measured 0.743; the nuclei model 0.013


def test_train_init_auto_fine_tunes_the_model_for_the_images(fluorescence, tmp_path, capsys):
    image, truth = fluorescence
    _write(tmp_path / "images", "dark", (255 - image)[:128, :128])
    _write(tmp_path / "labels", "dark", truth[:128, :128])
    out = tmp_path / "m.safetensors"
    args = ["train", "--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels"),
            "--init", "auto", "--steps", "1", "--batch-size", "1", "--crop-size", "64",
            "-o", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert "--init auto: built-in model nuclei-brightfield (chosen on dark.tif)" in (
        capsys.readouterr().out
    )
    _, meta = nu.load_model(out)
    assert "nuclei-brightfield" in meta["provenance"]["source"]


def test_train_api_init_auto_votes_over_the_planes(fluorescence):
    from napari_unet.core.training.pairs import make_pairs
    from napari_unet.core.training.setup import start_file

    image, truth = fluorescence
    crops = [(255 - image)[:96, :96], image[:96, :96], (255 - image)[96:192, :96]]
    pairs = make_pairs(crops, [truth[:96, :96], truth[:96, :96], truth[96:192, :96]])
    assert start_file("auto", pairs) == pretrained_path("nuclei-brightfield")
    assert start_file("auto", pairs[1:2]) == pretrained_path("nuclei")
    assert start_file("nuclei", pairs) == "nuclei" and start_file(None, pairs) is None


def test_train_init_auto_votes_over_the_training_files(fluorescence, tmp_path, capsys):
    """The command chooses as train(init="auto") and the Train dock: most images win."""
    from types import SimpleNamespace

    from napari_unet.cli._train_inputs import start_model

    image, _ = fluorescence
    _write(tmp_path / "images", "a_fluo", image)  # first, but outvoted
    _write(tmp_path / "images", "b_dark", 255 - image)
    _write(tmp_path / "images", "c_dark", 250 - image // 2)
    args = SimpleNamespace(init="auto", images=[tmp_path / "images"])
    assert start_model(args) == pretrained_path("nuclei-brightfield")
    assert "nuclei-brightfield (chosen on 2 of 3 training images)" in capsys.readouterr().out


def test_a_misspelt_built_in_name_lists_the_names(fluorescence, tmp_path, capsys):
    image, _ = fluorescence
    _write(tmp_path / "in", "fluo", image)
    assert main(["predict", "Auto", str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Auto: no such model file (built-in models: nuclei, nuclei-brightfield, auto)" in err
    assert main(["predict", "gone.safetensors", str(tmp_path / "in"), "-o", "x"]) == 2
    assert "built-in models" not in capsys.readouterr().err  # a file name: only that
