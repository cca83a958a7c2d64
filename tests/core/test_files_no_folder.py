"""An output whose folder is a file says so (it said the folder "does not exist")."""

from __future__ import annotations

import pytest

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_folder, atomic_write, check_outputs


@pytest.fixture
def notes(tmp_path):
    (tmp_path / "notes.txt").write_text("my notes")
    return tmp_path / "notes.txt"


def test_a_file_in_the_way_is_named(notes, tmp_path):
    for out in (notes / "m.safetensors", notes / "deeper" / "m.safetensors"):
        with pytest.raises(InputError, match=r"notes.txt is a file, not a folder"):
            check_outputs([out], [])
        with pytest.raises(InputError, match=r"notes.txt is a file, not a folder"):
            with atomic_write(out):
                pass
    with pytest.raises(InputError, match=r"notes.txt is a file, not a folder"):
        with atomic_folder(notes / "out.zarr"):
            pass
    with pytest.raises(InputError, match=r"the folder .*missing does not exist"):
        check_outputs([tmp_path / "missing" / "m.safetensors"], [])
    assert notes.read_text() == "my notes"


def test_train_says_the_file_is_in_the_way(notes, tmp_path, capsys):
    import numpy as np

    from napari_unet.core.images.io import write_image

    cells = np.zeros((64, 64), np.uint16)
    cells[10:30, 10:30] = 1
    write_image(tmp_path / "a.tif", (cells * 900 + 50).astype(np.uint16))
    write_image(tmp_path / "a_labels.tif", cells)
    code = main(["train", "--images", str(tmp_path / "a.tif"), "--labels",
                 str(tmp_path / "a_labels.tif"), "-o", str(notes / "m.safetensors")])  # fmt: skip
    assert code == 2
    assert "notes.txt is a file, not a folder" in capsys.readouterr().err
