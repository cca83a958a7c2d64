"""``--object-size`` of predict and evaluate, and the out-of-domain warning lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import napari_unet as nu
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def starter():
    return nu.pretrained("nuclei")


@pytest.fixture
def sample(tmp_path):
    image, truth = nu.nuclei_data()
    (tmp_path / "images").mkdir()
    (tmp_path / "truth").mkdir()
    tifffile.imwrite(tmp_path / "images" / "nuclei.tif", image)
    tifffile.imwrite(tmp_path / "truth" / "nuclei.tif", truth)
    return tmp_path, image, truth


def test_predict_object_size_reaches_the_result(starter, sample, capsys):
    model, meta = starter
    folder, image, _ = sample
    out = folder / "out"
    args = ["predict", "nuclei", str(folder / "images"), "-o", str(out), "--object-size", "26"]
    assert main([*args, "--probabilities"]) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    assert "object size 26 px; image scaled by 0.676" in stdout, stdout
    labels = tifffile.imread(out / "nuclei_labels.tif")
    expected, probs = nu.segment(model, image, metadata=meta, object_size=26,
                                 return_probabilities=True)  # fmt: skip
    np.testing.assert_array_equal(labels, expected)
    assert not np.array_equal(labels, nu.segment(model, image, metadata=meta))
    np.testing.assert_allclose(tifffile.imread(out / "nuclei_probabilities.tif"), probs)


def test_predict_estimate_prints_the_estimate(sample, capsys):
    folder, image, _ = sample
    args = ["predict", "nuclei", str(folder / "images"), "-o", str(folder / "out")]
    assert main([*args, "--object-size", "estimate"]) == 0
    out = capsys.readouterr().out
    # The sample's nuclei (about 14 px) are within the sizes the model saw in training
    # (17.6 px, zoomed up to 1.4 times either way): the first pass is the result.
    assert "object size estimated 14.4 px (93 objects); not rescaled: within the sizes" in out, out
    model, meta = nu.pretrained("nuclei")
    labels = tifffile.imread(folder / "out" / "nuclei_labels.tif")
    np.testing.assert_array_equal(labels, nu.segment(model, image, metadata=meta))


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "big"])
def test_bad_object_sizes_exit_2_before_any_work(sample, capsys, value):
    folder, _, _ = sample
    args = ["predict", "nuclei", str(folder / "images"), "-o", str(folder / "out")]
    assert main([*args, f"--object-size={value}"]) == 2
    err = capsys.readouterr().err
    assert "error: --object-size: object size must be" in err and value in err
    assert not (folder / "out").exists()


def test_object_size_needs_a_model_that_records_one(starter, sample, capsys):
    model, meta = starter
    folder, _, _ = sample
    old = folder / "old.safetensors"
    kept = {k: v for k, v in meta.items() if k != "object_size"}
    nu.save_model(old, model, **kept, object_size=None)  # none: not the one it carries
    args = ["predict", str(old), str(folder / "images"), "-o", str(folder / "out")]
    assert main([*args, "--object-size", "20"]) == 2
    assert "records no training object size" in capsys.readouterr().err
    assert main(args) == 0  # without an object size the model works as before
    assert main([*args[:-2], "-o", str(folder / "o2"), "--object-size", "20",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2  # fmt: skip
    assert "cannot be combined with --scheduler" in capsys.readouterr().err
    import dask
    import distributed  # noqa: F401 - its config defaults in before the set below restores
    # the config: else they were imported inside it and gone after (KeyError: 'distributed'
    # in the next test of this process to compute with dask)

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # fails fast
        main([*args[:-2], "-o", str(folder / "o3"), "--object-size", "auto",
              "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip
    assert "cannot be combined" not in capsys.readouterr().err  # auto: the image's scale


def test_zarr_input_with_an_object_size(starter, sample, capsys):
    import dask.array as da

    model, meta = starter
    folder, image, _ = sample
    src = folder / "nuclei.zarr"
    da.from_array(image, chunks=128).to_zarr(str(src))
    out = folder / "zout"
    rc = main(["predict", "nuclei", str(src), "-o", str(out), "--object-size", "20",
               "--probabilities"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    labels = np.asarray(nu.read_image(out / "nuclei_labels.zarr"))
    np.testing.assert_array_equal(labels, nu.segment(model, image, metadata=meta, object_size=20))
    assert np.asarray(nu.read_image(out / "nuclei_probabilities.zarr")).shape == (2, *image.shape)


def test_brightfield_prints_one_warning_line_per_sign(shared_data, tmp_path, capsys):
    from PIL import Image

    image = np.asarray(Image.open(shared_data / "dsb2018" / "images" / "078_08275a5b1c2d.png"))
    src = tmp_path / "bright.tif"
    tifffile.imwrite(src, image[:256, :256, 0])
    assert main(["predict", "nuclei", str(src), "-o", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    warned = [line for line in lines if line.startswith("napari-unet predict: warning: ")]
    assert warned and all(str(src) in line for line in warned), lines
    assert any("called foreground" in line and "invert" in line for line in warned)


def test_the_fluorescence_sample_prints_no_warning(sample, capsys):
    folder, _, _ = sample
    assert main(["predict", "nuclei", str(folder / "images"), "-o", str(folder / "out")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_evaluate_model_form_takes_the_object_size(starter, sample, capsys):
    model, meta = starter
    folder, image, truth = sample
    report = folder / "scores.json"
    rc = main(["evaluate", "nuclei", "--images", str(folder / "images"), "--labels",
               str(folder / "truth"), "--object-size", "13.35", "--json", str(report)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "object size 13.3 px; image scaled by 1.32" in capsys.readouterr().err
    scored = json.loads(report.read_text())["total"]["per_threshold"][0]["ap"]
    expected = nu.evaluate(truth, nu.segment(model, image, metadata=meta, object_size=13.35))
    assert scored == pytest.approx(expected["per_threshold"][0]["ap"])
    plain = nu.evaluate(truth, nu.segment(model, image, metadata=meta))
    assert scored != pytest.approx(plain["per_threshold"][0]["ap"])
    rc = main(["evaluate", "nuclei", "--images", str(folder / "images"), "--labels",
               str(folder / "truth"), "--object-size", "zero"])  # fmt: skip
    assert rc == 2 and "--object-size: object size must be" in capsys.readouterr().err


def test_evaluate_pred_gt_form_refuses_an_object_size(sample, capsys):
    folder, _, _ = sample
    rc = main(["evaluate", str(folder / "truth"), str(folder / "truth"), "--object-size", "9"])
    assert rc == 2 and "belong to the MODEL form" in capsys.readouterr().err


def test_predict_estimates_by_default_and_none_turns_it_off(sample, capsys):
    folder, image, _ = sample
    args = ["predict", "nuclei", str(folder / "images"), "-o", str(folder / "out")]
    assert main(args) == 0  # the default: auto
    assert "object size estimated" in capsys.readouterr().out
    assert main([*args, "--overwrite", "--object-size", "none"]) == 0
    assert "object size" not in capsys.readouterr().out
    model, meta = nu.pretrained("nuclei")
    labels = tifffile.imread(folder / "out" / "nuclei_labels.tif")
    np.testing.assert_array_equal(labels, nu.segment(model, image, metadata=meta, object_size=None))
