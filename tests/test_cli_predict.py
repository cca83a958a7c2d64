"""``napari-unet predict`` on files, folders and Zarr stores, in-process."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet import evaluate, read_image, touching_cells, write_image
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tiny_model import save_tiny, train_tiny

    return save_tiny(tmp_path_factory.mktemp("model"), *train_tiny("same", steps=150))


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    img, _ = touching_cells((128, 112), n_cells=15, seed=1)
    write_image(folder / "a.tif", (img * 4000).astype(np.uint16))
    write_image(folder / "b.png", (img * 255).astype(np.uint8))
    return folder


def test_predict_files_and_folder(model_file, images, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["predict", str(model_file), str(images), "-o", str(out), "--probabilities"])
    assert rc == 0, capsys.readouterr().err
    labels = tifffile.imread(out / "a_labels.tif")
    _, truth = touching_cells((128, 112), n_cells=15, seed=1)
    score = evaluate(truth, labels)  # the tiny model: cells found, touching ones often joined
    assert score["pixel_iou"] > 0.9 and score["per_threshold"][0]["f1"] > 0.25, score
    probs = tifffile.imread(out / "a_probabilities.tif")
    assert probs.shape == (2, 128, 112) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    assert (out / "b_labels.tif").exists()
    assert "a_labels.tif" in capsys.readouterr().out


def test_existing_outputs_need_overwrite_and_inputs_are_never_overwritten(
    model_file, images, capsys
):
    # Writing into the input folder is fine: outputs get their own names...
    assert main(["predict", str(model_file), str(images / "a.tif"), "-o", str(images)]) == 0
    before = (images / "a_labels.tif").read_bytes()
    # ...but a second run refuses to replace them without --overwrite,
    assert main(["predict", str(model_file), str(images / "a.tif"), "-o", str(images)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # and an output that is an input (a label file given by name: a folder's label files
    # are left out) is refused even with --overwrite.
    rc = main(["predict", str(model_file), str(images), str(images / "a_labels.tif"),
               "-o", str(images), "--overwrite"])  # fmt: skip
    assert rc == 2
    assert "is an input" in capsys.readouterr().err
    assert (images / "a_labels.tif").read_bytes() == before


def test_predict_zarr_store(model_file, tmp_path, capsys):
    import dask.array as da

    img, truth = touching_cells((150, 140), n_cells=20, seed=2)
    src = tmp_path / "big.zarr"
    da.from_array(img, chunks=64).to_zarr(str(src))
    out = tmp_path / "out"
    rc = main(["predict", str(model_file), str(src), "-o", str(out), "--tile", "64"])
    assert rc == 0, capsys.readouterr().err
    labels = np.asarray(read_image(out / "big_labels.zarr"))
    score = evaluate(truth, labels)
    assert score["pixel_iou"] > 0.9 and score["per_threshold"][0]["f1"] > 0.2, score
    assert not list(out.glob(".*tmp*")), "temporary probabilities left behind"
    # The lazy path gives the labels of the in-memory path.
    tifffile.imwrite(tmp_path / "same.tif", img)
    rc = main(
        ["predict", str(model_file), str(tmp_path / "same.tif"), "-o", str(out), "--tile", "64"]
    )
    assert rc == 0
    np.testing.assert_array_equal(labels, tifffile.imread(out / "same_labels.tif"))


def test_predict_overwrite_replaces_a_probabilities_store_of_an_older_run(model_file, tmp_path,
                                                                          capsys):  # fmt: skip
    # predict_to_zarr replaces only the probabilities it marked; an older run's store (or
    # one written in memory) is the user's to replace with --overwrite, never a folder.
    import dask.array as da

    img, _ = touching_cells((96, 96), n_cells=8, seed=2)
    src = tmp_path / "big.zarr"
    da.from_array(img, chunks=64).to_zarr(str(src))
    out = tmp_path / "out"
    old = out / "big_probabilities.zarr"
    da.zeros((2, 96, 96), chunks=64, dtype=np.float32).to_zarr(str(old))  # unmarked
    args = ["predict", str(model_file), str(src), "-o", str(out), "--tile", "64",
            "--probabilities"]  # fmt: skip
    assert main(args) == 2 and "exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0, capsys.readouterr().err
    assert np.asarray(read_image(old)).max() > 0  # the new probabilities
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    from napari_unet import InputError, load_model, predict_to_zarr

    model, _ = load_model(model_file)
    with pytest.raises(InputError):
        predict_to_zarr(model, da.from_array(img, chunks=64), tmp_path / "notes", tile=64)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["MISSING.tif"], "no such file"),
        (["--tile", "0", "IMG"], "--tile"),
        (["--split", "-1", "IMG"], "--split"),
    ],
)
def test_user_mistakes_are_one_error_line(model_file, images, tmp_path, capsys, args, message):
    paths = {"IMG": str(images / "a.tif"), "MISSING.tif": str(tmp_path / "MISSING.tif")}
    args = [paths.get(a, a) for a in args]
    rc = main(["predict", str(model_file), *args, "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_split_option_reaches_the_labels(model_file, images, tmp_path, capsys):
    from napari_unet import probabilities_to_labels

    out = tmp_path / "out"
    img = str(images / "a.tif")
    rc = main(["predict", str(model_file), img, "-o", str(out), "--probabilities", "--split", "1"])
    assert rc == 0, capsys.readouterr().err
    probs = tifffile.imread(out / "a_probabilities.tif")
    expected = probabilities_to_labels(probs[1], 0.5, 10, 2, split=1.0)
    np.testing.assert_array_equal(tifffile.imread(out / "a_labels.tif"), expected)


def test_not_a_model_file(images, tmp_path, capsys):
    bad = tmp_path / "model.safetensors"
    bad.write_text("not a model")
    rc = main(["predict", str(bad), str(images), "-o", str(tmp_path / "o")])
    assert rc == 2 and "error" in capsys.readouterr().err


def test_a_bad_file_in_a_folder_is_reported_and_the_others_are_predicted(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a", "b", "c"):
        img, _ = touching_cells((64, 64), n_cells=5, seed=ord(name))
        if name == "b":
            img[3, 3] = np.nan  # one bad pixel
        write_image(folder / f"{name}.tif", img.astype(np.float32))
    out = tmp_path / "out"
    assert main(["predict", "nuclei", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "b.tif" in err and "NaN" in err and "1 of 3 inputs failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_labels.tif", "c_labels.tif"]  # before: a
