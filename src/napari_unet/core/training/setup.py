"""Setting up a training run: its network, optimiser, batch threads, stop flag.

``data_facts`` and ``object_size`` (the cell size) live in
:mod:`~napari_unet.core.training.datarecord`, and are imported from here too.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.models.carried import attach
from napari_unet.core.models.filecheck import MAX_SEPARATION_GAP
from napari_unet.core.models.heads import head_of
from napari_unet.core.training.config import TrainConfig, refuse_one_class
from napari_unet.core.training.datarecord import data_facts, object_size  # re-exported

__all__ = [
    "Stop", "batch_workers", "check_config", "check_pairs", "check_stop", "crop_sizes",
    "init_model", "is_stopped", "make_optimizer", "data_facts", "make_sampler", "no_holdout_beside",
    "object_size", "start_file", "step_random",
]  # fmt: skip


#: A stop flag: an event that is set, or a callable that returns True.
Stop = threading.Event | Callable[[], bool] | None


def is_stopped(stop: Stop) -> bool:
    """Whether the stop flag ``stop`` (or None: never) is set."""
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


def check_config(config) -> TrainConfig:
    """``config`` when it is a :class:`TrainConfig`; InputError for anything else (a dict).

    The documentation passes ``TrainConfig(...)``, which checks every setting when made;
    before, a dict failed later with an AttributeError (``'dict' object has no attribute``).
    """
    if not isinstance(config, TrainConfig):
        hint = "TrainConfig(**settings)" if isinstance(config, dict) else "TrainConfig(...)"
        raise InputError(
            f"config: expected a TrainConfig, got a {type(config).__name__}; pass {hint}, "
            "e.g. napari_unet.TrainConfig(steps=500, crop_size=96)"
        )
    if config.gap > MAX_SEPARATION_GAP:  # before: trained, then its model file was refused
        raise InputError(
            f"gap must be at most {MAX_SEPARATION_GAP} px (a separation gap is a few pixels, "
            f"as a model file records it), got {config.gap}"
        )
    if isinstance(config.model, dict):  # before: an IndexError at the first step
        refuse_one_class(head_of(config.model), config.model.get("n_classes"), "n_classes 1")
    return config


def no_holdout_beside(config: TrainConfig, val) -> TrainConfig:
    """``config`` without a hold-out fraction when validation pairs ``val`` are given.

    Nothing is held out beside separate validation pairs (a warning says a fraction given is
    ignored); before, the fraction was recorded anyway, and a later resume without them
    validated on a training strip.
    """
    import warnings
    from dataclasses import replace

    config = check_config(config)  # the first step of a run to read it
    if val is None or not config.val_fraction:
        return config
    warnings.warn(
        f"val_fraction {config.val_fraction:g} is ignored: validation pairs are given",
        stacklevel=4,  # the caller of iter_train (through _Run)
    )
    return replace(config, val_fraction=0.0)


def batch_workers(workers: int, device) -> int:
    """Threads preparing batches: ``workers``, or for 0 one on a CPU and up to 4 on CUDA."""
    if workers:
        return workers
    if device.type != "cuda":
        return 1
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def make_sampler(config: TrainConfig, pairs, input_size: int, output_size: int, device):
    """The run's crop sampler and its number of batch threads.

    ``config.augment_on``: ``host`` is :class:`~napari_unet.core.training.sampling.CropSampler`
    (numpy/scipy, ``batch_workers`` threads); ``device`` is
    :class:`~napari_unet.core.training.device_sampling.DeviceCropSampler` on the training
    device (one thread: the work is the device's); ``auto`` is the device on CUDA, else the
    host (on 2 CPU cores the host path kept whole steps as fast; docs/training.md).
    """
    from napari_unet.core.training.augment import AugmentConfig
    from napari_unet.core.training.sampling import CropSampler

    augment = AugmentConfig.from_dict(config.augment)
    place = config.augment_on
    if place == "auto":
        place = "device" if device.type == "cuda" else "host"
    if place == "host":
        sampler = CropSampler(pairs, input_size, output_size, augment, config.fg_bias)
        return sampler, batch_workers(config.workers, device)
    from napari_unet.core.training.device_sampling import DeviceCropSampler

    sampler = DeviceCropSampler(
        pairs, input_size, output_size, augment, config.fg_bias, device=device
    )
    return sampler, config.workers or 1


def check_stop(stop) -> Stop:
    """``stop`` when it is None, a ``threading.Event`` or a callable; else InputError.

    Before, ``train(..., stop=5)`` failed at the first step: "'int' object is not callable".
    """
    if stop is None or isinstance(stop, threading.Event) or callable(stop):
        return stop
    raise InputError(
        f"stop: expected a threading.Event or a function returning True to stop, got "
        f"{type(stop).__name__} {stop!r:.40}"
    )


def check_pairs(pairs, what: str = "pairs", like: list | None = None) -> list | None:
    """``pairs`` as a list of :class:`TrainPair`; anything else refused in plain words.

    Before, ``train([(image, labels)], ...)`` or ``val=[(image, labels)]`` raised an
    AttributeError deep in the trainer. ``val`` may be None; training pairs not empty.
    Every pair has the channel count of the first (of ``like``'s first, the training pairs,
    if given): pairs of separate make_pairs calls, grey and colour, trained some steps, then
    failed on a tensor shape; colour validation pairs of a grey run were scored anyway.
    """
    if pairs is None and what == "val":
        return None
    from napari_unet.core.training.pairs import TrainPair

    items = list(pairs) if isinstance(pairs, list | tuple) else None
    wrong = [p for p in items or [] if not isinstance(p, TrainPair)]
    if items is None or wrong:
        got = type(wrong[0] if wrong else pairs).__name__
        extra = ", validation=True" if what == "val" else ""
        raise InputError(
            f"{what}: expected a list of training pairs, got {got}"
            f"{' items' if wrong else ''}; make them with nu.make_pairs(images, labels{extra})"
        )
    if what == "pairs" and not items:
        raise InputError("no training pairs given")
    _same_channels(items, what, like[0] if like else None)
    return items


def _same_channels(items: list, what: str, first) -> None:
    """Refuse the first pair of ``items`` whose channel count is not ``first``'s."""
    first = first if first is not None else (items[0] if items else None)
    for i, pair in enumerate(items):
        if pair.image.shape[0] != first.image.shape[0]:
            raise InputError(
                f"{what}[{i}] ({pair.name!r}) has {pair.image.shape[0]} channel(s) but "
                f"pairs[0] ({first.name!r}) has {first.image.shape[0]}; all pairs (validation "
                "too) need the same channel count: convert colour images to grey (the "
                "command's --grey, make_pairs(..., in_channels=1)), or make them all with the "
                "same make_pairs(..., in_channels=N)"
            )


def start_file(init, pairs):
    """``init`` with the built-in name ``"auto"`` made the built-in model for the pairs.

    The model most of (up to eight of) the training planes are chosen for
    (:func:`~napari_unet.core.models.pretrained.choose_pretrained`, on their raw pixels); a
    tie goes to the first plane's. Anything else is returned as given.
    """
    from collections import Counter

    from napari_unet.core.models import pretrained as built_in

    if init is not None and not isinstance(init, str | os.PathLike):  # before: a TypeError
        raise InputError(
            f"init: expected a model file or a built-in name (e.g. 'nuclei'), got "
            f"{type(init).__name__}; save a network first, nu.save_model('start.safetensors', "
            "model, **metadata), and pass that path"
        )
    if init is None or str(init) != built_in.AUTO or not built_in.is_pretrained_name(init):
        return init
    votes = Counter(built_in.choose_pretrained(p.raw, channel_axis=0) for p in pairs[:8])
    return built_in.pretrained_path(votes.most_common(1)[0][0])


def init_model(config: TrainConfig, in_channels: int, init, resume):
    """Build, fine-tune-load or resume the model; check it fits the data and config.

    A resumed or fine-tuned network keeps its head: a head asked for in ``config.model``
    must be its own. The images must have the network's input channels (checked before
    the first step: a resumed grey model on colour pairs failed at step 1 with a tensor
    shape).
    """
    from napari_unet.core.models import build_model
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.models.pretrained import resolve_model

    if resume is not None:
        model, source = copy.deepcopy(resume.model), resumed_source(resume)
        want = config.model.get("head")
        if want is not None and want != head_of(model):  # it was silently ignored
            raise InputError(
                f"cannot resume with head {want!r}: the run trains a {head_of(model)!r} head "
                "and a resumed run keeps it; leave the head out, or train from scratch"
            )
    elif init is not None:
        init = resolve_model(init)
        model, _ = load_model(init, device="cpu")
        want, have = config.model, model.config
        for key in ("arch", "n_classes"):
            if key in want and want[key] != have.get(key):
                raise InputError(
                    f"cannot fine-tune from {Path(init).name}: it is a {key} "
                    f"{have.get(key)!r} model but {want[key]!r} was requested; choose a model "
                    f"file of the same architecture and class count, or train from scratch"
                )
        if "head" in want and want["head"] != head_of(have):
            raise InputError(
                f"cannot fine-tune from {Path(init).name}: its head is {head_of(have)!r} but "
                f"{want['head']!r} was requested; keep its head, or train from scratch"
            )
        source = f"fine-tuned from {Path(init).name}"
    else:
        import torch

        torch.manual_seed(config.seed)
        model = build_model({**config.model, "in_channels": in_channels})
        source = "from scratch"
    what = Path(init).name if init is not None and resume is None else "the model"
    refuse_one_class(head_of(model), int(model.n_classes), what)  # before: an IndexError
    if model.in_channels != in_channels:
        raise InputError(
            f"the model takes {model.in_channels} channel(s) but the images have {in_channels}; "
            f"make the pairs with make_pairs(..., in_channels={model.in_channels}) to read them "
            "as prediction does (the command line and the Train dock do), or convert them"
        )
    return attach(model, None), source  # trained, it carries the run's metadata, not its file's


def resumed_source(resume) -> str:
    """A resumed run's ``provenance.source``: where the run started, and the step resumed at.

    ``"fine-tuned from nuclei.unet.safetensors; resumed at step 1"``; a later resume keeps
    that start and names its own step. Before, ``"resumed at step N"`` replaced the start:
    a resumed fine-tune no longer said which model it was fine-tuned from.
    """
    provenance = (getattr(resume, "metadata", None) or {}).get("provenance")
    before = provenance.get("source") if isinstance(provenance, dict) else None
    start = re.sub(r"(^|; )resumed at step \d+$", "", str(before or ""))
    resumed = f"resumed at step {resume.steps_done}"
    return f"{start}; {resumed}" if start else resumed


def make_optimizer(config: TrainConfig, model, lr: float | None = None):
    """Adam, or SGD with the config's momentum, over the trainable parameters.

    ``lr``: the run's base rate (None: ``config.base_lr``).
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.base_lr if lr is None else lr
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay)


#: Training memory per crop pixel and base channel, in bytes: activations, their gradients
#: and the sampler's float64 grids (measured, small U-Net, batch 4: 166 at 256 px crops,
#: 99 at 512 px; inference needs about 40, see inference.runner).
TRAIN_BYTES_PER_PIXEL_PER_CHANNEL = 160


def crop_sizes(model, config: TrainConfig, device) -> tuple[int, int]:
    """Input and output side of the training crops: legal, big enough, fits the memory.

    The requested side is rounded to the nearest size the network accepts, and up to two
    divisors at least (the bottleneck of a batch-normalised network needs more than one
    pixel). A crop whose batch would not fit the memory is refused.
    """
    from napari_unet.core.files import available_memory
    from napari_unet.core.inference.tiling import legal_at_least

    geometry = model.geometry
    smallest = legal_at_least(geometry, 2 * geometry.divisor)
    side = max(geometry.nearest_legal(config.crop_size), smallest)
    base = int(model.config.get("base_channels", 32))
    need = config.batch_size * side * side * base * TRAIN_BYTES_PER_PIXEL_PER_CHANNEL
    if device.type == "cuda":
        import torch

        free = torch.cuda.mem_get_info(device)[0]
    else:
        free = available_memory()
    if need > 0.8 * free:
        per_pixel = config.batch_size * base * TRAIN_BYTES_PER_PIXEL_PER_CHANNEL
        largest = int((0.8 * free / per_pixel) ** 0.5)
        raise InputError(
            f"crops of {side} px in batches of {config.batch_size} need about "
            f"{need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB free on {device}; "
            f"choose a crop size of at most {geometry.nearest_legal(largest)} px or a smaller "
            "batch"
        )
    return side, geometry.output_size(side)


def step_random(model, seed: int, step: int, device):
    """A context in which the random layers (dropout) draw numbers fixed by seed and step.

    Dropout drew from torch's global generator, seeded only for a run from scratch: two
    identical fine-tuning runs ended with other weights, and a stopped and resumed run
    with others than the uninterrupted one. The global generator is left as it was; a
    network without dropout gets no context.
    """
    import torch

    drops = torch.nn.modules.dropout._DropoutNd
    if not any(isinstance(m, drops) and m.p > 0 for m in model.modules()):
        return contextlib.nullcontext()
    return _seeded((seed * 1_000_003 + step) % 2**63, device)  # torch: a signed 64-bit int


@contextlib.contextmanager
def _seeded(value: int, device):
    import torch

    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(value)
        yield
