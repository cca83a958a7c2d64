"""A new user's first hour on the command line (hunt 17): the fixes of its report."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import test_scripts
import tifffile

from napari_unet import InputError, touching_cells
from napari_unet.cli import build_parser, main

repo = test_scripts.repo  # scripts/demo.sh in a copy whose tools print their arguments


def _pair(folder_images, folder_labels, name="a"):
    image, truth = touching_cells((64, 64), n_cells=6, seed=1)
    tifffile.imwrite(folder_images / f"{name}.tif", (image * 255).astype(np.uint8))
    tifffile.imwrite(folder_labels / f"{name}.tif", truth.astype(np.uint16))
    return truth


def test_train_leaves_out_the_labels_predict_wrote_beside_the_images(tmp_path, capsys):
    """``predict -o imgs/`` put a_labels.tif there; train counted it as a second image."""
    images, masks = tmp_path / "imgs", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    truth = _pair(images, masks)
    tifffile.imwrite(images / "a_labels.tif", truth.astype(np.uint16))  # as predict names it
    code = main(["train", "--images", str(images), "--labels", str(masks), "--steps", "1",
                 "--arch", "tiny", "--crop-size", "48", "--batch-size", "1",
                 "--val-fraction", "0", "--device", "cpu", "-q",
                 "-o", str(tmp_path / "m.safetensors")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "left out 1 file(s)" in err and "a_labels.tif" in err  # the note, as predict's
    assert (tmp_path / "m.safetensors").is_file()


def test_train_inputs_of_a_cellpose_folder_with_masks_kept_elsewhere(tmp_path, capsys):
    from napari_unet.cli._train_inputs import image_and_label_files

    images, masks = tmp_path / "imgs", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name in ("a.png", "a_cp_masks.png", "b.png"):
        (images / name).write_bytes(b"")
    for name in ("a.tif", "b.tif"):
        (masks / name).write_bytes(b"")
    found = image_and_label_files([images], [masks], ("--val", "--val-labels"))
    assert [p.name for p in found[0]] == ["a.png", "b.png"]
    assert [p.name for p in found[1]] == ["a.tif", "b.tif"]
    assert "--val" in capsys.readouterr().err  # the note names the option


@pytest.mark.parametrize("extra", [["--threshold", "1.5"], ["--min-size", "-1"]])
def test_predict_leaves_no_output_folder_after_a_wrong_value(tmp_path, capsys, extra):
    """The folder was made before the checks: a failed run left an empty result folder."""
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "new" / "out"
    assert main(["predict", "nuclei", str(tmp_path / "a.tif"), "-o", str(out), *extra]) == 2
    assert "error" not in capsys.readouterr().out
    assert not (tmp_path / "new").exists()  # nor the parent it made


def test_predict_leaves_no_output_folder_after_a_mistyped_model(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "out"
    assert main(["predict", "nucleus", str(tmp_path / "a.tif"), "-o", str(out)]) == 2
    assert "nucleus" in capsys.readouterr().err
    assert not out.exists()


def test_predict_keeps_a_folder_that_was_there(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["predict", "nucleus", str(tmp_path / "a.tif"), "-o", str(out)]) == 2
    assert out.is_dir()


def test_demo_sh_with_arguments_and_no_display_writes_demo_png(repo, tmp_path):
    """``demo.sh --sample touching_cells`` without a display: "there is no display"."""
    passed = test_scripts.run(repo, "demo.sh", tmp_path / "x", "--sample", "touching_cells")
    assert passed == [
        "demo", "--sample", "touching_cells", "--screenshot", f"{repo}/demo.png", "--overwrite",
    ]  # fmt: skip


def test_demo_sh_with_a_display_adds_no_screenshot(repo, tmp_path):
    passed = test_scripts.run(repo, "demo.sh", tmp_path / "x", "--size", "900x700", DISPLAY=":9")
    assert passed == ["demo", "--size", "900x700"]


@pytest.mark.parametrize("value", ["big", 0])
def test_the_object_size_message_names_none(value):
    from napari_unet.core.inference.scale import check_object_size

    with pytest.raises(InputError, match="'none'"):
        check_object_size(value)


def test_predict_object_size_error_names_none(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), np.uint8))
    args = ["predict", "nuclei", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o")]
    assert main([*args, "--object-size", "big"]) == 2
    assert "'auto' or 'none'" in capsys.readouterr().err


def test_slide_says_to_import_a_bioimageio_package(tmp_path, capsys):
    """slide said only "this is a zip archive, not a napari-unet model file"."""
    import zarr

    zarr.open_array(str(tmp_path / "s.zarr"), mode="w", shape=(64, 64), dtype="u1")
    package = tmp_path / "nuclei.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("rdf.yaml", "type: model\n")
    code = main(["slide", str(package), str(tmp_path / "s.zarr"), "-o",
                 str(tmp_path / "s_lab.zarr")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"napari-unet import {package} -o nuclei.safetensors" in err, err
    assert not (tmp_path / "s_lab.zarr").exists()


def test_slide_help_does_not_offer_packages():
    slide = build_parser()._subparsers._group_actions[0].choices["slide"]
    model = next(a for a in slide._actions if a.dest == "model")
    assert "package" in model.help and "predict also takes" not in model.help
    assert "napari-unet import" in model.help
