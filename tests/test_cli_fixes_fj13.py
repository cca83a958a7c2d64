"""measure refuses NaN under objects; import/predict name a folder; evaluate's repeats; -1,1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.review.measure import measure_objects


def _cells() -> np.ndarray:
    labels = np.zeros((64, 64), np.uint16)
    labels[10:20, 10:20] = 1
    labels[30:40, 30:45] = 2
    return labels


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_measure_refuses_nan_under_an_object_and_names_the_file(tmp_path, capsys, bad):
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    image[12, 12] = bad  # one pixel of cell 1: its mean, min, max were nan (inf), silently
    tifffile.imwrite(tmp_path / "cells.tif", image)
    tifffile.imwrite(tmp_path / "cells_labels.tif", _cells())
    out = tmp_path / "m.csv"
    code = main([
        "measure", str(tmp_path / "cells_labels.tif"), "--images", str(tmp_path / "cells.tif"),
        "-o", str(out),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "cells.tif: the image contains NaN or infinite values under object(s) 1" in err
    assert "Traceback" not in err


def test_measure_objects_nan_outside_objects_and_per_channel_and_plane():
    labels = _cells()
    image = np.ones((64, 64, 2), np.float32)
    image[0, 0, 1] = np.nan  # background: changes no number
    table = measure_objects(labels, image)
    assert np.all(np.isfinite(table["mean_intensity_c1"]))
    image[35, 35, 1] = -np.inf  # cell 2, second channel
    with pytest.raises(InputError, match=r"under object\(s\) 2;"):
        measure_objects(labels, image)
    stack = np.ones((3, 64, 64), np.float64)
    stack[2, 12, 12] = np.nan
    with pytest.raises(InputError, match=r"under objects of plane\(s\) 2;"):
        measure_objects(np.stack([labels] * 3), stack)


@pytest.mark.parametrize("command", ["import", "predict"])
def test_a_folder_named_like_a_package_is_called_a_folder(tmp_path, capsys, command):
    pytest.importorskip("bioimageio.spec")
    (tmp_path / "model.zip").mkdir()
    tifffile.imwrite(tmp_path / "img.tif", np.zeros((32, 32), np.uint8))
    if command == "import":
        args = ["import", str(tmp_path / "model.zip"), "-o", str(tmp_path / "m.safetensors")]
    else:
        args = ["predict", str(tmp_path / "model.zip"), str(tmp_path / "img.tif"),
                "-o", str(tmp_path / "pred")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model.zip is a folder; expected a bioimage.io model package (.zip file)" in err
    assert "rdf.yaml found" not in err  # bioimageio's own text


def test_import_a_folder_without_a_description_says_so(tmp_path, capsys):
    pytest.importorskip("bioimageio.spec")
    (tmp_path / "pkg").mkdir()
    assert main(["import", str(tmp_path / "pkg"), "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "pkg is a folder without rdf.yaml" in capsys.readouterr().err


def test_evaluate_scores_a_file_given_twice_once(tmp_path, capsys):
    pytest.importorskip("torch")
    from napari_unet import save_model, touching_cells
    from napari_unet.core.models import UNet

    image, labels = touching_cells((64, 64), n_cells=6, seed=3)
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", labels)
    model = save_model(tmp_path / "tiny.safetensors", UNet(1, 2, base_channels=4, depth=2))
    img, lab, out = tmp_path / "img.tif", tmp_path / "lab.tif", tmp_path / "s.json"
    code = main([
        "evaluate", str(model), "--images", str(img), str(img), "--labels", str(lab), str(lab),
        "--json", str(out),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "given more than once" in err and "two image files are named" not in err
    scored = json.loads(out.read_text())["images"]
    assert len(scored) == 1 and scored[0]["n_gt"] == len(np.unique(labels)) - 1


def test_option_values_starting_with_a_minus_reach_the_commands_checks(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "lab.tif", _cells())
    args = ["weights", str(tmp_path / "lab.tif"), "-o", str(tmp_path / "w.tif")]
    assert main([*args, "--class-weights", "-1,1"]) == 2
    err = capsys.readouterr().err
    assert "class_weights must give 2 finite numbers >= 0" in err
    assert "expected one argument" not in err and not (tmp_path / "w.tif").exists()
    assert main([*args, "--w0", "-1e3"]) == 2
    assert "w0 must be a finite number >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse's own exit for a bad --pixel-size
        main(["measure", str(tmp_path / "lab.tif"), "-o", str(tmp_path / "m.csv"),
              "--pixel-size", "-0.5,0.5"])  # fmt: skip
    err = capsys.readouterr().err
    assert "expected a positive pixel size" in err and "expected one argument" not in err
