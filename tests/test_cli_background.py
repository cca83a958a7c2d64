"""``--background`` of ``napari-unet predict`` and ``evaluate``: uneven light, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_unet import evaluate
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def shaded(tmp_path_factory):
    """The shipped nuclei sample lit unevenly (light rising by 1.5 times its range), uint16."""
    from napari_unet.sample_data import nuclei_data

    image, truth = nuclei_data()
    h, w = image.shape
    ramp = 0.75 * np.add.outer(np.linspace(0, 1, h), np.linspace(0, 1, w)) * float(np.ptp(image))
    folder = tmp_path_factory.mktemp("shaded")
    tifffile.imwrite(folder / "shaded.tif", ((image + ramp) * 10.0).astype(np.uint16))
    tifffile.imwrite(folder / "shaded_gt.tif", truth.astype(np.uint16))
    return folder, truth


def ap50(truth, labels) -> float:
    return evaluate(truth, labels)["per_threshold"][0]["ap"]


def test_predict_flattens_uneven_light_and_says_so(shaded, capsys):
    folder, truth = shaded
    out = folder / "auto"
    assert main(["predict", "nuclei", str(folder / "shaded.tif"), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "the background was uneven" in printed.out
    assert "--background keep predicts it as it is" in printed.out
    assert "brightfield" not in printed.err  # no false contrast warning once flattened
    flat = tifffile.imread(out / "shaded_labels.tif")
    assert ap50(truth, flat) > 0.55  # the sample's documented floor is 0.58 when evenly lit
    kept_dir = folder / "keep"
    args = ["predict", "nuclei", str(folder / "shaded.tif"), "-o", str(kept_dir)]
    assert main([*args, "--background", "keep"]) == 0
    printed = capsys.readouterr()
    assert "uneven" not in printed.out
    # the light, kept, made the image read as a bright background: said, with what to do
    assert "was kept as it is: predict with background 'auto'" in printed.err
    assert "trained on bright objects on a dark background" not in printed.err
    assert ap50(truth, tifffile.imread(kept_dir / "shaded_labels.tif")) < 0.3


def test_a_bad_background_is_one_error_line(shaded, capsys):
    folder, _ = shaded
    args = ["predict", "nuclei", str(folder / "shaded.tif"), "-o", str(folder / "x")]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--background", "on"])
    assert exit_.value.code == 2
    assert "invalid choice: 'on'" in capsys.readouterr().err
    assert not (folder / "x").exists()


def test_evaluate_with_a_model_takes_background(shaded, capsys):
    folder, _ = shaded
    scores = {}
    for mode in ("auto", "keep"):
        out = folder / f"{mode}.json"
        args = ["evaluate", "nuclei", "--images", str(folder / "shaded.tif"), "--labels"]
        args += [str(folder / "shaded_gt.tif"), "--background", mode, "--json", str(out)]
        assert main(args) == 0
        result = json.loads(out.read_text())["images"][0]
        scores[mode] = next(p["ap"] for p in result["per_threshold"] if p["threshold"] == 0.5)
    assert scores["auto"] > scores["keep"] + 0.3
    # the PRED GT form has no model to flatten for: refused
    pred_gt = ["evaluate", str(folder / "shaded_gt.tif"), str(folder / "shaded_gt.tif")]
    assert main([*pred_gt, "--background", "keep"]) == 2
    assert "--background belong to the MODEL form" in capsys.readouterr().err


def test_each_file_reports_only_its_own_flattening(shaded, capsys):
    """An unevenly lit stack then an evenly lit image in one command (one Predictor)."""
    from napari_unet.sample_data import nuclei_data

    folder, _ = shaded
    image = nuclei_data()[0][:256, :256].astype(np.float32)
    ramp = 0.75 * np.add.outer(np.linspace(0, 1, 256), np.linspace(0, 1, 256)) * np.ptp(image)
    both = folder / "both"
    both.mkdir()
    tifffile.imwrite(both / "a_stack.tif", np.stack([image, image + ramp, image + ramp]))
    tifffile.imwrite(both / "b_even.tif", image)
    assert main(["predict", "nuclei", str(both), "-o", str(folder / "both_out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    notes = [line for line in lines if "uneven" in line]
    assert len(notes) == 1 and "a_stack.tif" in notes[0] and "2 of 3 planes" in notes[0]
    assert (folder / "both_out" / "b_even_labels.tif").exists()
