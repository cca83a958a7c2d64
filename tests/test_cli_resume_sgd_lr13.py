"""A run trained with --lr, resumed with another optimiser and no --lr: its rate, scaled.

Before, ``--resume s --optimizer sgd`` on a run trained with ``--lr 0.002`` (Adam) trained
SGD at 0.002 "(set by the user)"; docs/training.md: the run's rate, scaled as the
optimisers' defaults are (0.02).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.models.modelfile import read_metadata  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_resumed_run_scales_the_rate_it_was_given_to_another_optimizer(tmp_path, capsys):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "a.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "a_labels.tif", lab.astype(np.uint16))
    out = tmp_path / "s.safetensors"
    common = ["train", "--images", str(image), "--labels", str(labels), "-q", "-o", str(out),
              "--device", "cpu", "--val-fraction", "0"]  # fmt: skip
    first = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--steps", "2"]
    assert main([*common, *first, "--lr", "0.002"]) == 0
    assert "learning rate 0.002 (set by the user)" in capsys.readouterr().err
    assert main([*common, "--resume", str(out), "--steps", "3", "--optimizer", "sgd"]) == 0
    err = capsys.readouterr().err
    assert "learning rate 0.02 (the adam rate 0.002 of the run it resumes, scaled to sgd" in err
    assert read_metadata(out)["provenance"]["lr"] == pytest.approx(0.02)
    # the same optimiser: the rate kept, and said so
    assert main([*common, "--resume", str(out), "--steps", "4"]) == 0
    assert "learning rate 0.02 (kept from the run it resumes" in capsys.readouterr().err
