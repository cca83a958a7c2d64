"""What napari-unet reads from another tool's bioimage.io package before running it.

:func:`plan_tensors` checks that the package is one napari-unet runs (one 2D image input,
channel, y and x axes, torchscript or pytorch_state_dict weights) and reads its tensors'
axes, channels, output kind and halo as a :class:`TensorPlan`; anything else is refused
with an InputError that says why. :mod:`~napari_unet.core.exchange.foreign` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_unet.core.errors import InputError

#: The weight formats run here, in the order they are preferred.
RUN_FORMATS = ("torchscript", "pytorch_state_dict")

__all__ = ["RUN_FORMATS", "TensorPlan", "plan_tensors", "runnable_formats"]


def runnable_formats(descr) -> list[str]:
    """The weight formats of ``descr`` that napari-unet runs, preferred first."""
    return [f for f in RUN_FORMATS if getattr(descr.weights, f) is not None]


@dataclass(frozen=True)
class TensorPlan:
    """What napari-unet reads from a package: the input's and output's axes and channels."""

    input_id: str
    input_axes: tuple[str, ...]  # axis ids in the tensor's order: "batch", "channel", "y", "x"
    in_channels: int
    output_id: str
    output_axes: tuple[str, ...]
    out_channels: int
    kind: str  # "labels" or "probabilities"
    channel_names: tuple[str, ...]
    weight_format: str
    halo: int


def _axis_kind(axis) -> str:
    """``batch``, ``channel``, ``y``, ``x`` or what makes the tensor unsupported."""
    kind = getattr(axis, "type", "")
    if kind in ("batch", "channel"):
        return kind
    if kind == "space" and str(axis.id) in ("y", "x"):
        return str(axis.id)
    if kind == "space":
        return f"space axis {axis.id!r} (3D)"
    return f"{kind} axis {axis.id!r}"


def _channels(axis_kinds: tuple[str, ...], axes) -> tuple[int, tuple[str, ...]]:
    axis = axes[axis_kinds.index("channel")]
    names = tuple(str(n) for n in axis.channel_names)
    return len(names), names


def _data_kind(tensor) -> str:
    """``labels`` for an integer output, ``probabilities`` for a float one."""
    data = tensor.data
    types = {str(d.type) for d in (data if isinstance(data, list | tuple) else [data])}
    if all(t.startswith(("int", "uint", "bool")) for t in types):
        return "labels"
    if all(t.startswith("float") for t in types):
        return "probabilities"
    raise InputError(f"the output {tensor.id!r} has data of mixed types {sorted(types)}")


def _checked_axes(tensor, role: str, name: str) -> tuple[str, ...]:
    kinds = tuple(_axis_kind(a) for a in tensor.axes)
    odd = [k for k in kinds if k not in ("batch", "channel", "y", "x")]
    missing = [k for k in ("channel", "y", "x") if k not in kinds]
    if odd or missing:  # without a channel axis, bioimageio.core's tiling fails
        what = ", ".join(odd) if odd else f"no {' or '.join(missing)} axis"
        raise InputError(
            f"{name}: its {role} {tensor.id!r} has {what}; napari-unet runs 2D models whose "
            "tensors have channel, y and x axes (and a batch axis or none)"
        )
    return kinds


def plan_tensors(descr, name: str) -> TensorPlan:
    """Check that napari-unet can run the package and read its tensors (InputError if not)."""
    inputs = list(descr.inputs)
    if len(inputs) != 1:
        raise InputError(
            f"{name} takes {len(inputs)} input tensors; napari-unet runs models with one "
            "image input"
        )
    formats = runnable_formats(descr)
    if not formats:
        have = ", ".join(descr.weights.available_formats) or "none"
        raise InputError(
            f"{name} has weights in {have} only; napari-unet runs torchscript or "
            "pytorch_state_dict weights"
        )
    inp = inputs[0]
    in_axes = _checked_axes(inp, "input", name)
    out = descr.outputs[0]
    out_axes = _checked_axes(out, "output", name)
    in_channels = _channels(in_axes, inp.axes)[0]
    out_channels, names = _channels(out_axes, out.axes)
    kind = _data_kind(out)
    if kind == "labels" and out_channels != 1:
        raise InputError(f"{name}: its labels output has {out_channels} channels; expected 1")
    cropped = [a for a in out.axes if getattr(getattr(a, "size", None), "offset", 0)]
    if cropped:
        raise InputError(
            f"{name}: its output is {-cropped[0].size.offset} px smaller than its input along "
            f"{cropped[0].id} (a border the network crops without declaring a halo); "
            "bioimageio.core cannot tile such a model"
        )
    halo = max((int(getattr(a, "halo", 0) or 0) for a in out.axes), default=0)
    return TensorPlan(
        str(inp.id), in_axes, in_channels, str(out.id), out_axes, out_channels, kind,
        names, formats[0], halo,
    )  # fmt: skip
