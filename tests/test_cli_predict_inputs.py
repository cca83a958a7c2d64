"""What ``napari-unet predict`` takes from a folder, what it refuses before any work, and
``segment``/``predict`` given a file name instead of pixels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, touching_cells, write_image
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    from tiny_model import train_tiny

    return train_tiny("same", steps=150)


@pytest.fixture(scope="module")
def model_file(tiny, tmp_path_factory):
    from tiny_model import save_tiny

    return save_tiny(tmp_path_factory.mktemp("model"), *tiny)


def _cells(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    img, truth = touching_cells((96, 96), n_cells=10, seed=seed)
    return (img * 255).astype(np.uint8), truth.astype(np.uint16)


@pytest.fixture
def images(tmp_path):
    """``a.tif`` and ``b.png``: two images, predicted in that order."""
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "a.tif", _cells(1)[0])
    write_image(folder / "b.png", _cells(2)[0])
    return folder


# -- outputs of the wrong kind: refused before the first image is predicted ---------------


def test_a_folder_where_an_output_file_goes_is_refused_before_any_prediction(
    model_file, images, tmp_path, capsys
):
    """Before, a.tif was predicted and written, and only then b's output was found to be
    a folder (docs/reliability.md: outputs are checked before the work)."""
    out = tmp_path / "out"
    (out / "b_labels.tif").mkdir(parents=True)
    for extra in ([], ["--overwrite"]):  # --overwrite would not help: said either way
        rc = main(["predict", str(model_file), str(images), "-o", str(out), *extra])
        captured = capsys.readouterr()
        assert rc == 2
        assert "b_labels.tif: it is a folder" in captured.err
        assert "pass --overwrite" not in captured.err
        assert "->" not in captured.out  # nothing predicted
        assert sorted(p.name for p in out.iterdir()) == ["b_labels.tif"]  # nothing written
    assert (out / "b_labels.tif").is_dir()


def test_a_file_or_a_foreign_folder_where_a_zarr_output_goes_is_refused_first(
    model_file, images, tmp_path, capsys
):
    write_image(images / "z.zarr", _cells(3)[0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "z_labels.zarr").write_text("not a store")
    rc = main(["predict", str(model_file), str(images), "-o", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 2 and "z_labels.zarr: it is a file" in err
    assert not (out / "a_labels.tif").exists()  # refused before a.tif was predicted
    (out / "z_labels.zarr").unlink()
    (out / "z_labels.zarr").mkdir()
    (out / "z_labels.zarr" / "notes.txt").write_text("mine")
    rc = main(["predict", str(model_file), str(images), "-o", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 2 and "not a Zarr store" in err
    assert (out / "z_labels.zarr" / "notes.txt").read_text() == "mine"  # never replaced
    assert not (out / "a_labels.tif").exists()


# -- a folder's label files are not images ------------------------------------------------


def test_a_cellpose_style_folder_predicts_the_images_not_their_masks(model_file, tmp_path, capsys):
    """a.png + a_masks.tif: the mask was segmented as an image (a_masks_labels.tif)."""
    folder, out = tmp_path / "cellpose", tmp_path / "out"
    folder.mkdir()
    img, truth = _cells()
    write_image(folder / "a.png", img)
    write_image(folder / "a_masks.tif", truth)
    write_image(folder / "b.png", _cells(2)[0])  # an image without labels is predicted too
    assert main(["predict", str(model_file), str(folder), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["a_labels.tif", "b_labels.tif"]
    assert "a_masks" not in captured.out
    assert "left out 1 file(s)" in captured.err and "a_masks.tif" in captured.err
    # given by name, a file is predicted whatever its name
    assert main(["predict", str(model_file), str(folder / "a_masks.tif"), "-o", str(out)]) == 0
    assert (out / "a_masks_labels.tif").exists()


def test_predicting_a_folder_into_itself_again_replaces_its_own_outputs(model_file, images, capsys):
    """The second run found its own a_labels.tif among the inputs: refused even with
    --overwrite ("is an input")."""
    assert main(["predict", str(model_file), str(images), "-o", str(images)]) == 0
    first = (images / "a_labels.tif").read_bytes()
    capsys.readouterr()
    rc = main(["predict", str(model_file), str(images), "-o", str(images), "--overwrite"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "is an input" not in captured.err
    assert not (images / "a_labels_labels.tif").exists()
    assert (images / "a_labels.tif").read_bytes() == first  # the same image, predicted again
    assert "left out 2 file(s)" in captured.err


# -- the Python API given a file name -------------------------------------------------------


@pytest.mark.parametrize("call", ["segment", "predict"])
def test_segment_and_predict_given_a_file_name_say_to_read_it_first(tiny, tmp_path, call):
    """They said "expected an image with at least 2 dimensions (H, W); got shape ()"."""
    import napari_unet

    model, meta = tiny
    path = tmp_path / "cells.png"
    write_image(path, _cells()[0])
    for name in (str(path), path):
        with pytest.raises(InputError, match="not a file name") as info:
            getattr(napari_unet, call)(model, name, metadata=meta)
        assert "read_image" in str(info.value) and "cells.png" in str(info.value)


def test_the_lazy_path_given_a_file_name_says_to_read_it_first(tiny, tmp_path):
    """predict_to_zarr and lazy_probabilities said "... got shape ()"."""
    import napari_unet

    model, meta = tiny
    path = tmp_path / "cells.png"
    write_image(path, _cells()[0])
    with pytest.raises(InputError, match="not a file name"):
        napari_unet.predict_to_zarr(model, path, tmp_path / "out.zarr", metadata=meta)
    with pytest.raises(InputError, match="not a file name"):
        napari_unet.Predictor(model, metadata=meta).lazy_probabilities(str(path))
    assert not (tmp_path / "out.zarr").exists()
