"""An aborted run (the command's second Ctrl-C) is saved, and its JSON-lines log says so.

Before, the save of an aborted run threw its ``Checkpoint`` events away: the log ended with
``TrainStep`` lines, where a stopped run's log ends with ``{"event": "Checkpoint", ...,
"kind": "last"}``, so a script reading the log could not tell that a model to resume exists.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    Checkpoint,
    TrainConfig,
    make_pairs,
    read_metadata,
    touching_cells,
    write_image,
)
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.training import trainer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def aborted_at_step_2(monkeypatch):
    """A second Ctrl-C during step 3: a ``KeyboardInterrupt`` raised in the training step."""
    step = trainer._Run.train_step

    def interrupted(run, batch):
        if run.step >= 2:
            raise KeyboardInterrupt
        return step(run, batch)

    monkeypatch.setattr(trainer._Run, "train_step", interrupted)


@pytest.mark.usefixtures("aborted_at_step_2")
def test_the_log_of_an_aborted_command_records_the_saved_model(tmp_path, capsys):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "a.tif", (img * 255).astype(np.uint8))
    labels = write_image(tmp_path / "a_labels.tif", lab.astype(np.uint16))
    out, log = tmp_path / "m.safetensors", tmp_path / "m.jsonl"
    code = main([
        "train", "--images", str(image), "--labels", str(labels), "-o", str(out),
        "--steps", "50", "--val-fraction", "0", "--arch", "tiny", "--crop-size", "48",
        "--batch-size", "2", "--device", "cpu", "-q", "--log", str(log),
    ])  # fmt: skip
    assert code == 130
    assert f"aborted at step 2; saved {out}" in capsys.readouterr().err
    assert read_metadata(out)["training"]["steps_done"] == 2
    last = json.loads(log.read_text().splitlines()[-1])  # before: a TrainStep line
    assert last["event"] == "Checkpoint"
    assert (last["kind"], last["step"], last["path"]) == ("last", 2, str(out))


@pytest.mark.usefixtures("aborted_at_step_2")
def test_an_interrupted_run_hands_its_checkpoint_events_on(tmp_path):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    pairs = make_pairs([img], [lab], names=["cells"])
    config = TrainConfig(model="tiny", steps=50, batch_size=2, crop_size=48, val_fraction=0.0,
                         device="cpu", prefetch=0)  # fmt: skip
    out = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt) as caught:
        for _ in trainer.iter_train(pairs, config, output=out):
            pass
    assert caught.value.result.saved_to == out
    assert caught.value.events == [Checkpoint(2, out, "last")]
