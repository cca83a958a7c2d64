"""A training run that an error ends after some steps keeps what it trained, as a stop does."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from failing_runs import CPU_OOM, failing_at, quick  # noqa: E402

from napari_unet.core.errors import memory_message  # noqa: E402


@pytest.fixture(scope="module")
def pairs():
    from napari_unet import make_pairs, touching_cells

    image, labels = touching_cells((96, 96), n_cells=8, seed=0)
    return make_pairs([image], [labels])


@pytest.mark.usefixtures("one_thread")
def test_an_error_after_steps_saves_them_and_the_run_resumes(pairs, tmp_path, monkeypatch):
    from napari_unet import load_model, train

    out = tmp_path / "m.safetensors"
    failing_at(monkeypatch, 4, RuntimeError(CPU_OOM))
    with pytest.raises(RuntimeError, match="DefaultCPUAllocator") as info:
        train(pairs, quick(10), output=out)
    kept = info.value.result  # before: no result, no file; the three steps were lost
    assert kept.steps_done == 3 and kept.stopped and kept.saved_to == out
    assert any("saved to" in note for note in info.value.__notes__)
    model, meta = load_model(out)
    assert meta["provenance"]["steps"] == 3
    for name, value in model.state_dict().items():
        assert torch.equal(value, kept.model.state_dict()[name]), name
    monkeypatch.undo()
    again = train(pairs, quick(5), resume=out, output=out)  # continues where it failed
    assert again.steps_done == 5 and not again.stopped


@pytest.mark.usefixtures("one_thread")
def test_an_error_before_the_first_step_writes_nothing(pairs, tmp_path, monkeypatch):
    from napari_unet import train

    out = tmp_path / "m.safetensors"
    failing_at(monkeypatch, 1, ValueError("a bad batch"))
    with pytest.raises(ValueError, match="a bad batch") as info:
        train(pairs, quick(10), output=out)
    assert not hasattr(info.value, "result") and not out.exists()


@pytest.mark.usefixtures("one_thread")
def test_a_run_that_cannot_be_saved_either_raises_its_own_error(pairs, tmp_path, monkeypatch):
    from napari_unet import train
    from napari_unet.core.training import checkpoint

    def no_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    failing_at(monkeypatch, 3, RuntimeError("CUDA error: an illegal memory access"))
    monkeypatch.setattr(checkpoint, "save_final", no_disk)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        train(pairs, quick(10), output=tmp_path / "m.safetensors")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (MemoryError(), "out of memory"),
        (RuntimeError(CPU_OOM), "out of memory (an array of 8.0 GiB did not fit)"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 79 GiB total)"),
         "out of memory (an array of 2.50 GiB did not fit)"),
        (torch.OutOfMemoryError("CUDA error"), "out of memory"),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), None),
        (ValueError("not enough memory"), None),
    ],
)
def test_memory_message(error, said):
    assert memory_message(error) == said
