"""Other tools' bioimage.io packages, run through bioimageio.core's prediction pipeline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

import foreign_package as fp  # noqa: E402

from napari_unet import InputError  # noqa: E402
from napari_unet.core.exchange.export import check_package  # noqa: E402
from napari_unet.core.exchange.foreign import (  # noqa: E402
    ForeignModel,
    open_bioimageio,
    plan_tensors,
    segment_foreign,
)


@pytest.fixture(scope="module")
def image():
    from napari_unet.sample_data import nuclei_data

    return nuclei_data()[0].astype(np.float32)


@pytest.fixture(scope="module")
def packages(image, tmp_path_factory):
    """A pytorch_state_dict + torchscript package, and a torchscript-only labels package."""
    root = tmp_path_factory.mktemp("foreign")
    crop = image[:64, :64]
    both = fp.build(root / "both", crop, formats=("pytorch_state_dict", "torchscript"))
    labels = fp.build(root / "labels", crop, formats=("torchscript",), labels=True)
    return {"both": both, "labels": labels}


def test_the_built_packages_pass_bioimageio_test(packages):
    for package in packages.values():
        passed, lines = check_package(package)
        assert passed, "\n".join(lines)


@pytest.mark.parametrize("weights", ["pytorch_state_dict", "torchscript"])
def test_blocked_prediction_equals_the_network_in_torch(packages, image, weights):
    model = ForeignModel(packages["both"], weight_format=weights)
    assert (model.plan.kind, model.plan.out_channels, model.plan.halo) == ("probabilities", 1, 4)
    part = image[:150, :190]
    events = []
    gen = model.iter_predict(part, tile=48)  # 48 px blocks: 4 x 5 of them, 4 px halo
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            out = stop.value
            break
    assert events[-1].done == events[-1].total > 4  # really tiled
    expected = fp.reference(fp.tiny_net(), part)
    assert out.shape == expected.shape == (1, 150, 190)
    assert np.abs(out - expected).max() <= 1e-4
    whole = model.predict(part, tile=512)  # one block: the same values
    assert np.abs(whole - out).max() <= 1e-4


def test_labels_output_and_instances_from_one_probability(packages, image):
    part = image[:96, :120]
    masks = open_bioimageio(packages["labels"])
    assert isinstance(masks, ForeignModel) and masks.plan.kind == "labels"
    mask = masks.predict(part, tile=64)
    assert mask.dtype == np.int32 and mask.shape == part.shape
    labels, foreground = segment_foreign(mask, masks.plan)
    assert labels is mask and foreground is None
    probs = ForeignModel(packages["both"]).predict(part)
    assert np.array_equal(mask, (probs[0] > 0.5).astype(np.int32))  # sigmoid(l) > .5 iff l > 0
    from skimage.measure import label

    from napari_unet.core.inference.postprocess import Postprocess

    plan = ForeignModel(packages["both"]).plan
    post = Postprocess(threshold=0.5, min_size=0, gap=0, split=0)
    labels, foreground = segment_foreign(probs, plan, post)
    assert np.array_equal(foreground, probs[0])
    assert np.array_equal(labels, label(foreground > 0.5, connectivity=1))
    two = dataclasses.replace(plan, out_channels=2)
    assert segment_foreign(np.concatenate([probs, probs]), two) == (None, None)


def test_stacks_colour_and_regions(packages, image):
    model = ForeignModel(packages["both"])
    part = image[:80, :96]
    stack = np.stack([part, part[::-1]])
    out = model.predict(stack)
    assert out.shape == (1, 2, 80, 96)
    assert np.abs(out[:, 1] - model.predict(part[::-1])).max() <= 1e-6
    rgb = np.stack([part, part, part], axis=-1)
    assert np.abs(model.predict(rgb, channel_axis=-1) - out[:, 0]).max() <= 1e-5
    region = model.predict(part, region=((10, 50), (20, 70)))
    assert region.shape == (1, 40, 50)
    # the package normalises the whole plane first: the region is the whole's part (it was
    # normalised with the statistics of the region and its halo alone)
    assert np.abs(region - out[:, 0, 10:50, 20:70]).max() <= 1e-5
    two = np.stack([part, np.zeros_like(part)], axis=-1)  # 2 channels last (an ImageJ CYX)
    assert np.abs(model.predict(two, channel=0) - out[:, 0]).max() <= 1e-5
    with pytest.raises(InputError, match="channel 5 does not exist"):
        model.predict(rgb, channel_axis=-1, channel=5)


def _altered(package, **changes):
    from napari_unet.core.exchange.importer import load_description

    return load_description(package).model_copy(update=changes)


def test_what_cannot_run_is_refused_with_a_reason(packages, tmp_path):
    from bioimageio.spec.model import v0_5 as s

    descr = _altered(packages["both"])
    inp = descr.inputs[0]
    z = s.SpaceInputAxis(id=s.AxisId("z"), size=8)
    three_d = inp.model_copy(update={"axes": [*inp.axes, z]})
    with pytest.raises(InputError, match=r"space axis 'z' \(3D\)"):
        plan_tensors(descr.model_copy(update={"inputs": [three_d]}), "p")
    with pytest.raises(InputError, match="takes 2 input tensors"):
        plan_tensors(descr.model_copy(update={"inputs": [inp, inp]}), "p")
    with pytest.raises(InputError, match="takes 0 input tensors"):
        plan_tensors(descr.model_copy(update={"inputs": []}), "p")
    onnx = s.OnnxWeightsDescr(source=packages["both"], opset_version=17)
    only_onnx = s.WeightsDescr.model_construct(onnx=onnx)
    with pytest.raises(InputError, match="weights in onnx only"):
        plan_tensors(descr.model_copy(update={"weights": only_onnx}), "p")
    with pytest.raises(InputError, match="has no pytorch_state_dict weights"):
        ForeignModel(packages["labels"], weight_format="pytorch_state_dict")
    junk = tmp_path / "junk.zip"
    junk.write_text("no zip")
    with pytest.raises(InputError, match="not a bioimage.io model package"):
        open_bioimageio(junk)


def test_our_own_packages_open_as_napari_unet_models_and_tile_alike(trained_same, image, tmp_path):
    import napari_unet as nu

    package = nu.export_bioimageio(trained_same, tmp_path / "ours.zip",
                                   weight_formats=("pytorch_state_dict",))  # fmt: skip
    model, metadata = open_bioimageio(package)
    assert model.config == trained_same[0].config and "normalization" in metadata
    # Run as another tool's package would be: bioimageio.core's blocks agree with
    # napari-unet's tiles inside the image, whatever the block size (a U-Net's pooling
    # phase: the last block must lie on the others' grid).
    ours = np.asarray(nu.predict(model, image, metadata=metadata))
    runner = ForeignModel(package)
    h = runner.plan.halo + 1
    for tile in (200, 512):
        theirs = runner.predict(image, tile=tile)
        assert np.abs(ours - theirs)[:, h:-h, h:-h].max() <= 1e-5, tile


def test_the_predict_command_runs_another_tools_package(packages, image, tmp_path, capsys):
    from napari_unet.cli import main
    from napari_unet.core.images.io import read_image, write_image

    part = image[:100, :130]
    (tmp_path / "in").mkdir()
    src = write_image(tmp_path / "in" / "cells.tif", part)
    out = tmp_path / "out"
    args = ["predict", str(packages["both"]), str(src), "-o", str(out), "--probabilities",
            "--tile", "48", "--min-size", "0", "--split", "0", "--threshold", "0.6"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "another tool's package: probabilities (1 channel)" in printed
    probs = read_image(out / "cells_probabilities.tif")
    expected = fp.reference(fp.tiny_net(), part)
    assert probs.shape == (1, 100, 130) and np.abs(probs - expected).max() <= 1e-4
    from skimage.measure import label

    labels = read_image(out / "cells_labels.tif")
    assert np.array_equal(labels, label(expected[0] > 0.6, connectivity=1))
    assert main(["predict", str(packages["labels"]), str(src), "-o", str(out / "m")]) == 0
    mask = read_image(out / "m" / "cells_labels.tif")
    assert np.array_equal(mask, (expected[0] > 0.5).astype(mask.dtype))
    assert main(["predict", str(packages["both"]), str(src), "-o", str(out / "f"),
                 "--flips"]) == 2  # fmt: skip
    assert "--flips apply to napari-unet models only" in capsys.readouterr().err
    # another tool's package reads the image as it is: keep is what it does, flatten is not
    assert main(["predict", str(packages["labels"]), str(src), "-o", str(out / "k"),
                 "--background", "keep"]) == 0  # fmt: skip
    assert main(["predict", str(packages["labels"]), str(src), "-o", str(out / "b"),
                 "--background", "flatten"]) == 2  # fmt: skip
    assert "--background flatten apply to napari-unet models only" in capsys.readouterr().err


def test_image_planes_fit_the_packages_channels():
    from napari_unet.core.exchange.planes import image_planes

    grey = np.arange(12, dtype=np.float32).reshape(3, 4)
    planes, stack = image_planes(grey, None, 3)  # grey for a colour model: grey RGB
    assert planes.shape == (1, 3, 3, 4) and not stack and (planes == grey).all()
    rgba = np.stack([grey, grey * 2, grey * 3, np.ones_like(grey)], axis=-1)
    np.testing.assert_array_equal(image_planes(rgba, -1, 3)[0][0], rgba[..., :3].transpose(2, 0, 1))
    np.testing.assert_allclose(image_planes(rgba, -1, 1)[0][0, 0], grey * 2)  # the mean colour
    with pytest.raises(InputError, match="has 1 channel.*expects 2"):
        image_planes(grey, None, 2)
