"""The command line as a careless user meets it: odd files, odd values, odd folders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet import InputError, touching_cells
from napari_unet.cli import main
from napari_unet.core.images.io import read_image


def _grey(seed: int = 0) -> np.ndarray:
    image, _ = touching_cells((96, 96), n_cells=12, seed=seed)
    return (image * 200 + 20).astype(np.uint8)


def _folders(root, *names):
    for name in names:
        (root / name).mkdir()
    return [root / name for name in names]


def test_evaluate_scores_the_labels_predicted_beside_the_image(tmp_path, capsys):
    """Predicted into the images' folder, NAME.tif (the image) was scored, not its labels."""
    images, masks = _folders(tmp_path, "images", "masks")
    image, truth = touching_cells((64, 64), n_cells=6, seed=1)
    tifffile.imwrite(images / "cells.tif", (image * 255).astype(np.uint8))
    tifffile.imwrite(images / "cells_labels.tif", truth.astype(np.uint16))  # as predict names
    tifffile.imwrite(masks / "cells.tif", truth.astype(np.uint16))
    assert main(["evaluate", str(images), str(masks)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cells"))
    assert row.split()[3] == "1.0000"  # AP: the labels themselves


def test_palette_png_images_are_read_as_they_look_and_label_files_as_ids(tmp_path):
    grey = _grey()
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(grey, "L").quantize(64).save(tmp_path / "palette.png")
    shown = np.asarray(Image.open(tmp_path / "palette.png").convert("L"))
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png"), shown)
    ids = np.asarray(Image.open(tmp_path / "palette.png"))  # the indices
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png", labels=True), ids)
    colour = Image.fromarray(np.dstack([grey, grey // 2, 255 - grey]), "RGB").quantize(32)
    colour.save(tmp_path / "colour.png")
    assert read_image(tmp_path / "colour.png").shape == (96, 96, 3)


def test_a_grey_png_with_alpha_is_its_grey(tmp_path):
    grey = _grey()
    alpha = np.zeros_like(grey)
    alpha[:, :48] = 255  # half transparent: the alpha is no image content
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), grey)


def test_a_float_image_of_small_values_normalises_like_its_scaled_copy():
    """An absolute floor of 1e-6 on the scale flattened such images: 0 objects."""
    from napari_unet.core.images.normalize import normalize

    image = _grey().astype(np.float32) / 255
    for factor in (1e-8, 1e-20):
        np.testing.assert_allclose(normalize(image * factor), normalize(image), atol=1e-4)
    assert np.all(normalize(np.full((8, 8), 5.0, np.float32)) == 0)  # flat stays flat
    assert np.all(normalize(np.zeros((8, 8), np.float32)) == 0)


def test_predict_refuses_a_folder_it_cannot_write_before_any_work(tmp_path, capsys, monkeypatch):
    import os

    from napari_unet.cli import predict_package

    tifffile.imwrite(tmp_path / "a.tif", _grey())
    out = tmp_path / "out"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if p == out else real(p, mode))
    monkeypatch.setattr(predict_package, "load_or_run", lambda *a: pytest.fail("worked first"))
    assert main(["predict", "nuclei", str(tmp_path / "a.tif"), "-o", str(out)]) == 2
    assert "not writable" in capsys.readouterr().err


def test_a_scheduler_address_without_a_port_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("distributed")
    tifffile.imwrite(tmp_path / "a.tif", _grey())
    code = main(["predict", "nuclei", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"),
                 "--scheduler", "localhost"])  # fmt: skip
    assert code == 2
    assert "tcp://host:8786" in capsys.readouterr().err


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_augmentation_settings_must_be_finite(value):
    """--zoom inf crashed; --zoom nan turned zoom off and wrote NaN into the model file."""
    from napari_unet.core.training.augment import AugmentConfig

    with pytest.raises(InputError, match="must be a number >= 0"):
        AugmentConfig(scale=value)


def test_a_gap_wider_than_the_image_is_no_crash():
    from napari_unet.core.training.distances import gap_pixels

    labels = np.zeros((5, 5), np.int32)
    labels[:, :2], labels[:, 2:] = 1, 2
    assert gap_pixels(labels, 12).all() and gap_pixels(labels, 1000).all()


def test_the_demo_window_size_is_bounded():
    from napari_unet.cli.demo import _parse_size

    with pytest.raises(InputError, match="at most 8192"):
        _parse_size("20000x12000")


def test_an_unknown_licence_is_one_line(tmp_path):
    pytest.importorskip("bioimageio.core")
    from napari_unet import export_bioimageio

    with pytest.raises(InputError) as info:
        export_bioimageio("nuclei", tmp_path / "n.zip", license="MIT-ish")
    assert "SPDX" in str(info.value) and len(str(info.value)) < 300


def test_evaluate_names_the_image_it_could_not_segment(tmp_path, capsys):
    images, masks = _folders(tmp_path, "images", "masks")
    _, truth = touching_cells((64, 64), n_cells=6, seed=1)
    bad = np.ones((64, 64), np.float32)
    bad[3, 3] = np.nan
    tifffile.imwrite(images / "a.tif", np.ones((64, 64), np.float32))
    tifffile.imwrite(images / "b.tif", bad)
    for name in ("a", "b"):
        tifffile.imwrite(masks / f"{name}.tif", truth.astype(np.uint16))
    assert main(["evaluate", "nuclei", "--images", str(images), "--labels", str(masks)]) == 2
    assert "b.tif: " in capsys.readouterr().err


def test_train_skips_hidden_files_in_folders(tmp_path, capsys):
    images, labels = _folders(tmp_path, "images", "labels")
    image, truth = touching_cells((64, 64), n_cells=6, seed=1)
    tifffile.imwrite(images / "a.tif", (image * 255).astype(np.uint8))
    tifffile.imwrite(labels / "a.tif", truth.astype(np.uint16))
    (images / "._a.tif").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata
    code = main(["train", "--images", str(images), "--labels", str(labels), "--steps", "1",
                 "--arch", "tiny", "--crop-size", "48", "--batch-size", "1",
                 "--val-fraction", "0", "--device", "cpu", "-q",
                 "-o", str(tmp_path / "m.safetensors")])  # fmt: skip
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("size", ["1e300", "1e-300"])
def test_absurd_pixel_sizes_are_refused(tmp_path, capsys, size):
    tifffile.imwrite(tmp_path / "a_labels.tif", np.ones((8, 8), np.uint16))
    with pytest.raises(SystemExit) as exit_:
        main(["measure", str(tmp_path / "a_labels.tif"), "--pixel-size", size,
              "-o", str(tmp_path / "o.csv")])  # fmt: skip
    assert exit_.value.code == 2 and "1e-6 to 1e6" in capsys.readouterr().err


def test_slide_labels_must_be_a_zarr_store(tmp_path, capsys):
    import zarr

    zarr.save_array(str(tmp_path / "in.zarr"), _grey())
    code = main(["slide", "nuclei", str(tmp_path / "in.zarr"), "-o", str(tmp_path / "out.tif")])
    assert code == 2 and "ending in .zarr" in capsys.readouterr().err
    assert not (tmp_path / "out.tif").exists()
