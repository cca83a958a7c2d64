"""``predict`` on bioformats2raw slides: outputs named after the root, which ``measure`` pairs.

Before, the root was refused ("give the image inside it") and ``slide.zarr/0`` wrote
``0_labels.zarr``: two slides of one batch clashed, and ``measure`` found no image ``0``.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import zarr

from napari_unet import touching_cells
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tiny_model import save_tiny, train_tiny

    return save_tiny(tmp_path_factory.mktemp("model"), *train_tiny("same", steps=150))


def _slide(root, seed: int) -> None:
    """A bioformats2raw layout: the root marked, its one OME-Zarr image in ``root/0``."""
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    _image(root / "0", seed)


def _image(path, seed: int) -> None:
    img, _ = touching_cells((96, 96), n_cells=10, seed=seed)
    g = zarr.open_group(str(path), mode="w", zarr_format=2)
    g.create_array("0", data=(img * 255).astype(np.uint8), chunks=(64, 64))
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    g.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [{"path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [0.5, 0.5]}]}]}]  # fmt: skip


@pytest.fixture
def slides(tmp_path):
    roots = [tmp_path / "slides" / "slideA.zarr", tmp_path / "slides" / "slideB.zarr"]
    for seed, root in enumerate(roots, 1):
        _slide(root, seed)
    return roots


@pytest.mark.parametrize("given", ["root", "series"])
def test_slides_of_a_batch_are_named_after_their_roots_and_measured(
    model_file, slides, tmp_path, capsys, given
):
    out = tmp_path / "out"
    inputs = [str(r) if given == "root" else str(r / "0") for r in slides]
    rc = main(["predict", str(model_file), *inputs, "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["slideA_labels.zarr", "slideB_labels.zarr"]

    table = tmp_path / "objects.csv"
    labels = [str(out / "slideA_labels.zarr"), str(out / "slideB_labels.zarr")]
    rc = main(["measure", *labels, "--images", *map(str, slides), "-o", str(table)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["image"] for r in rows} == {"slideA", "slideB"}
    assert all(r["mean_intensity"] not in ("", None) for r in rows)  # paired with the pixels


def test_a_root_of_several_series_fails_alone_and_names_them(model_file, slides, tmp_path, capsys):
    _image(slides[1] / "1", 3)  # slideB now holds two series: which to read is not ours to say
    rc = main(["predict", str(model_file), *map(str, slides), "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert rc == 2
    assert "slideB.zarr/1" in captured.err
    assert "1 of 2 inputs failed (slideB.zarr)" in captured.err
    assert (tmp_path / "out" / "slideA_labels.zarr").is_dir()
