"""The Python training API keeps what it trained however the caller's side ends the run.

Each test failed before its fix: an error in the ``progress`` callback (or a ``break`` out
of ``iter_train``) lost every trained step, ``init=`` was silently ignored beside
``resume=``, and a Ctrl-C while ``TrainStarted`` or the final ``Checkpoint`` was handled
raised a ``KeyboardInterrupt`` without the documented ``result``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    Checkpoint,
    Evaluation,
    InputError,
    TrainConfig,
    TrainStarted,
    TrainStep,
    iter_train,
    make_pairs,
    read_metadata,
    touching_cells,
    train,
)
from napari_unet.core.training.checkpoint import optimizer_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def quick(**kw):
    base = dict(model="tiny", steps=4, batch_size=1, crop_size=32, val_every=100,
                val_fraction=0.0, device="cpu", prefetch=0, event_interval=0.0)  # fmt: skip
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def pairs():
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    return make_pairs([img.astype(np.float32)], [lab], names=["cells"])


def steps_saved(path) -> int:
    return read_metadata(path)["training"]["steps_done"]


# -- 1. an error in the caller's code, or a break, keeps what trained ---------------------


def test_an_error_in_the_progress_callback_saves_the_run_and_carries_it(pairs, tmp_path):
    out = tmp_path / "m.safetensors"

    def progress(ev):
        if isinstance(ev, Evaluation):
            return ev.metrics["no such metric"]  # the user's typo: a KeyError at step 2

    config = quick(steps=6, val_every=2, val_fraction=0.3)
    with pytest.raises(KeyError) as info:
        train(pairs, config, output=out, progress=progress)
    result = info.value.result  # before: no result, and no file at all
    assert result.steps_done == 2 and result.stopped and result.saved_to == out
    assert steps_saved(out) == 2 and optimizer_path(out).is_file()
    assert train(pairs, quick(steps=3), resume=out, output=out).steps_done == 3


def test_an_error_in_the_callback_before_any_step_saves_nothing(pairs, tmp_path):
    out = tmp_path / "m.safetensors"

    def progress(ev):
        raise ValueError("the callback is broken")

    with pytest.raises(ValueError, match="broken"):
        train(pairs, quick(), output=out, progress=progress)
    assert not out.exists()


def test_a_break_out_of_iter_train_saves_the_last_weights_and_optimiser_state(pairs, tmp_path):
    out = tmp_path / "m.safetensors"
    for ev in iter_train(pairs, quick(steps=40), output=out):
        if isinstance(ev, TrainStep) and ev.step == 3:
            break  # before: nothing written (only NAME.best, with validation)
    assert steps_saved(out) == 3 and optimizer_path(out).is_file()
    assert read_metadata(out)["training"]["stopped"]
    assert train(pairs, quick(steps=5), resume=out, output=out).steps_done == 5


def test_a_break_before_the_first_step_writes_nothing(pairs, tmp_path):
    out = tmp_path / "m.safetensors"
    for ev in iter_train(pairs, quick(), output=out):
        assert isinstance(ev, TrainStarted)
        break
    assert not out.exists() and not optimizer_path(out).exists()


# -- 2. init= and resume= together are refused, as on the command line --------------------


def test_init_and_resume_together_are_refused_not_init_ignored(pairs, tmp_path):
    base = tmp_path / "base.safetensors"
    first = train(pairs, quick(steps=2), output=base)
    with pytest.raises(InputError, match="not both"):
        train(pairs, quick(steps=4), init=base, resume=first)
    with pytest.raises(InputError, match="not both"):
        next(iter_train(pairs, quick(steps=4), init=base, resume=base))


# -- 3. Ctrl-C while the first or the last event is handled carries a result --------------


def test_ctrl_c_while_train_started_is_handled_carries_a_result_with_no_step(pairs, tmp_path):
    out = tmp_path / "m.safetensors"

    def progress(ev):
        if isinstance(ev, TrainStarted):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        train(pairs, quick(), output=out, progress=progress)
    result = info.value.result  # before: AttributeError
    assert result.steps_done == 0 and result.stopped and result.saved_to is None
    assert not out.exists()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupt_while_the_last_checkpoint_is_handled_carries_the_saved_result(
    pairs, tmp_path, error
):
    out = tmp_path / "m.safetensors"

    def progress(ev):
        if isinstance(ev, Checkpoint) and ev.kind == "last":
            raise error

    with pytest.raises(error) as info:
        train(pairs, quick(steps=3), output=out, progress=progress)
    result = info.value.result  # before: AttributeError
    assert result.steps_done == 3 and result.saved_to == out and steps_saved(out) == 3
