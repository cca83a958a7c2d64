"""Device and precision choice (CUDA/MPS paths simulated on this CPU-only machine)."""

from __future__ import annotations

import warnings

import pytest
import torch

from napari_unet import InputError
from napari_unet.core.device import (
    autocast_dtype,
    choose_device,
    cpu_has_fast_bf16,
    describe_device,
)


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("napari_unet.core.device._mps_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_auto_falls_back_to_cpu(no_accelerator):
    assert choose_device() == torch.device("cpu")
    assert choose_device("auto") == torch.device("cpu")
    assert choose_device("CPU") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch, fake_cuda):
    monkeypatch.setattr("napari_unet.core.device._mps_available", lambda: True)
    assert choose_device() == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device(None) == torch.device("mps")


def test_explicit_devices_are_honoured(fake_cuda):
    assert choose_device("cuda") == torch.device("cuda", 0)
    assert choose_device("cuda:1") == torch.device("cuda", 1)
    assert choose_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(InputError, match="only 2 CUDA device"):
        choose_device("cuda:2")


def test_unavailable_or_unknown_devices_are_input_errors(no_accelerator):
    with pytest.raises(InputError, match="CUDA is not available"):
        choose_device("cuda")
    with pytest.raises(InputError, match="MPS is not available"):
        choose_device("mps")
    with pytest.raises(InputError, match="unknown device 'gpu0'"):
        choose_device("gpu0")


def test_autocast_dtype(monkeypatch):
    monkeypatch.setenv("NAPARI_UNET_CPU_BF16", "0")  # a CPU without bf16 matrix units
    assert autocast_dtype("cpu", "fp32") is None
    assert autocast_dtype(torch.device("cuda", 0), "fp16") is torch.float16
    for precision in ("bf16", "fp16"):
        with pytest.warns(UserWarning, match="using fp32"):
            assert autocast_dtype("cpu", precision) is None
        with pytest.warns(UserWarning, match="using fp32"):
            assert autocast_dtype("mps", precision) is None
    with pytest.raises(InputError, match="fp32, fp16, bf16"):
        autocast_dtype("cpu", "int8")


def test_bf16_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert autocast_dtype("cuda", "bf16") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.warns(UserWarning, match="using fp16"):
        assert autocast_dtype("cuda", "bf16") is torch.float16


def test_describe_device(monkeypatch):
    assert describe_device("cpu") == f"cpu ({torch.get_num_threads()} threads)"
    assert describe_device("mps") == "mps (Apple GPU)"

    class Props:
        name = "NVIDIA H100"
        total_memory = 80e9

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props)
    assert describe_device("cuda:1") == "cuda:1 (NVIDIA H100, 80 GB)"


def test_cpu_workers_follow_the_setting_else_the_usable_cores(monkeypatch):
    import os

    from napari_unet.core.device import cpu_workers, thread_map

    monkeypatch.setenv("NAPARI_UNET_THREADS", "3")
    assert cpu_workers() == 3
    for unusable in ("", "0", "many", "-2"):
        monkeypatch.setenv("NAPARI_UNET_THREADS", unusable)
        assert 1 <= cpu_workers() <= 4
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        assert cpu_workers() == 1  # a job given one core gets one thread
    # Results come back in the order of the items, whichever thread finishes first.
    assert thread_map(lambda a, b: a * b, [(i, i) for i in range(50)], 3) == [
        i * i for i in range(50)
    ]


def test_bf16_on_a_cpu_with_amx(monkeypatch):
    """bf16 runs on a CPU with bf16 matrix units; fp16 still falls back there."""
    monkeypatch.setenv("NAPARI_UNET_CPU_BF16", "1")
    assert cpu_has_fast_bf16()
    assert autocast_dtype("cpu", "bf16") is torch.bfloat16
    with pytest.warns(UserWarning, match="using fp32"):
        assert autocast_dtype("cpu", "fp16") is None
    # Without the override torch's own feature check decides, and a missing check says no.
    monkeypatch.delenv("NAPARI_UNET_CPU_BF16")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_has_fast_bf16()
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert not cpu_has_fast_bf16()
