"""Safe model files: tensors in safetensors, configuration and metadata as JSON inside.

A napari-unet model file (suggested suffix ``.safetensors``) is an ordinary safetensors
file. Its string metadata (``__metadata__``) holds one JSON document under the key
``"napari_unet"``: the format version, the architecture config, the tile geometry, input
normalisation, class names, training provenance, a SHA-256 of the tensors and whatever else
the saver passed. Loading parses that JSON, builds the network from the config with
:func:`napari_unet.core.models.build_model` and copies the tensors in: nothing is ever
unpickled, so a model file cannot run code.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import struct
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.images.normalize import check_spec
from napari_unet.core.models.carried import for_saving
from napari_unet.core.models.classnames import default_class_names
from napari_unet.core.models.filecheck import (
    ModelFileError,
    check_against_config,
    check_finite,
    check_metadata,
    check_table,
    saved_problem,
)
from napari_unet.core.models.sniff import looks_like_text, sniff
from napari_unet.core.models.tensorwrite import write_tensors

#: Version of the layout written by this module; files with a larger number are refused.
FORMAT_VERSION = 1
#: Key of the JSON document in the safetensors string metadata.
METADATA_KEY = "napari_unet"
SUFFIX = ".safetensors"
DEFAULT_NORMALIZATION = {"method": "percentile", "low": 1.0, "high": 99.8}
#: Keys the saver computes itself; passing them is allowed only with the same value.
_DERIVED = ("format_version", "config", "geometry", "tensors_sha256")
_MAX_HEADER = 100_000_000


def _json_default(obj):
    """Turn numpy scalars/arrays and paths into JSON; anything else is refused."""
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _tensors_sha256(tensors: dict) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes of the tensors, in name order."""
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_model(path: str | os.PathLike, model, *, overwrite: bool = True, **metadata) -> Path:
    """Write ``model`` and its metadata to a safe model file, atomically.

    Parameters
    ----------
    path : path-like
        Destination (suggested suffix ``.safetensors``).
    model : torch.nn.Module
        A network of the family (with ``.config``, ``.geometry`` and ``.n_classes``).
    **metadata
        JSON-able extras. Known keys: ``normalization`` (dict; default percentile 1-99.8),
        ``class_names`` (list of ``n_classes`` strings), ``provenance`` (dict merged over
        the package version, torch version and UTC date). Any other key is stored as is.
        ``format_version``, ``config``, ``geometry`` and ``tensors_sha256`` are computed
        here; passing them (as :func:`load_model` returns them) is allowed if they agree.
        A key not given is taken from the metadata ``model`` carries (a loaded, built-in
        or trained network) where it says how to use the model: ``normalization``,
        ``background``, ``object_size``, ``postprocess``, ``separation_gap``,
        ``class_names`` (:func:`~napari_unet.core.models.carried.for_saving`). Its
        ``metrics``, ``provenance``, ``name`` and ``description`` are not: they describe
        the weights it came with, which may have changed; pass them to keep them.
    overwrite : bool
        False: a file at ``path``, even one another run wrote meanwhile, is never replaced
        (InputError), as ``napari-unet import`` without ``--overwrite``.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    InputError
        If the metadata is not JSON-able, the class names do not fit, or a derived key
        disagrees with the model; with ``overwrite=False``, if a file is at ``path``.
    """
    model = getattr(model, "_orig_mod", model)  # a torch.compile wrapper: save the network
    if not hasattr(model, "config") or not hasattr(model, "geometry"):
        raise InputError(
            f"save_model needs a napari-unet network (with .config and .geometry); "
            f"got {type(model).__name__}"
        )
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    text = _header_text(model, tensors, for_saving(model, metadata))  # given keys win
    # one key: deterministic bytes
    return write_tensors(path, tensors, {METADATA_KEY: text}, overwrite=overwrite)


def _header_text(model, tensors: dict, extras: dict) -> str:
    """The JSON metadata of a model file: derived keys, checked extras, provenance."""
    import torch

    from napari_unet._version import __version__

    derived = {
        "format_version": FORMAT_VERSION,
        "config": dict(model.config),
        "geometry": model.geometry.to_dict(),
        "tensors_sha256": _tensors_sha256(tensors),
    }
    for key in _DERIVED:
        if key in extras:
            given = json.loads(json.dumps(extras.pop(key), default=_json_default))
            if key == "config":
                given = _filled_config(given)
            if key != "tensors_sha256" and given != derived[key]:
                raise InputError(
                    f"metadata {key!r} is computed from the model; the given value {given!r} "
                    f"disagrees with {derived[key]!r}"
                )
    n_classes = int(model.n_classes)
    class_names = list(extras.pop("class_names", None) or default_class_names(n_classes, model))
    if len(class_names) != n_classes or not all(isinstance(c, str) for c in class_names):
        raise InputError(
            f"class_names must be {n_classes} strings (one per output class); got {class_names!r}"
        )
    normalization = extras.pop("normalization", None) or dict(DEFAULT_NORMALIZATION)
    provenance = extras.pop("provenance", None) or {}
    for key, value in (("normalization", normalization), ("provenance", provenance)):
        if not isinstance(value, dict):
            raise InputError(f"{key} must be a dict, got {value!r}")
    check_spec(normalization)
    base_provenance = {
        "package": "napari-unet",
        "package_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    header = derived | {
        "normalization": normalization,
        "class_names": class_names,
        "provenance": base_provenance | provenance,
    }
    header |= extras
    try:
        text = json.dumps(header, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        bad = [k for k in header if not _jsonable(header[k])]
        raise InputError(
            f"model metadata must be JSON-able (numbers, strings, lists, dicts); "
            f"key(s) {', '.join(bad) or '?'} are not: {exc}"
        ) from exc
    # what the reader will see: object_size, postprocess, separation_gap, metrics' type...
    problem = saved_problem(json.loads(text), n_classes)
    if problem:
        raise InputError(f"{problem}; nothing was written")  # the reader refuses the same
    return text


def _filled_config(given):
    """A config as the network built from it records it: the defaults filled in.

    Older writers stored only the keys that differ from the defaults (``arch``,
    ``base_channels``, ``depth``, ``padding``); :func:`load_model` builds the same network
    from it, so ``save_model(path, *load_model(old))`` must accept it (before, it was
    refused as disagreeing with the model's full config).
    """
    from napari_unet.core.models.registry import ARCHITECTURES, default_config

    if not isinstance(given, dict) or given.get("arch") not in ARCHITECTURES:
        return given
    return default_config(given["arch"]) | given


def _jsonable(value) -> bool:
    try:
        json.dumps(value, default=_json_default)
    except (TypeError, ValueError):
        return False
    return True


# -- reading ----------------------------------------------------------------------------


#: pretrained.PRETRAINED and AUTO (that module imports this one: not imported from there)
_BUILTIN_NAMES = ("nuclei", "nuclei-brightfield", "auto")


def _existing(path: str | os.PathLike) -> Path:
    """``path`` as a Path; a clear error when it is not a path, missing or a folder."""
    if not isinstance(path, str | os.PathLike):  # None, 5, b"m": a TypeError from pathlib
        raise InputError(f"a model file's path must be a string or a Path; got {path!r:.60}")
    path = Path(path)
    if not path.exists():  # a bare name was probably meant as a built-in model
        hint = "" if path.suffix else f" (built-in models: {', '.join(_BUILTIN_NAMES)})"
        if (name := str(path)) in _BUILTIN_NAMES:  # resume="nuclei" was told to use "nuclei"
            init = "nuclei" if name == "auto" else name
            hint = (
                f"; {name!r} is a built-in model, no file here: load it with nu.pretrained"
                f"({name!r}). A built-in model has no training state to resume: to fine-tune "
                f"it, train with init={init!r} (command line: --init {init})"
            )
        raise ModelFileError(f"{path}: no such model file{hint}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; expected a napari-unet model file")
    return path


def _read_header(path: str | os.PathLike, data: bytes | None = None) -> tuple[dict, dict]:
    """Validate the container; return (safetensors tensor table, napari-unet metadata).

    ``data``: the whole file, already read (the header is then taken from it, not the disk).
    """
    path = _existing(path)
    size = path.stat().st_size if data is None else len(data)
    with open(path, "rb") if data is None else io.BytesIO(data) as f:
        head = f.read(64)
        what = sniff(path, head)
        if what:
            raise ModelFileError(f"{path}: {what}")
        if size < 8:
            raise ModelFileError(
                f"{path}: file of {size} bytes is too short to be a model file (empty or truncated)"
            )
        (n,) = struct.unpack("<Q", head[:8])
        if n > _MAX_HEADER or not head[8:9] == b"{":
            if looks_like_text(head):
                raise ModelFileError(
                    f"{path}: this is a text file, not a napari-unet model file "
                    f"(safetensors with napari-unet metadata, suffix {SUFFIX})"
                )
            raise ModelFileError(
                f"{path}: not a safetensors file (bad header); expected a napari-unet model "
                f"file ({SUFFIX})"
            )
        if 8 + n > size:
            raise ModelFileError(
                f"{path}: the file is truncated (its header needs {8 + n} bytes, the file has "
                f"{size}); re-copy or re-save it"
            )
        f.seek(8)
        raw = f.read(n)
    try:
        table = json.loads(raw.decode("utf-8"))
        if not isinstance(table, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested 10**5 deep
        raise ModelFileError(f"{path}: the file is corrupted (unreadable header: {exc})") from exc
    meta = table.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: the file is corrupted (its metadata is not a table)")
    needed = 8 + n + check_table(path, table)
    if needed > size:
        raise ModelFileError(
            f"{path}: the file is truncated ({size} bytes, its tensors need {needed}); "
            "re-copy or re-save it"
        )
    if needed < size:
        raise ModelFileError(
            f"{path}: the file is corrupted ({size - needed} unexpected bytes after the tensors)"
        )
    if METADATA_KEY not in meta:
        raise ModelFileError(
            f"{path}: a safetensors file without napari-unet metadata (no architecture "
            "config); napari-unet cannot tell which network these tensors belong to"
        )
    try:
        info = json.loads(meta[METADATA_KEY])
    except (TypeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: the file is corrupted (bad metadata JSON: {exc})") from exc
    if not isinstance(info, dict) or "format_version" not in info or "config" not in info:
        raise ModelFileError(f"{path}: the napari-unet metadata lacks format_version/config")
    check_metadata(path, info)
    version = info["format_version"]
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format version {version!r} is newer than this napari-unet "
            f"reads (up to {FORMAT_VERSION}); upgrade napari-unet to load it"
        )
    return table, info


def read_metadata(path: str | os.PathLike) -> dict:
    """Read the JSON metadata of a model file without loading tensors or building a model.

    Returns
    -------
    dict
        ``format_version``, ``config``, ``geometry``, ``normalization``, ``class_names``,
        ``provenance``, ``tensors_sha256`` and any extra keys the saver stored.

    Raises
    ------
    ModelFileError
        If the file is missing, of another format, truncated, corrupted or too new.
    """
    return _read_header(path)[1]


def input_channels(path: str | os.PathLike) -> int:
    """The input channels of the network in a model file, from its header alone.

    The config is checked against the file's tensors first, as :func:`load_model` checks it:
    a damaged or edited ``in_channels`` ("abc", 0, or 5 for a one-channel network) is the
    ModelFileError ``load_model`` gives, not a traceback or a message about the images.
    """
    table, info = _read_header(path)
    check_against_config(path, table, info["config"])
    return int(info["config"].get("in_channels", 1))


def load_model(path: str | os.PathLike, device="cpu"):
    """Load a model file: build the network from its config and copy the tensors in.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_model`.
    device : str or torch.device
        Where to put the model: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"``
        (see :func:`napari_unet.core.device.choose_device`).

    Returns
    -------
    tuple of (torch.nn.Module, dict)
        The model in eval mode and its metadata (as :func:`read_metadata`), which the model
        also carries (:mod:`~napari_unet.core.models.carried`): calls given the model alone use it.

    Raises
    ------
    ModelFileError
        If the file is of another format, truncated or corrupted, names an unknown
        architecture, has a newer format version or its tensors do not fit the config.
        Nothing in the file is ever executed.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from napari_unet.core.device import choose_device
    from napari_unet.core.models import build_model
    from napari_unet.core.models.carried import attach

    target = choose_device(device)  # an unavailable device fails before any work
    path = _existing(path)
    _read_header(path)  # a foreign or truncated file fails before it is read whole
    # One read serves header and tensors: a file replaced meanwhile (a training run saving
    # its best checkpoint, atomically) gives the old or the new model, never a mix of both.
    data = path.read_bytes()
    table, info = _read_header(path, data)
    check_against_config(path, table, info["config"])  # before the network is built
    model = build_model(info["config"])
    check_metadata(path, info, model.n_classes)  # and the class names' count
    try:
        tensors = load(data)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: the file is corrupted ({exc})") from exc
    check_finite(path, tensors)
    checksum = info.get("tensors_sha256")
    if checksum is not None and checksum != _tensors_sha256(tensors):
        raise ModelFileError(
            f"{path}: the file is corrupted (tensor checksum mismatch); re-copy or re-save it"
        )
    model.load_state_dict(tensors, strict=True)
    model.to(target)
    model.eval()
    return attach(model, info), info
