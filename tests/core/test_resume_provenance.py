"""A resumed run's model file still says where the run started (``provenance.source``).

Before, a fine-tune stopped and resumed recorded only ``"resumed at step N"``: the model
no longer said which model it was fine-tuned from (an uninterrupted run did).
"""

import threading
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    TrainConfig,
    TrainStep,
    build_model,
    make_pairs,
    read_metadata,
    save_model,
    touching_cells,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def config(steps: int) -> TrainConfig:
    return TrainConfig(
        model="tiny", steps=steps, batch_size=2, crop_size=48, val_every=2, device="cpu",
        prefetch=0, event_interval=0.0,
    )  # fmt: skip


def stopped_after_one_step(pairs, **kwargs):
    """A run whose Stop is pressed during its first step (it keeps that step)."""
    stop = threading.Event()

    def progress(ev) -> None:
        if isinstance(ev, TrainStep):
            stop.set()

    return train(pairs, config(4), stop=stop, progress=progress, **kwargs)


def test_a_resumed_fine_tune_still_names_its_start_model(tmp_path):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    pairs = make_pairs([img], [lab], names=["cells"])
    start = tmp_path / "start.unet.safetensors"
    save_model(start, build_model({"arch": "unet", "base_channels": 4, "depth": 2}))
    out = tmp_path / "tuned.safetensors"

    first = stopped_after_one_step(pairs, init=start, output=out)
    assert first.steps_done == 1
    origin = "fine-tuned from start.unet.safetensors"
    assert read_metadata(out)["provenance"]["source"] == origin

    again = train(pairs, config(3), resume=first, output=out)  # Python, in memory
    assert again.steps_done == 3
    assert again.metadata["provenance"]["source"] == f"{origin}; resumed at step 1"
    assert read_metadata(out)["provenance"]["source"] == f"{origin}; resumed at step 1"

    # From the file (the command line's --resume): one start, the latest resume's step.
    last = train(pairs, config(5), resume=out, output=out)
    assert last.steps_done == 5
    assert read_metadata(out)["provenance"]["source"] == f"{origin}; resumed at step 3"


def test_a_resumed_run_from_scratch_says_so_too(tmp_path):
    img, lab = touching_cells((96, 96), n_cells=8, seed=1)
    pairs = make_pairs([img], [lab], names=["cells"])
    first = stopped_after_one_step(pairs)
    again = train(pairs, config(2), resume=first)
    assert again.metadata["provenance"]["source"] == "from scratch; resumed at step 1"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("resumed at step 2", "resumed at step 5"),  # a file resumed before the fix
        (
            "fine-tuned from a.safetensors; resumed at step 2",
            "fine-tuned from a.safetensors; resumed at step 5",
        ),
        (None, "resumed at step 5"),  # no provenance recorded
    ],
)
def test_the_source_keeps_one_start_and_the_latest_resume(before, after):
    from napari_unet.core.training.setup import resumed_source

    provenance = {} if before is None else {"source": before}
    resume = SimpleNamespace(steps_done=5, metadata={"provenance": provenance})
    assert resumed_source(resume) == after
