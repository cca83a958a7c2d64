"""Stop while validation scores a large image: the pass ends between tiles, no score kept."""

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_finetune_lr import quick as finetune_quick  # noqa: E402

from napari_unet import drain, iter_train, make_pairs, touching_cells  # noqa: E402
from napari_unet.core.inference import plan  # noqa: E402
from napari_unet.core.inference.runner import TileRunner  # noqa: E402
from napari_unet.core.training import validation  # noqa: E402
from napari_unet.core.training.trainer import best_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TILE = 48  # small tiles: the 192 x 192 validation image is predicted in many of them


def quick(**kw):
    """test_finetune_lr's tiny quick config, validating every 3 of 6 steps."""
    return finetune_quick(**({"steps": 6, "val_every": 3} | kw))


@pytest.fixture(scope="module")
def data():
    img, lab = touching_cells((128, 128), n_cells=12, seed=0, cluster_size=1)
    vimg, vlab = touching_cells((192, 192), n_cells=24, seed=1, cluster_size=1)
    return make_pairs([img], [lab], names=["train"]), make_pairs([vimg], [vlab], names=["val"])


@pytest.fixture
def press_stop(monkeypatch):
    """Stop pressed once validation has predicted its first tile; counts tiles predicted.

    ``state["tiles"]`` counts tiles run through the network (in batches of one on the CPU),
    ``state["weights"]`` holds the network's weights when Stop was pressed.
    """
    stop = threading.Event()
    state = {"tiles": 0, "weights": None, "stop": stop}
    real = TileRunner.__call__

    def counted(self, tiles):
        out = real(self, tiles)
        state["tiles"] += len(tiles)
        if not stop.is_set():
            stop.set()  # the user presses Stop while the image is being scored
            state["weights"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return out

    monkeypatch.setattr(TileRunner, "__call__", counted)
    monkeypatch.setattr(plan, "auto_tile", lambda *a, **k: TILE)
    return state


def test_the_validation_image_takes_many_tiles(data, press_stop):
    """The premise: a whole pass predicts many tiles (so one tile is a pass cut short)."""
    from napari_unet import build_model

    model = build_model({**quick().model, "in_channels": 1}).train()
    scores = validation.evaluate_pairs(model, data[1], quick().normalization, "cpu")
    assert scores is not None and press_stop["tiles"] >= 9


def test_stop_during_a_validation_pass_returns_before_its_other_tiles(data, press_stop, tmp_path):
    pairs, val = data
    out = tmp_path / "run.safetensors"
    events = []
    result = drain(iter_train(pairs, quick(), val=val, stop=press_stop["stop"], output=out),
                   events.append)  # fmt: skip
    assert press_stop["tiles"] == 1  # the rest of the image was never predicted
    assert result.stopped and result.steps_done == 3  # stopped at the first validation
    assert result.history["val"] == []  # the pass cut short is no score
    assert result.best_metrics is None and result.best_state is None
    assert not any(type(e).__name__ == "Evaluation" for e in events)
    weights = result.model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in press_stop["weights"].items())
    assert out.exists() and not best_path(out).exists()  # the model kept; no best of a part
    from napari_unet.core.models.modelfile import load_model

    saved, _ = load_model(out)
    assert all(torch.equal(saved.state_dict()[k], v) for k, v in weights.items())


def test_stop_while_a_fine_tunes_start_model_is_scored(data, press_stop, trained_same, tmp_path):
    """The start model's score (step 0) on one large image: a stop ends it after a tile."""
    from tiny_model import save_tiny

    pairs, val = data
    start = save_tiny(tmp_path, *trained_same)
    out = tmp_path / "ft.safetensors"
    gen = iter_train(pairs, quick(lr=1e-4), val=val, stop=press_stop["stop"], init=start,
                     output=out)  # fmt: skip
    result = drain(gen)
    assert press_stop["tiles"] == 1
    assert result.stopped and result.steps_done == 0
    assert result.history["val"] == [] and result.best_metrics is None
    assert not out.exists() and not best_path(out).exists()  # trained nothing: writes nothing


def test_stop_while_the_start_score_chooses_the_rate(press_stop, trained_same, tmp_path):
    """Choosing the rate scores the start model on one large image: a stop ends it too."""
    from tiny_model import save_tiny

    image, labels = touching_cells((192, 192), n_cells=24, seed=2, cluster_size=1)
    big = make_pairs([image], [labels])
    start = save_tiny(tmp_path, *trained_same)
    result = drain(iter_train(big, quick(val_fraction=0), stop=press_stop["stop"], init=start))
    assert press_stop["tiles"] == 1
    assert result.stopped and result.steps_done == 0
    assert result.metadata["provenance"]["start_ap50"] is None  # a part is no score


def test_evaluate_pairs_cut_short_gives_no_score(data, press_stop):
    from napari_unet import build_model

    model = build_model({**quick().model, "in_channels": 1}).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    scores = validation.evaluate_pairs(model, data[1], quick().normalization, "cpu",
                                       stop=press_stop["stop"])  # fmt: skip
    assert scores is None and press_stop["tiles"] == 1
    assert model.training  # its mode restored, as after a whole pass
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert np.isfinite(validation.evaluate_pairs(model, data[1], quick().normalization,
                                                 "cpu")["ap50"])  # fmt: skip
