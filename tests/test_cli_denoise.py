"""``--denoise`` of ``napari-unet predict`` and ``evaluate``: few photons, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def dim(tmp_path_factory):
    """The shipped nuclei sample as 5 photons at its brightest would record it, uint16."""
    from napari_unet.sample_data import nuclei_data

    image, truth = nuclei_data()
    lo, hi = np.percentile(image, (0.5, 99.5))
    caught = np.random.default_rng(0).poisson(np.clip(image - lo, 0, None) / (hi - lo) * 5 + 0.5)
    folder = tmp_path_factory.mktemp("dim")
    tifffile.imwrite(folder / "dim.tif", caught.astype(np.uint16))
    tifffile.imwrite(folder / "dim_gt.tif", truth.astype(np.uint16))
    return folder


def test_predict_blurs_few_photons_and_says_so(dim, capsys):
    args = ["predict", "nuclei", str(dim / "dim.tif")]
    assert main([*args, "-o", str(dim / "auto")]) == 0
    out = capsys.readouterr().out
    assert "caught few photons" in out and "--denoise off predicts it as it is" in out
    assert main([*args, "-o", str(dim / "off"), "--denoise", "off"]) == 0
    assert "few photons" not in capsys.readouterr().out
    blurred = tifffile.imread(dim / "auto" / "dim_labels.tif")
    kept = tifffile.imread(dim / "off" / "dim_labels.tif")
    assert not np.array_equal(blurred, kept)


def test_evaluate_with_a_model_takes_denoise(dim, capsys):
    scores = {}
    for mode in ("auto", "off"):
        out = dim / f"{mode}.json"
        args = ["evaluate", "nuclei", "--images", str(dim / "dim.tif"), "--labels"]
        args += [str(dim / "dim_gt.tif"), "--denoise", mode, "--json", str(out)]
        assert main(args) == 0
        result = json.loads(out.read_text())["images"][0]
        scores[mode] = next(p["ap"] for p in result["per_threshold"] if p["threshold"] == 0.5)
    assert scores["auto"] > scores["off"] + 0.05
    pred_gt = ["evaluate", str(dim / "dim_gt.tif"), str(dim / "dim_gt.tif")]
    assert main([*pred_gt, "--denoise", "off"]) == 2
    assert "--denoise and --background belong to the MODEL form" in capsys.readouterr().err
