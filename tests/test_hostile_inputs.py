"""The hostile-input audit, case by case: a clear message (exit 2 on the command line),
never a traceback, never a silently wrong result, and nothing the user made is touched."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def one_error_line(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("error:") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    net = nu.build_model({"arch": "unet", "in_channels": 1, "base_channels": 4, "depth": 2,
                          "padding": "same"})  # fmt: skip
    return nu.save_model(tmp_path_factory.mktemp("m") / "tiny.safetensors", net)


@pytest.fixture
def files(tmp_path):
    img, lab = nu.touching_cells((96, 96), n_cells=8, seed=0)
    image = nu.write_image(tmp_path / "img.tif", (img * 60000).astype(np.uint16))
    labels = nu.write_image(tmp_path / "lab.tif", lab.astype(np.uint16))
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    return image, labels, garbage, empty


# -- silent wrong results ------------------------------------------------------------------


def test_a_tile_too_small_for_the_context_is_rounded_up(trained_same):
    model, meta = trained_same
    image, _ = nu.touching_cells((200, 180), n_cells=25, seed=5)
    whole = nu.predict(model, image, metadata=meta, tile=10**5)
    for tile in (3, 16, 32):
        tiled = nu.predict(model, image, metadata=meta, tile=tile)
        assert np.abs(tiled - whole).max() < 1e-2, tile  # was up to 0.7 before
        np.testing.assert_array_equal(tiled[1] > 0.5, whole[1] > 0.5)


def test_values_beyond_float32_complex_and_nan_settings_are_refused(trained_same, tmp_path):
    model, meta = trained_same
    image = np.ones((64, 64), np.float64)
    image[3, 3] = 1e40
    with pytest.raises(nu.InputError, match="beyond the float32 range"):
        nu.segment(model, image, metadata=meta)
    _, lab = nu.touching_cells((64, 64), n_cells=5, seed=0)
    with pytest.raises(nu.InputError, match="beyond the float32 range"):
        nu.make_pairs([image], [lab])
    with pytest.raises(nu.InputError, match="complex"):
        nu.make_pairs([np.ones((64, 64), np.complex64)], [lab])
    with pytest.raises(nu.InputError, match="split must be a finite number"):
        nu.segment(model, np.ones((64, 64)), metadata=meta, split=float("nan"))
    with pytest.raises(nu.InputError, match="dice_weight"):
        nu.TrainConfig(dice_weight=float("nan"))


def test_colour_coded_label_images_are_refused():
    img, _ = nu.touching_cells((96, 96), n_cells=5, seed=0)
    rgb_labels = np.zeros((96, 96, 3), np.uint8)
    rgb_labels[10:30, 10:30] = (255, 0, 0)
    with pytest.raises(nu.InputError, match="RGB"):
        nu.make_pairs([np.stack([img] * 3, -1)], [rgb_labels])


def test_models_the_tiles_cannot_meet_are_refused(tiny_file):
    model, _ = nu.load_model(tiny_file)
    with pytest.raises(nu.InputError, match="float16"):
        nu.predict(model.half(), np.ones((32, 32), np.float32))
    with torch.device("meta"):
        meta_model = nu.build_model(model.config)
    with pytest.raises(nu.InputError, match="meta device"):
        nu.predict(meta_model, np.ones((32, 32), np.float32))


# -- tracebacks become one error line -------------------------------------------------------


def test_damaged_files_in_every_command(files, tiny_file, tmp_path, capsys):
    image, labels, garbage, empty = files
    out = tmp_path / "out"
    for bad in (garbage, empty):
        code = main(["predict", str(tiny_file), str(bad), "-o", str(out)])
        one_error_line(capsys, code, bad.name)
        code = main(["train", "--images", str(bad), "--labels", str(labels),
                     "-o", str(tmp_path / "m.safetensors"), "--steps", "1"])  # fmt: skip
        one_error_line(capsys, code, bad.name)
        code = main(["weights", str(bad), "-o", str(tmp_path / "w.tif")])
        one_error_line(capsys, code, bad.name)
        code = main(["evaluate", str(bad), str(labels)])
        one_error_line(capsys, code, bad.name)
    assert not (tmp_path / "w.tif").exists() and not (tmp_path / "m.safetensors").exists()


def test_unwritable_outputs_and_impossible_crops(files, tmp_path, capsys):
    image, labels, _, _ = files
    code = main(["weights", str(labels), "-o", "/dev/null/x.tif"])
    one_error_line(capsys, code, "/dev/null")
    base = ["train", "--images", str(image), "--labels", str(labels), "--steps", "1",
            "--device", "cpu", "-q", "--val-fraction", "0"]  # fmt: skip
    code = main([*base, "-o", str(tmp_path / "big.safetensors"), "--crop-size", "100000"])
    one_error_line(capsys, code, "GiB", "crop size of at most")
    # A 2 px crop is rounded up to one the batch-normalised bottleneck can train on.
    assert main([*base, "-o", str(tmp_path / "two.safetensors"), "--crop-size", "2"]) == 0


def test_an_optimiser_state_of_another_architecture_is_refused(files, tmp_path, capsys):
    import shutil

    from napari_unet.core.training.checkpoint import optimizer_path

    image, labels, _, _ = files
    common = ["--images", str(image), "--labels", str(labels), "--steps", "2", "--device",
              "cpu", "-q", "--val-fraction", "0", "--crop-size", "48"]  # fmt: skip
    tiny, small = tmp_path / "tiny.safetensors", tmp_path / "small.safetensors"
    assert main(["train", *common, "--arch", "tiny", "-o", str(tiny)]) == 0
    assert main(["train", *common, "--arch", "small", "-o", str(small)]) == 0
    shutil.copy(optimizer_path(small), optimizer_path(tiny))
    code = main(["train", *common, "--steps", "4", "--resume", str(tiny), "-o", str(tiny)])
    one_error_line(capsys, code, "another run or step", "--init")
