"""Failures the tests inject: PyTorch's out-of-memory error, a training step that raises."""

from __future__ import annotations

#: What PyTorch's CPU allocator raises (a RuntimeError) when an array does not fit.
CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)"
)


def failing_at(monkeypatch, step: int, error: Exception) -> None:
    """Make the training step number ``step`` (counted from 1) raise ``error``."""
    from napari_unet.core.training import trainer

    real, calls = trainer._Run.train_step, []

    def train_step(self, batch):
        calls.append(1)
        if len(calls) == step:
            raise error
        return real(self, batch)

    monkeypatch.setattr(trainer._Run, "train_step", train_step)


def quick(steps: int):
    """A training configuration of a few seconds on the CPU (the tiny network)."""
    from napari_unet import TrainConfig

    return TrainConfig(model="tiny", steps=steps, batch_size=2, crop_size=48, device="cpu",
                       prefetch=0, val_every=100)  # fmt: skip
