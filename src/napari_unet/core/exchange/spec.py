"""A napari-unet model in the bioimage.io spec's terms: tensors, axes, halo, preprocessing.

bioimageio.spec is imported inside the functions (an optional extra); without it,
:func:`require_bioimageio` says which extra to install.
"""

from __future__ import annotations

import json
import math

from napari_unet.core.errors import InputError

#: Prefix of the network's tensors in the package's state dict (the callable wraps it).
PREFIX = "net."
#: Key of napari-unet's own entry in the package's ``config``.
CONFIG_KEY = "napari_unet"
#: Key, in that entry, of the key paths of numbers written as text (NaN, infinities).
NON_FINITE = "non_finite"
EXTRA_HINT = 'pip install ".[bioimageio]" in the napari-unet source folder'

#: The weight formats a package may hold (pytorch_state_dict always).
WEIGHT_FORMATS = ("pytorch_state_dict", "torchscript", "onnx")


def require_bioimageio() -> None:
    """Raise InputError naming the extra to install if bioimageio.core is missing."""
    try:
        import bioimageio.core  # noqa: F401
        import bioimageio.spec  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"bioimage.io packages need bioimageio.core ({exc.name} is not installed); "
            f"install it with: {EXTRA_HINT}"
        ) from None


def preprocessing(metadata: dict) -> tuple[list, str]:
    """The spec's preprocessing steps that reproduce the model's normalisation, and a text.

    Percentile normalisation (per image plane and channel) is ``scale_range`` over the y and
    x axes at the model's percentiles; min-max is ``scale_range`` at 0 and 100; z-score is
    ``zero_mean_unit_variance``; fixed bounds are ``scale_linear``; none is nothing.
    ``dtype`` (divide by the pixel type's maximum) depends on the file's type, which a
    float32 input tensor no longer has, and is refused.
    """
    from bioimageio.spec.model import v0_5 as s

    from napari_unet.core.images.normalize import check_spec

    norm = check_spec(metadata.get("normalization"))
    method = norm["method"]
    axes = [s.AxisId("y"), s.AxisId("x")]
    steps = [s.EnsureDtypeDescr(kwargs=s.EnsureDtypeKwargs(dtype="float32"))]
    if method in ("percentile", "minmax"):
        low, high = (0.0, 100.0) if method == "minmax" else (norm["low"], norm["high"])
        low, high = float(low), float(high)
        kwargs = s.ScaleRangeKwargs(axes=axes, min_percentile=low, max_percentile=high)
        steps.append(s.ScaleRangeDescr(kwargs=kwargs))
        text = f"scale_range over y and x (per channel) at percentiles {low:g} and {high:g}"
    elif method == "zscore":
        steps.append(s.ZeroMeanUnitVarianceDescr(kwargs=s.ZeroMeanUnitVarianceKwargs(axes=axes)))
        text = "zero_mean_unit_variance over y and x (per channel)"
    elif method == "fixed":
        lo, hi = float(norm["min"]), float(norm["max"])
        gain = 1.0 / max(hi - lo, 1e-12)
        steps.append(s.ScaleLinearDescr(kwargs=s.ScaleLinearKwargs(gain=gain, offset=-lo * gain)))
        text = f"scale_linear mapping {lo:g} to 0 and {hi:g} to 1"
    elif method == "none":
        text = "none (float32)"
    else:
        raise InputError(
            f"the model's normalisation {norm} depends on the image file's pixel type, which "
            "a bioimage.io package cannot express; retrain with percentile normalisation"
        )
    return steps, text


def tensor_descriptions(net, metadata: dict, files: dict, min_size: int) -> tuple[list, list]:
    """The input and output tensor descriptions (axes, sizes, halo, test tensors)."""
    from bioimageio.spec.model import v0_5 as s

    from napari_unet.core.models.modelfile import default_class_names

    g = net.geometry
    in_names = [f"channel{i}" for i in range(net.in_channels)]
    size = s.ParameterizedSize(min=min_size, step=g.divisor)
    inp = s.InputTensorDescr(
        id=s.TensorId("input"),
        description="one image plane (any intensity range; normalised by the preprocessing)",
        axes=[s.BatchAxis(), s.ChannelAxis(channel_names=in_names),
              s.SpaceInputAxis(id=s.AxisId("y"), size=size),
              s.SpaceInputAxis(id=s.AxisId("x"), size=size)],
        test_tensor=s.FileDescr(source=files["input"]),
        sample_tensor=s.FileDescr(source=files["sample_input"]),
        preprocessing=preprocessing(metadata)[0],
        # The mode given: left at its default, it is not written, and reads back as zeros.
        pad=s.ReflectPadding(mode="reflect"),  # as napari-unet's tiles mirror the image
    )  # fmt: skip
    names = metadata.get("class_names") or default_class_names(net.n_classes, net)

    def space(axis: str):
        if g.padding == "valid":  # the network crops its halo itself
            ref = s.SizeReference(tensor_id=s.TensorId("input"), axis_id=s.AxisId(axis),
                                  offset=-2 * g.halo)  # fmt: skip
            return s.SpaceOutputAxis(id=s.AxisId(axis), size=ref)
        ref = s.SizeReference(tensor_id=s.TensorId("input"), axis_id=s.AxisId(axis))
        return s.SpaceOutputAxisWithHalo(id=s.AxisId(axis), size=ref, halo=g.halo)

    out = s.OutputTensorDescr(
        id=s.TensorId("probabilities"),
        description="per-pixel probabilities, one channel per class (softmax in the network)",
        axes=[s.BatchAxis(), s.ChannelAxis(channel_names=list(names)), space("y"), space("x")],
        test_tensor=s.FileDescr(source=files["output"]),
        sample_tensor=s.FileDescr(source=files["sample_output"]),
        data=s.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
    )
    return [inp], [out]


def config_entry(net, metadata: dict) -> dict:
    """The package's ``config``: napari-unet's model metadata and the spec's own hints."""
    from napari_unet.core.models.modelfile import _json_default, _tensors_sha256

    kept = {k: v for k, v in metadata.items() if k not in ("format_version", "tensors_sha256")}
    ours = json.loads(json.dumps(kept, default=_json_default))
    where: list = []
    ours = _as_text(ours, [], where)
    if where:
        ours[NON_FINITE] = where
    ours.update(
        config=dict(net.config),
        geometry=net.geometry.to_dict(),
        state_dict_prefix=PREFIX,
        # of these weights (a network trained on from a file's pair kept the file's sum,
        # and its package was refused on import)
        tensors_sha256=_tensors_sha256(net.state_dict()),
    )
    arch = {"unet": "U-Net", "unetpp": "UNet++", "unet3p": "UNet 3+"}[net.config["arch"]]
    hints = {
        "architecture_type": f"2D {arch}",
        "architecture_description": f"{arch} with {net.geometry.padding} convolutions; "
        f"halo {net.geometry.halo} px; see the documentation",
    }
    return {CONFIG_KEY: ours, "bioimageio": hints}


def _as_text(value, path: list, where: list):
    """``value`` with its NaN and infinite numbers as text; their key paths added to ``where``."""
    if isinstance(value, float) and not math.isfinite(value):
        where.append(path)
        return str(value)  # "nan", "inf", "-inf"
    if isinstance(value, dict):
        return {k: _as_text(v, [*path, k], where) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v, [*path, i], where) for i, v in enumerate(value)]
    return value


def restore_non_finite(metadata: dict) -> dict:
    """``metadata`` (``config.napari_unet``) with the numbers :func:`config_entry` wrote as text.

    Before, a NaN score (``metrics``) came back as null (YAML has no NaN the spec keeps),
    so the imported model file was not the exported one.
    """
    where = metadata.pop(NON_FINITE, None)
    for path in where if isinstance(where, list) else []:
        try:
            *head, last = path
            holder = metadata
            for key in head:
                holder = holder[key]
            if holder[last] in ("nan", "inf", "-inf"):
                holder[last] = float(holder[last])
        except (TypeError, ValueError, KeyError, IndexError):
            continue  # an edited entry: left as it is
    return metadata


def check_license(license: str) -> None:
    """Refuse, in one line, a licence that is no SPDX identifier (pydantic's said 20 kB)."""
    from bioimageio.spec.model import v0_5 as s

    try:
        s.LicenseId(license)
    except ValueError:
        raise InputError(
            f"unknown licence {license!r}: give an SPDX identifier such as BSD-3-Clause, MIT, "
            "CC-BY-4.0 or CC0-1.0 (https://spdx.org/licenses)"
        ) from None


def onnx_available() -> bool:
    """Whether ONNX weights can be written and tested (onnx and onnxruntime installed)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def default_formats() -> tuple[str, ...]:
    """pytorch_state_dict and torchscript, and onnx where onnx and onnxruntime are installed."""
    return WEIGHT_FORMATS if onnx_available() else WEIGHT_FORMATS[:2]


def checked_options(weight_formats, license: str) -> tuple[str, ...]:
    """The weight formats to write (the default where None), once the options are checked."""
    weight_formats = default_formats() if weight_formats is None else tuple(weight_formats)
    unknown = set(weight_formats) - set(WEIGHT_FORMATS)
    if unknown or "pytorch_state_dict" not in weight_formats:
        raise InputError(
            f"weight formats must include pytorch_state_dict and may add torchscript and "
            f"onnx; got {', '.join(weight_formats)}"
        )
    if "onnx" in weight_formats and not onnx_available():
        raise InputError(
            "ONNX weights need the onnx and onnxruntime packages (written, then tested): "
            f"{EXTRA_HINT}"
        )
    require_bioimageio()
    check_license(license)
    return weight_formats
