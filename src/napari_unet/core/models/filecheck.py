"""Checks of a model file before anything is built from it: its tables are data from anywhere.

A model file is a safetensors container: a JSON header listing each tensor's dtype, shape and
byte range, with napari-unet's metadata (architecture config, normalisation, classes...) in
it. Before a single tensor is read or a network built, :func:`check_table` checks the tensor
list, :func:`check_metadata` the metadata's types, and :func:`check_against_config` that the
network the config describes has exactly the tensors the file holds; the comparison builds
that network on PyTorch's ``meta`` device, which allocates no memory, so a small file whose
config asks for an enormous network is refused instead of filling the memory.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = [
    "ModelFileError",
    "check_against_config",
    "check_finite",
    "check_metadata",
    "check_table",
    "field_problem",
    "saved_problem",
    "type_problem",
]

#: Bytes per element of the dtypes safetensors writes.
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1,
}  # fmt: skip
#: Metadata keys and the JSON types they must have (others are free-form).
METADATA_TYPES = {
    "config": dict,
    "geometry": dict,
    "normalization": dict,
    "class_names": list,
    "provenance": dict,
    "postprocess": dict,
    "separation_gap": int,
    "training": dict,
    "metrics": dict,
    "tensors_sha256": str,
}


#: The widest separation gap (px) a model file may record, and post-processing accepts: a
#: gap is a few pixels (the built-in models' is 2); 10**6 failed with a MemoryError.
MAX_SEPARATION_GAP = 100


#: The largest ``object_size`` (px) a model file may record: no image napari-unet trains on
#: holds an object 100,000 pixels across (such an image is at least 10**10 pixels, 40 GB as
#: float32, and training reads whole images). Larger values reached prediction's background
#: window: 1e19 said "out of memory", 1e300 an OverflowError traceback.
MAX_OBJECT_SIZE = 100_000
#: The ``background`` values a model file may record (training writes one of them or none).
BACKGROUNDS = ("bright", "dark")


#: The deepest nesting of lists and dicts in the metadata (the files written have 4 levels).
MAX_DEPTH = 64
#: The post-processing a model file may recommend (``postprocess``), as
#: :class:`~napari_unet.core.inference.postprocess.Postprocess` takes it: key, what it must
#: be, and the test.
POSTPROCESS_VALUES = {
    "threshold": ("a number between 0 and 1", lambda v: 0 < v < 1),
    "seed_level": ("a number between 0 and 1", lambda v: 0 < v < 1),
    "min_size": ("a whole number of pixels >= 0", lambda v: v >= 0 and float(v).is_integer()),
    "split": ("a number >= 0", lambda v: v >= 0),
    "gap": (
        f"a whole number of pixels, 0 to {MAX_SEPARATION_GAP}",
        lambda v: 0 <= v <= MAX_SEPARATION_GAP and float(v).is_integer(),
    ),
}


class ModelFileError(InputError):
    """A file that is not a usable napari-unet model file (wrong format, damaged, too new)."""


def check_table(path: Path, table: dict) -> int:
    """Every tensor entry has a known dtype, a shape and a byte range of the right size.

    Returns the number of data bytes the tensors need (their largest end offset); the caller
    compares it with the file's size.
    """
    needed = 0
    for name, entry in table.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPE_SIZES:
            raise ModelFileError(f"{where} has no known dtype; the file is corrupted")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(_whole(s) and s >= 0 for s in shape):
            raise ModelFileError(f"{where} has an invalid shape {shape!r}; the file is corrupted")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_whole, offsets))):
            raise ModelFileError(f"{where} has invalid data offsets {offsets!r}")
        begin, end = offsets
        size = DTYPE_SIZES[entry["dtype"]]
        for s in shape:
            size *= s
        if not 0 <= begin <= end or end - begin != size:
            raise ModelFileError(
                f"{where}: its bytes {begin}..{end} do not hold a {entry['dtype']} tensor of "
                f"shape {tuple(shape)}; the file is corrupted"
            )
        needed = max(needed, end)
    return needed


def check_metadata(path: Path, info: dict, n_classes: int | None = None) -> None:
    """The napari-unet metadata has the types and values its readers rely on.

    The values :func:`~napari_unet.save_model` refuses too (:func:`field_problem`; the class
    names' count only with ``n_classes``, the network's).
    """
    if _depth(info) > MAX_DEPTH:
        raise ModelFileError(f"{path}: {DEPTH_PROBLEM}; the file is corrupted or was edited")
    version = info.get("format_version")
    if not _whole(version):
        raise ModelFileError(
            f"{path}: format_version must be a whole number; got {version!r}; the file was "
            "not written by napari-unet or was edited"
        )
    problem = type_problem(info)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    names = info.get("class_names", [])
    if not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"{path}: class_names must be strings; got {names!r}")
    if not isinstance(info["config"].get("arch"), str):
        raise ModelFileError(f"{path}: the config names no architecture ('arch')")
    if "normalization" in info:
        from napari_unet.core.images.normalize import check_spec

        try:
            check_spec(info["normalization"])
        except InputError as exc:
            raise ModelFileError(f"{path}: its normalisation is unusable: {exc}") from None
    problem = field_problem(info, n_classes)
    if problem:
        raise ModelFileError(f"{path}: {problem}; the file was edited or is damaged")


DEPTH_PROBLEM = f"its metadata is nested more than {MAX_DEPTH} levels deep"


def type_problem(info: dict) -> str | None:
    """What is wrong with the known keys' types or the ``separation_gap`` range; else None.

    The types are :data:`METADATA_TYPES`'s; the message names the key.
    """
    for key, kind in METADATA_TYPES.items():
        value = info.get(key, kind())
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"metadata {key!r} must be a {kind.__name__}; got {_shown(value)}"
    if not 0 <= info.get("separation_gap", 0) <= MAX_SEPARATION_GAP:
        return (
            f"metadata 'separation_gap' must be 0 to {MAX_SEPARATION_GAP} px; got "
            f"{info['separation_gap']!r}"
        )
    return None


def saved_problem(info: dict, n_classes: int | None = None) -> str | None:
    """What :func:`check_metadata` would refuse in the header ``info``, without a path; else None.

    :func:`~napari_unet.save_model` asks it before writing: before, it wrote a
    ``separation_gap`` of -4 or ``metrics`` of 0.81 that the reader then refused, over a good
    file.
    """
    if _depth(info) > MAX_DEPTH:
        return DEPTH_PROBLEM
    return field_problem(info, n_classes)


def field_problem(info: dict, n_classes: int | None = None) -> str | None:
    """What is wrong with the metadata's values, naming the field; else None.

    The fields: ``object_size``, ``background``, ``name``, ``authors``, ``license``,
    ``class_names`` (``n_classes`` of them) and ``postprocess``. One check for
    :func:`~napari_unet.save_model`, the model file's reader and import (before, the reader
    let through values save and import refuse: an ``object_size`` of "big" crashed predict,
    a ``name`` of 5 crashed export; an ``object_size`` of 1e300 or a ``background`` of
    ``[1]`` crashed predict with a traceback). The known keys' types first (:func:`type_problem`).
    """
    problem = type_problem(info)
    if problem:
        return problem
    size = info.get("object_size")  # a number: median_diameter(...)[0], not its pair
    if size is not None and not 0 < (_number(size) or 0) <= MAX_OBJECT_SIZE:
        return (
            f"object_size must be a positive number of pixels, at most {MAX_OBJECT_SIZE:,}; "
            f"got {_shown(size)}"
        )
    light = info.get("background")
    if light is not None and not (isinstance(light, str) and light in BACKGROUNDS):
        return f"metadata 'background' must be 'bright' or 'dark'; got {_shown(light)}"
    for key in ("name", "license"):
        if info.get(key) is not None and not isinstance(info[key], str):
            return f"metadata {key!r} must be a string; got {info[key]!r}"
    people = info.get("authors")
    many = isinstance(people, list) and all(isinstance(a, str) for a in people)
    if people is not None and not (isinstance(people, str) or many):
        return f"metadata 'authors' must be a list of names (strings); got {people!r}"
    names = info.get("class_names")
    if names and n_classes is not None and len(names) != n_classes:
        return f"class_names must be {n_classes} strings (one per output class); got {names!r}"
    steps = info.get("postprocess") or {}
    if not isinstance(steps, dict):
        return f"metadata 'postprocess' must be a dict; got {steps!r}"
    for key, value in steps.items():
        what, test = POSTPROCESS_VALUES.get(key, (None, None))
        number = _number(value)
        if what and not (number is not None and test(number)):
            return f"metadata 'postprocess' {key!r} must be {what}; got {_shown(value)}"
    return None


def _number(value) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, or too large).

    A hand-edited whole number of 400 digits raised OverflowError (a traceback).
    """
    if not isinstance(value, Real) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _shown(value) -> str:
    """``repr(value)``, cut to 60 characters (a number of 400 digits is not all said)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _depth(value) -> int:
    """How deep lists and dicts nest in ``value`` (iteratively: no RecursionError)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                inner = item.values() if isinstance(item, dict) else item
                stack.extend((v, level + 1) for v in inner)
    return deepest


def check_against_config(path: Path, table: dict, config: dict) -> None:
    """The config's network has exactly the file's tensors (built without memory, on meta)."""
    import torch

    from napari_unet.core.models.registry import build_model

    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    except InputError as exc:
        raise ModelFileError(f"{path}: cannot build its network: {exc}") from None
    have = {k: tuple(v["shape"]) for k, v in table.items()}
    missing, unexpected = sorted(set(expected) - set(have)), sorted(set(have) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: its tensors do not match its {config.get('arch')!r} config: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for name, shape in expected.items():
        if have[name] != shape:
            raise ModelFileError(
                f"{path}: tensor {name!r} has shape {have[name]} in the file but the configured "
                f"network needs {shape}; the file is corrupted or its config was edited"
            )


def check_finite(path, tensors: dict) -> None:
    """Refuse weights holding NaN or infinite values (a diverged run): they predict nothing."""
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not t.isfinite().all()]
    if bad:
        raise ModelFileError(
            f"{path}: weights {', '.join(bad[:3])}{'...' if len(bad) > 3 else ''} hold NaN or "
            "infinite values (training diverged?); this model cannot predict anything"
        )


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
