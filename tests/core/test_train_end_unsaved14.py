"""A run whose end finds no room anywhere keeps its trained model in memory (``exc.result``).

Before, the failure of the end-of-run save (output folder and temporary folder on one full
disk) carried no result: the Train dock lost every trained step and could not save them once
space was freed. The full disk is simulated under safetensors' own writer.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_unet import load_model, touching_cells  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.core.training.checkpoint import save_result  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_an_end_saved_nowhere_raises_with_the_trained_model(no_room, tmp_path):
    from napari_unet import TrainConfig, iter_train, make_pairs

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    pairs = make_pairs([img], [lab])
    config = TrainConfig(model="tiny", steps=2, batch_size=2, crop_size=48, device="cpu",
                         prefetch=0, val_every=100, val_fraction=0)  # fmt: skip
    out = tmp_path / "full" / "m.safetensors"
    with pytest.raises(InputError, match="No space left") as info:
        for _ in iter_train(pairs, config, output=out):
            pass
    kept = getattr(info.value, "result", None)
    assert kept is not None, "the trained steps were lost with the failed save"
    assert kept.steps_done == 2 and kept.saved_to is None and kept.model is not None
    no_room.clear()  # space freed: the kept model saves, resumable
    save_result(kept, out)
    assert load_model(out)[1]["training"]["steps_done"] == 2
