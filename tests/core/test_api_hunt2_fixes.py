"""Fixes of the Python API found by a second hunt: outputs that replaced the user's data,
a network left in train() mode segmented otherwise, and mistakes that raised Python's errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import napari_unet as nu
from napari_unet.core.errors import InputError
from napari_unet.core.inference import segment as segment_module
from napari_unet.core.inference.scale import ObjectSize
from napari_unet.core.models import UNet
from napari_unet.core.models.carried import attach
from napari_unet.core.training.validation import segment_image

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cells():
    return nu.touching_cells((64, 64), n_cells=8, seed=0)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return UNet(1, 2, base_channels=4, depth=2, padding="same").eval()


def _image(seed=0, size=96):
    return (np.random.default_rng(seed).random((size, size)) * 200).astype(np.uint8)


# -- predict_to_zarr: never replaces the user's data -------------------------------------


def test_predict_to_zarr_refuses_a_folder_of_the_users_files(net, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "notes.txt").write_text("my notes")
    with pytest.raises(InputError, match="not a Zarr store"):
        nu.predict_to_zarr(net, _image(), results)
    assert (results / "notes.txt").read_text() == "my notes"


def test_predict_to_zarr_refuses_the_input_store_and_around_it(net, tmp_path):
    image = _image(1)
    src = nu.write_image(tmp_path / "big.zarr", image)
    for out in (src, src / "probabilities.zarr", tmp_path):
        with pytest.raises(InputError, match="input|read from"):
            nu.predict_to_zarr(net, nu.read_image(src, lazy=True), out)
    np.testing.assert_array_equal(np.asarray(nu.read_image(src)), image)
    # another image store (not the input) is not replaced either
    with pytest.raises(InputError, match="did not write as probabilities"):
        nu.predict_to_zarr(net, image, src)
    np.testing.assert_array_equal(np.asarray(nu.read_image(src)), image)


def test_predict_to_zarr_replaces_its_own_probabilities(net, tmp_path):
    out = tmp_path / "p.zarr"
    first = nu.predict_to_zarr(net, _image(2), out).compute()
    second = nu.predict_to_zarr(net, _image(3), out).compute()
    assert not np.array_equal(first, second)
    (tmp_path / "empty.zarr").mkdir()  # an empty folder holds nothing to lose
    nu.predict_to_zarr(net, _image(2), tmp_path / "empty.zarr")
    with pytest.raises(InputError, match="did not write as probabilities"):
        nu.predict_to_zarr(net, _image(2), nu.write_image(tmp_path / "img.zarr", _image(4)))


# -- a network in train() mode segments as in eval() mode -------------------------------


def _uneven(size=96):
    yy, xx = np.mgrid[:size, :size]
    return (_image(5, size) * 0.3 + 150 * xx / size).astype(np.float32)


def test_a_network_in_train_mode_is_flattened_as_in_eval_mode(net):
    image = _uneven()
    flat = nu.Predictor(net, background="flatten", device="cpu")
    eval_probs = nu.drain(flat.iter_probabilities(image))
    assert flat.flattened
    net.train()
    flat = nu.Predictor(net, background="flatten", device="cpu")
    train_probs = nu.drain(flat.iter_probabilities(image))
    assert flat.flattened  # before: none (the light kept for a network in training mode)
    np.testing.assert_allclose(train_probs, eval_probs, atol=1e-6)
    assert net.training  # its mode is the caller's


def test_a_network_in_train_mode_gets_the_auto_object_size(net):
    attach(net, {"object_size": 12.0})
    image = _image(6)
    events = {}
    for mode in ("eval", "train"):
        getattr(net, mode)()
        seen = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nu.DomainWarning)  # an untrained network's labels
            labels = nu.segment(net, image, progress=seen.append)
        events[mode] = ([type(e) for e in seen if isinstance(e, ObjectSize)], labels)
    assert events["train"][0] == events["eval"][0] == [ObjectSize]  # before: none in train
    np.testing.assert_array_equal(events["train"][1], events["eval"][1])


def test_domain_warnings_follow_the_caller_not_the_network_mode(net, monkeypatch):
    monkeypatch.setattr(segment_module, "result_warnings", lambda *a, **k: ["unlike training"])
    net.train()  # a user's network after its own training loop
    with pytest.warns(nu.DomainWarning, match="unlike training"):
        nu.segment(net, _image(7), object_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nu.DomainWarning)  # validation while it trains: quiet
        segment_image(net.eval(), _image(7), {"method": "percentile"}, torch.device("cpu"))


# -- mistakes raise InputError naming the fix -------------------------------------------


def test_make_pairs_refuses_names_that_do_not_match_the_images(cells):
    image, labels = cells
    with pytest.raises(InputError, match="1 images but 2 names"):
        nu.make_pairs([image], [labels], names=["a", "b"])


def test_train_refuses_raw_tuples_and_a_network_as_init(cells, net):
    image, labels = cells
    pairs = nu.make_pairs([image], [labels])
    cfg = nu.TrainConfig(steps=1, batch_size=1, crop_size=32, device="cpu")
    with pytest.raises(InputError, match=r"val: .*nu.make_pairs\(images, labels, validation"):
        nu.train(pairs, cfg, val=[(image, labels)])
    with pytest.raises(InputError, match=r"pairs: .*tuple items; make them with nu.make_pairs"):
        nu.train([(image, labels)], cfg)
    with pytest.raises(InputError, match=r"init: .*model file or a built-in name.*save_model"):
        nu.train(pairs, cfg, init=net)


def test_postprocess_for_model_reads_a_network_and_refuses_other_things(net):
    metadata = {"postprocess": {"threshold": 0.7, "min_size": 3}, "separation_gap": 3}
    attach(net, metadata)
    assert nu.Postprocess.for_model(net) == nu.Postprocess.for_model(metadata)
    assert nu.Postprocess.for_model(net).threshold == 0.7
    with pytest.raises(InputError, match="metadata: expected"):
        nu.Postprocess.for_model("nuclei.safetensors")


def test_write_image_refuses_an_empty_png(tmp_path):
    with pytest.raises(InputError, match="empty"):
        nu.write_image(tmp_path / "x.png", np.zeros((0, 0), np.uint8))
    assert not (tmp_path / "x.png").exists()
