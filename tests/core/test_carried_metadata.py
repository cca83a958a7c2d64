"""A loaded model carries its file's metadata: calls given the model alone use it."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402


@pytest.fixture(scope="module")
def builtin():
    return nu.pretrained("nuclei")


@pytest.fixture(scope="module")
def image():
    return nuclei_data()[0][:160, :160]


def test_segment_of_the_model_alone_uses_its_files_post_processing(builtin, image):
    # `model, _ = pretrained()` then `segment(model, image)` gave the default threshold
    # (0.5) and no split instead of the file's 0.6, min size 20 and split 2: other labels
    # than the docks and the command give, with nothing said.
    model, meta = builtin
    assert meta["postprocess"] != {}  # the file recommends its own
    alone = nu.segment(model, image)
    given = nu.segment(model, image, metadata=meta)
    np.testing.assert_array_equal(alone, given)
    # metadata given to a call still wins, an empty one included (the defaults)
    defaults = nu.segment(model, image, metadata={})
    assert not np.array_equal(defaults, given)


def test_predictor_and_object_size_read_the_carried_metadata(builtin, image):
    model, meta = builtin
    assert nu.Predictor(model).spec == nu.Predictor(model, metadata=meta).spec
    assert nu.Predictor(model).window == nu.Predictor(model, metadata=meta).window
    size = nu.estimate_object_size(model, image)  # needed metadata=meta before
    assert size.factor == nu.estimate_object_size(model, image, metadata=meta).factor


def test_the_weights_and_files_are_unchanged(builtin, tmp_path):
    from napari_unet.core.models.carried import ATTRIBUTE, carried

    model, meta = builtin
    assert ATTRIBUTE not in model.state_dict()
    assert not any(ATTRIBUTE in name for name, _ in model.named_parameters())
    path = nu.save_model(tmp_path / "copy.safetensors", model, **{
        k: v for k, v in meta.items() if k in ("normalization", "postprocess", "object_size")
    })
    again, again_meta = nu.load_model(path)
    assert carried(again) is again_meta
    assert again_meta["postprocess"] == meta["postprocess"]


def test_export_of_a_loaded_network_keeps_its_files_metadata(builtin):
    from napari_unet.core.exchange.export import _resolve

    model, meta = builtin
    _, found, _ = _resolve(model)  # the network alone, as export_bioimageio(model) gets it
    assert found["normalization"] == meta["normalization"]
    assert found["postprocess"] == meta["postprocess"]


def test_a_fine_tuned_model_carries_the_runs_metadata_not_its_start_files(image):
    from napari_unet.core.models.carried import carried

    labels = nuclei_data()[1][:160, :160]
    pairs = nu.make_pairs([image], [labels])
    config = nu.TrainConfig(steps=2, batch_size=2, crop_size=64, device="cpu")
    result = nu.train(pairs, config, init="nuclei")
    assert carried(result.model) is result.metadata
    assert "fine-tuned" in str(result.metadata["provenance"])
    best = result.best_model()
    assert carried(best) == result.best_metadata()
    # a run resumed from the result trains a copy that carries nothing of the old run's
    from napari_unet.core.training.setup import init_model

    resumed, _ = init_model(config, 1, None, result)
    assert carried(resumed) is None
    assert carried(result.model) is result.metadata  # the result itself keeps its own
