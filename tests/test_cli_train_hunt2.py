"""`napari-unet train`/`predict`: a 0/255 mask is refused as labels, a fallback save is a
failure, --zoom cannot go with --no-augment, and a channel mismatch says what to do."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import test_cli_train_safety as safety  # noqa: E402

from napari_unet import write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
pair = safety.pair  # a fixture: an image file and its labels file

FAST = [*safety.FAST[:-2], "--steps", "2"]  # without --val-fraction 0


def train(image, labels, *extra):
    return main(["train", "--images", str(image), "--labels", str(labels), *extra, *FAST])


@pytest.mark.parametrize("where", ["--labels", "--val-labels"])
@pytest.mark.parametrize("on", [255, 1])
def test_an_8bit_binary_mask_is_refused_as_labels(pair, tmp_path, capsys, where, on):
    image, labels = pair
    nuclei = np.zeros((96, 96), np.uint8)
    for y, x in ((10, 10), (10, 60), (60, 10), (60, 60)):
        nuclei[y : y + 20, x : x + 20] = on  # four nuclei, all of the one id of a mask
    mask = write_image(tmp_path / "mask.tif", nuclei)
    out = tmp_path / "m.safetensors"
    if where == "--labels":
        code = train(image, mask, "-o", str(out))
    else:
        code = train(image, labels, "-o", str(out), "--val", str(image), "--val-labels", str(mask))
    err = capsys.readouterr().err
    assert code == 2, err  # before: 0, all the cells trained (or scored) as one object
    assert "mask.tif" in err and f"one id {on} covers 4" in err and "label the mask first" in err
    assert not out.exists()


def test_one_cell_painted_in_two_strokes_still_trains(pair, tmp_path, capsys):
    image, _ = pair
    lab = np.zeros((96, 96), np.uint8)
    lab[10:30, 10:30] = 1
    lab[40:60, 40:60] = 1  # two pieces of one id: kept
    labels = write_image(tmp_path / "two.tif", lab)
    out = tmp_path / "m.safetensors"
    assert train(image, labels, "-o", str(out), "--val-fraction", "0") == 0, capsys.readouterr().err
    assert out.exists()


def test_zoom_with_no_augment_is_refused(pair, tmp_path, capsys):
    image, labels = pair
    out = tmp_path / "m.safetensors"
    assert train(image, labels, "-o", str(out), "--no-augment", "--zoom", "0.4") == 2
    err = capsys.readouterr().err  # before: trained, the zoom silently dropped
    assert "--zoom is an augmentation; it cannot go with --no-augment" in err
    assert not out.exists()


def test_a_channel_mismatch_says_what_a_command_line_user_can_do(tmp_path, capsys):
    from napari_unet import save_model
    from napari_unet.core.models import UNet

    torch.manual_seed(0)
    model = save_model(tmp_path / "two.safetensors", UNet(2, 2, base_channels=4, depth=2))
    grey = write_image(tmp_path / "g.tif", np.zeros((64, 64), np.uint16))
    args = [str(model), str(grey), "-o", str(tmp_path / "out"), "--device", "cpu"]
    assert main(["predict", *args, "--object-size", "none"]) == 2
    err = capsys.readouterr().err
    assert "channel_axis" not in err  # before: "or set channel_axis", which no command has
    assert "trained on 2-channel images" in err and "model trained on 1-channel images" in err
