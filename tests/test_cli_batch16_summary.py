"""The closing count of a ``predict`` batch says nothing was written when every input failed.

Before, it said "the others were written" even when there were no others.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells, write_image
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tiny_model import save_tiny, train_tiny

    return save_tiny(tmp_path_factory.mktemp("model"), *train_tiny("same", steps=150))


def test_every_input_failed_says_none_was_written(model_file, tmp_path, capsys):
    (tmp_path / "bad1.tif").write_bytes(b"x")
    (tmp_path / "bad2.tif").write_bytes(b"y")
    out = tmp_path / "out"
    rc = main(["predict", str(model_file), str(tmp_path / "bad1.tif"),
               str(tmp_path / "bad2.tif"), "-o", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "2 of 2 inputs failed (bad1.tif, bad2.tif); none was written" in err
    assert "the others were written" not in err
    assert not out.exists()  # nothing written: the folder the run made is removed too


def test_some_failed_still_says_the_others_were_written(model_file, tmp_path, capsys):
    (tmp_path / "bad.tif").write_bytes(b"x")
    img = (touching_cells((96, 96), n_cells=10, seed=1)[0] * 255).astype(np.uint8)
    write_image(tmp_path / "good.tif", img)
    out = tmp_path / "out"
    rc = main(["predict", str(model_file), str(tmp_path / "bad.tif"),
               str(tmp_path / "good.tif"), "-o", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "1 of 2 inputs failed (bad.tif); the others were written" in err
    assert (out / "good_labels.tif").is_file()
