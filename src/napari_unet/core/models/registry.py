"""Build any network of the family from a JSON-able config.

Model files and the command line name architectures the same way::

    build_model({"arch": "unet", "padding": "valid", "base_channels": 64})
"""

from __future__ import annotations

import inspect
import sys

from torch import nn

from napari_unet.core.errors import InputError
from napari_unet.core.models.heads import HEADS, check_head
from napari_unet.core.models.unet import UNet
from napari_unet.core.models.unet3p import UNet3Plus
from napari_unet.core.models.unetpp import UNetPlusPlus

#: The largest value a config may ask for, per size setting: far beyond any sensible network
#: (the paper's has 64 base channels and 5 levels), small enough to refuse a config that
#: would fill the memory before it is built.
LIMITS = {"in_channels": 256, "n_classes": 1024, "base_channels": 1024, "depth": 8}

#: Architecture name -> class. Constructor keyword arguments are the config keys.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "unet": UNet,
    "unetpp": UNetPlusPlus,
    "unet3p": UNet3Plus,
}


def config_keys(arch: str) -> list[str]:
    """The config keys (constructor arguments) an architecture accepts."""
    cls = _lookup(arch)
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def default_config(arch: str) -> dict:
    """The full default config of an architecture (what ``build_model({"arch": arch})`` builds)."""
    cls = _lookup(arch)
    params = inspect.signature(cls.__init__).parameters
    return {"arch": arch} | {k: p.default for k, p in params.items() if k != "self"}


def _lookup(arch) -> type[nn.Module]:
    if arch not in ARCHITECTURES:
        raise InputError(
            f"unknown architecture {arch!r}; known architectures: {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[arch]


def build_model(config: dict) -> nn.Module:
    """Build a freshly initialised network from its config.

    Parameters
    ----------
    config : dict
        ``{"arch": name, **constructor_arguments}``, e.g. a model's ``.config``; an optional
        ``"head"`` (:mod:`napari_unet.core.models.heads`) sets ``n_classes`` and is kept
        in the network's config.

    Returns
    -------
    torch.nn.Module
        The network (in training mode, He-initialised).

    Raises
    ------
    InputError
        If ``arch`` is missing or unknown, a key is not an argument of that architecture,
        or a value is out of range.
    """
    if not isinstance(config, dict) or "arch" not in config:
        raise InputError(
            f"a model config is a dict with an 'arch' key ({', '.join(ARCHITECTURES)}); "
            f"got {config!r}"
        )
    kwargs = dict(config)
    arch = kwargs.pop("arch")
    head = kwargs.pop("head", None)
    if head is not None:
        spec = HEADS[check_head(head)]
        n = kwargs.setdefault("n_classes", spec.n_outputs)
        if n != spec.n_outputs:
            raise InputError(
                f"the {head!r} head has {spec.n_outputs} output channels; n_classes {n} "
                "does not fit it (leave n_classes out)"
            )
    allowed = config_keys(arch)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InputError(
            f"architecture {arch!r} has no option(s) {', '.join(unknown)}; "
            f"its options are {', '.join(allowed)}"
        )
    for key, limit in LIMITS.items():
        value = kwargs.get(key)
        if isinstance(value, int | float) and value > limit:
            raise InputError(f"{key} {value} is beyond what a network may have (at most {limit})")
    try:
        model = ARCHITECTURES[arch](**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:  # a list, "abc" or 10**400 for a number
        why = _not_numbers(arch, kwargs) or str(exc)
        raise InputError(f"invalid config for architecture {arch!r}: {why}") from exc
    if head is not None:  # recorded in the config, so model files carry it
        model.config = {**model.config, "head": head}
    return model


def _not_numbers(arch: str, kwargs: dict) -> str:
    """Name the settings of numbers (by their defaults) whose values are no usable number.

    Before, a model file's config with ``"dropout": "abc"`` (or ``10**400``) ended in
    ValueError (OverflowError) where the network was built, not in the file's InputError.
    """
    defaults = default_config(arch)
    bad = []
    for key, value in kwargs.items():
        if type(defaults.get(key)) not in (int, float):
            continue
        real = isinstance(value, int | float) and not isinstance(value, bool)
        if not real or (isinstance(value, int) and abs(value) > sys.float_info.max):
            shown = "an integer beyond the float range" if real else repr(value)[:40]
            bad.append(f"{key} must be a number, got {shown}")
    return "; ".join(bad)
