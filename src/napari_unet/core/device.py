"""Device and precision choice: CUDA, then Apple MPS, then CPU, overridable."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

from napari_unet.core.errors import InputError

PRECISIONS = ("fp32", "fp16", "bf16")
#: Prediction's default arithmetic (the command line shows it without importing torch).
DEFAULT_PRECISION = "fp32"


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def choose_device(preference=None):
    """Pick the device to compute on.

    Parameters
    ----------
    preference : str or torch.device, optional
        ``None`` or ``"auto"``: the first CUDA GPU if there is one, else Apple MPS, else
        the CPU. ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``: exactly that device.

    Returns
    -------
    torch.device
        The chosen device (:func:`describe_device` says what it is).

    Raises
    ------
    InputError
        If the requested device is unknown or not available on this machine.
    """
    import torch

    if preference is None or (isinstance(preference, str) and preference.lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference.lower() if isinstance(preference, str) else preference)
    except (RuntimeError, TypeError) as exc:
        raise InputError(
            f"unknown device {preference!r}; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from exc
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"device {preference!r} requested but CUDA is not available (torch "
                f"{torch.__version__} sees no NVIDIA GPU); use 'cpu' or 'auto'"
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        count = torch.cuda.device_count()
        if index >= count:
            raise InputError(
                f"device {preference!r} requested but only {count} CUDA device(s) exist "
                f"(cuda:0 to cuda:{count - 1})"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not _mps_available():
            raise InputError(
                f"device {preference!r} requested but Apple MPS is not available here; "
                "use 'cpu' or 'auto'"
            )
        return torch.device("mps")
    raise InputError(
        f"unsupported device {preference!r}; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    )


def autocast_dtype(device, precision: str = "fp32"):
    """The autocast dtype for ``precision`` on ``device`` (``None`` means plain fp32).

    Reduced precision is used on CUDA, and bf16 on a CPU with bf16 matrix units (Intel AMX,
    :func:`cpu_has_fast_bf16`), where oneDNN runs the built-in model's convolutions 2-2.5x
    faster than fp32. Elsewhere the request falls back to fp32 with a warning: on CPUs without
    them bf16 autocast was 10-300x slower than fp32, fp16 has no fast CPU kernels in torch,
    and MPS autocast is incomplete. bf16 on a GPU without bf16 support falls back to fp16.

    Parameters
    ----------
    device : torch.device or str
        The compute device.
    precision : {"fp32", "fp16", "bf16"}
        The requested precision.

    Returns
    -------
    torch.dtype or None
        ``torch.float16`` / ``torch.bfloat16`` for ``torch.autocast``, or ``None``.
    """
    import torch

    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "fp32":
        return None
    device = torch.device(device)
    if device.type == "cpu" and precision == "bf16" and cpu_has_fast_bf16():
        return torch.bfloat16
    if device.type != "cuda":
        warnings.warn(
            f"{precision} requested on {device.type}; using fp32 (reduced precision is only "
            "faster on CUDA GPUs and, for bf16, on CPUs with AMX; elsewhere it is many times "
            "slower)",
            stacklevel=2,
        )
        return None
    if precision == "bf16":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        warnings.warn("this GPU does not support bf16; using fp16", stacklevel=2)
    return torch.float16


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (Intel AMX) that oneDNN uses for convolutions.

    Read from torch's own CPU feature check (``torch.cpu._is_amx_tile_supported``, present in
    torch 2.1 and later); ``False`` where torch cannot tell. ``NAPARI_UNET_CPU_BF16=0`` or
    ``1`` overrides it (for example to compare both on one machine).
    """
    forced = os.environ.get("NAPARI_UNET_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    import torch

    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(check()) if check is not None else False
    except Exception:  # a torch build without the check's backend
        return False


def describe_device(device) -> str:
    """Describe a device for people: ``"cuda:0 (NVIDIA H100, 80 GB)"``, ``"cpu (2 threads)"``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 1e9:.0f} GB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


#: glibc ``mallopt`` parameters.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: What is set afterwards: the largest mmap threshold glibc's own dynamic rule reaches on
#: 64-bit systems (32 MiB) and the trim threshold that rule pairs with it (twice that).
#: Setting either ends the dynamic rule for good, and its start value (128 KiB) would send
#: every activation of later work (a training step after a validation's prediction) to
#: mmap again: measured 2.6x the page faults per training step, up to 1.3x its time.
_AFTER_MMAP, _AFTER_TRIM = 32 << 20, 64 << 20
_HOLD = {"depth": 0, "libc": None}
_HOLD_LOCK = threading.Lock()


def _libc():
    """The C library if it is glibc (through ctypes), else None."""
    if _HOLD["libc"] is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            _HOLD["libc"] = libc if hasattr(libc, "mallopt") else False
        except OSError:
            _HOLD["libc"] = False
    return _HOLD["libc"] or None


@contextlib.contextmanager
def keep_freed_memory(limit: int = 1 << 31):
    """Keep memory freed between network passes in the process for the duration (glibc).

    By default glibc hands every block above its mmap threshold (128 KiB, rising with use to
    32 MiB at most) back to the system when it is freed, so each forward pass of a network
    on a large CPU tile asks for its activations afresh and the kernel zeroes every page of
    them again: measured on the built-in model with a 1088 px tile, 210,000 page faults per
    pass and 1.7x its time.
    Inside this block blocks up to ``limit`` bytes come from (and go back to) the heap and
    nothing is trimmed; at the end the thresholds go to the values glibc's dynamic rule
    would have reached with use (:data:`_AFTER_MMAP`, :data:`_AFTER_TRIM`) and the free
    memory is handed back to the system (``malloc_trim``). Nested and concurrent blocks
    share one hold.
    Elsewhere (no glibc) it does nothing.
    """
    libc = _libc()
    if libc is None:
        yield
        return
    with _HOLD_LOCK:
        if _HOLD["depth"] == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, int(limit))
            libc.mallopt(_M_TRIM_THRESHOLD, int(limit))
        _HOLD["depth"] += 1
    try:
        yield
    finally:
        with _HOLD_LOCK:
            _HOLD["depth"] -= 1
            if _HOLD["depth"] == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _AFTER_MMAP)
                libc.mallopt(_M_TRIM_THRESHOLD, _AFTER_TRIM)
                libc.malloc_trim(0)


def cpu_workers() -> int:
    """Threads for numpy/SciPy work split by hand: the cores this process may use, at most 4.

    ``NAPARI_UNET_THREADS`` sets it (1 turns the threads off).
    """
    given = os.environ.get("NAPARI_UNET_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:  # the cores this process may run on (a cluster job's share), not the machine's
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def thread_map(work, items, workers: int | None = None) -> list:
    """``[work(*item) for item in items]``, in order, on ``workers`` threads (:func:`cpu_workers`).

    Pays where ``work`` spends its time in C code that releases the GIL (SciPy's distance
    transforms, numpy's sorts, scikit-image's watershed); ``work`` must not write where
    another item writes.
    """
    items = list(items)
    workers = cpu_workers() if workers is None else workers
    if workers <= 1 or len(items) < 2:
        return [work(*item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="napari-unet") as pool:
        return list(pool.map(lambda item: work(*item), items))
