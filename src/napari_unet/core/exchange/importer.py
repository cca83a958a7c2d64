"""Read a bioimage.io package that napari-unet exported back into a model and its metadata.

The package's description is read and validated by bioimageio.spec; its
``config.napari_unet`` entry holds the model file's metadata (architecture config,
normalisation, class names, post-processing, scores, provenance and the tensors' SHA-256).
The ``pytorch_state_dict`` weights are loaded with ``weights_only=True`` (never unpickled
code), the network is rebuilt from the config by napari-unet's own registry and the tensors
are checked against the recorded SHA-256. Packages from other tools are refused with a
message that says so.
"""

from __future__ import annotations

import copy
import io
import os
import zipfile
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.exchange.identity import imported_identity, package_identity
from napari_unet.core.exchange.rdfcheck import AGAIN as _AGAIN
from napari_unet.core.exchange.rdfcheck import DAMAGED as _DAMAGED
from napari_unet.core.exchange.rdfcheck import check_description
from napari_unet.core.exchange.spec import (
    CONFIG_KEY,
    PREFIX,
    require_bioimageio,
    restore_non_finite,
)
from napari_unet.core.exchange.weightsize import read_capped, refuse_oversized, weights_limit
from napari_unet.core.models.carried import attach


def load_description(path: Path):
    """The package's validated model description, as format 0.5 (InputError if it is none).

    A format 0.4 description is converted by bioimageio.spec. Its YAML is checked first
    (:mod:`~napari_unet.core.exchange.rdfcheck`): one with aliases is refused unexpanded.
    """
    from bioimageio.spec import InvalidDescr, load_model_description
    from bioimageio.spec.model import v0_5

    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    _check_archive(path)
    check_description(path)  # before bioimageio.spec expands its YAML (a "billion laughs")
    try:
        descr = load_model_description(path, perform_io_checks=False, format_version="latest")
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: {_DAMAGED} (the zip archive is corrupt: {exc}); "
                         f"{_AGAIN}") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the spec raises many kinds; all are a bad file
        raise InputError(f"{path} is not a bioimage.io model package: {exc}") from None
    if isinstance(descr, InvalidDescr):
        raise InputError(f"{path} is not a valid bioimage.io model package")
    if not isinstance(descr, v0_5.ModelDescr):
        raise InputError(f"{path}: a model description of format 0.5 (or 0.4) is needed")
    return descr


def _check_archive(path: Path) -> None:
    """Name a package file that is empty, not a zip archive, or a zip cut short (or a folder).

    Before, bioimage.io's reading reported these as "'utf-8' codec can't decode..." or
    "Expected rdf.yaml content to be a mapping", which said nothing of what was wrong.
    """
    if path.is_dir():  # an unpacked package's folder, if it holds a description
        _check_folder(path)
        return
    if not path.is_file():
        return
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise InputError(f"{path} is empty: {_DAMAGED} (nothing of it was written); {_AGAIN}")
    _refuse_other_kinds(path, head)
    if head[:4] == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        raise InputError(
            f"{path}: {_DAMAGED}: the zip archive stops early, and its end (the list of the "
            f"files it holds) is missing, as when a download or copy did not finish; {_AGAIN}"
        )
    if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
        raise InputError(
            f"{path} is not a bioimage.io model package: it is not a zip archive (a package "
            f"is a .zip holding rdf.yaml and the weights); if it should be one, {_DAMAGED}: "
            f"{_AGAIN}"
        )


def _check_folder(path: Path) -> None:
    """Refuse a folder without a description (rdf.yaml), as a folder named like a package.

    Before, bioimage.io's own text came out: "No rdf.yaml found in []. (Looking for...".
    """
    from napari_unet.core.exchange.rdfcheck import is_description

    if any(f.is_file() and is_description(f.name) for f in path.iterdir()):
        return
    if path.suffix.lower() == ".zip":
        raise InputError(f"{path} is a folder; expected a bioimage.io model package (.zip file)")
    raise InputError(
        f"{path} is a folder without rdf.yaml; expected a bioimage.io model package (.zip "
        "file) or the folder of an unpacked one"
    )


def _refuse_other_kinds(path: Path, head: bytes) -> None:
    """Name a model file, an image or a pickle given where a package is expected.

    Before, any file not named ``.zip`` was read as a bare ``rdf.yaml``: a model file or a
    TIFF was reported as "not valid YAML (unacceptable character #x000b)".
    """
    from napari_unet.core.models.sniff import RESAVE_HINT, file_kind

    kind = file_kind(head)
    not_one = f"{path} is not a bioimage.io package"
    if kind == "safetensors":
        raise InputError(
            f"{path} is a napari-unet model file (safetensors), not a bioimage.io package: "
            "use it directly (napari-unet predict MODEL IMAGE, the Predict dock; give it "
            "back its .safetensors name if it was renamed), or make a package of it with "
            "napari-unet export"
        )
    if kind == "image":
        raise InputError(f"{not_one}: it is an image (PNG/TIFF/JPEG); give the package "
                         "(.zip) as the model and the image as the input")  # fmt: skip
    if kind == "pickle":
        raise InputError(f"{not_one}: it is a pickled file (e.g. a torch.save checkpoint), "
                         f"which napari-unet never unpickles; {RESAVE_HINT}")  # fmt: skip
    if kind == "hdf5":
        raise InputError(f"{not_one}: it is an HDF5 file (e.g. a Keras model)")
    zipped = head.startswith(b"PK\x03\x04")  # a package renamed (.bmz, no suffix) is one
    if b"\x00" in head and not zipped and path.suffix.lower() not in (".zip", ".yaml", ".yml"):
        raise InputError(f"{not_one}: it is a binary file, neither a .zip package nor its rdf.yaml")


def exported_here(descr) -> dict | None:
    """napari-unet's ``config`` entry of a package it exported, else None."""
    extra = descr.config.model_dump().get(CONFIG_KEY) if descr.config else None
    return extra if isinstance(extra, dict) and "config" in extra else None


def import_bioimageio(path: str | os.PathLike, device="cpu") -> tuple[object, dict]:
    """Load a bioimage.io package that napari-unet exported as ``(model, metadata)``.

    Parameters
    ----------
    path : path-like
        The package (``.zip``, or an unpacked folder's ``rdf.yaml``).
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    tuple of (torch.nn.Module, dict)
        The network in eval mode and its metadata, as
        :func:`~napari_unet.load_model` returns them; ``save_model(out, *result)`` writes
        the model file again.

    Raises
    ------
    InputError
        If bioimageio.core is not installed, the file is not a model package, it was not
        exported by napari-unet, or its weights do not match the recorded checksum.
    """
    from napari_unet.core.device import choose_device
    from napari_unet.core.models.filecheck import check_against_config, check_finite
    from napari_unet.core.models.modelfile import _tensors_sha256
    from napari_unet.core.models.registry import build_model

    require_bioimageio()
    path = Path(path)
    descr = load_description(path)
    extra = exported_here(descr)
    entry = descr.weights.pytorch_state_dict
    if extra is not None and entry is None:
        raise InputError(_no_state_dict(path, descr))
    if extra is None:
        raise InputError(
            f"{path} ({descr.name!r}) was not exported by napari-unet, so it cannot become a "
            "napari-unet model file; only packages written by napari-unet export are read "
            "(napari-unet predict and the Predict dock run other 2D packages as they are)"
        )
    metadata = restore_non_finite(copy.deepcopy(extra))
    prefix = metadata.pop("state_dict_prefix", PREFIX)
    metadata.pop("geometry", None)
    if not isinstance(metadata.get("config"), dict):
        raise InputError(f"{path}: its napari-unet entry has no network config")
    try:  # the most its weights file may hold: read no more (a zip bomb)
        limit = weights_limit(metadata["config"])
    except InputError as exc:
        raise InputError(f"{path}: cannot build its network: {exc}") from None
    tensors = _read_weights(path, entry, prefix, limit)
    recorded = metadata.get("tensors_sha256")
    if recorded and _tensors_sha256(tensors) != recorded:
        raise InputError(f"{path}: the weights do not match the checksum napari-unet recorded")
    # Before anything is built: a network its config makes too large for memory is never
    # allocated (the tensors must fit the config's network, built on torch's meta device).
    check_against_config(path, {k: {"shape": list(v.shape)} for k, v in tensors.items()},
                         metadata["config"])  # fmt: skip
    check_finite(path, tensors)
    model = build_model(metadata["config"])
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise InputError(
            f"{path}: the weights do not fit the recorded architecture: {exc}"
        ) from None
    metadata = {k: v for k, v in metadata.items() if v is not None}
    metadata.update(imported_identity(metadata, _identity(descr)))  # kept for a re-export
    check_usable(path, model, metadata)
    return attach(model.to(choose_device(device)).eval(), metadata), metadata


def _no_state_dict(path: Path, descr) -> str:
    """Why a package napari-unet exported, left without its state dict, is not imported.

    Before, it was refused as "not exported by napari-unet", which it was.
    """
    have = ", ".join(descr.weights.available_formats) or "none"
    runs = descr.weights.torchscript is not None
    hint = " (napari-unet predict and the Predict dock run it as it is)" if runs else ""
    return (
        f"{path} ({descr.name!r}) has no pytorch_state_dict weights, which import needs "
        f"(it has: {have}); export the model again with them{hint}"
    )


def _identity(descr) -> dict:
    """The package's name, authors and licence, as its ``rdf.yaml`` records them.

    Before, import kept none of them: a package exported as "My model" by "Ada Lovelace"
    under CC-BY-4.0 was exported again as the model file's name, "unknown (exported by
    napari-unet)" and BSD-3-Clause.
    """
    rdf = {
        "name": descr.name,
        "authors": [{"name": a.name} for a in descr.authors or []],
        "license": str(descr.license) if descr.license else None,
    }
    return package_identity(rdf)


def check_usable(path: Path, model, metadata: dict) -> None:
    """Refuse, naming the package, metadata that a model file or a prediction cannot use.

    One check for ``napari-unet import`` and ``predict PACKAGE.zip`` (both import here):
    the types a model file's reader checks, what :func:`~napari_unet.save_model` refuses
    (class names that do not fit the network, an unusable normalisation) and the recorded
    post-processing. Before, import wrote a file from a package whose post-processing every
    prediction then refused, and predict ran a package whose class names import refused.
    """
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.models.filecheck import check_metadata
    from napari_unet.core.models.modelfile import FORMAT_VERSION, _header_text

    try:
        check_metadata(path, {**metadata, "format_version": FORMAT_VERSION})
        _header_text(model, {}, dict(metadata))  # no tensors: their checksum is checked above
        Postprocess.for_model(metadata)
    except InputError as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise InputError(
            f"{path}: its napari-unet metadata (rdf.yaml, config.napari_unet) cannot be used: "
            f"{why}; export the model again"
        ) from None


def _read_weights(path: Path, entry, prefix, limit: int) -> dict:
    """The package's state dict less ``prefix``: tensors by name (InputError otherwise).

    Read with ``weights_only``: a file that would run code is refused, never unpickled
    (before, torch's own error came through as a traceback). A file declaring, or holding,
    more than ``limit`` bytes is refused before it fills the memory (before, a 4.6 MB
    package whose weights unpacked to 3 GB took 6.6 GB to be refused).
    """
    import pickle

    import torch

    name = str(entry.source)
    _weights_present(path, name)
    refuse_oversized(path, name, limit)
    try:
        data = read_capped(entry.get_reader(), path, name, limit)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a missing file, a checksum that differs
        why = f"cannot be read ({exc})"
        if "sha256" in str(exc).lower():
            why = "does not match the checksum its rdf.yaml records (cut short, or changed)"
        raise InputError(f"{path}: {_DAMAGED}: its weights file {name} {why}; {_AGAIN}") from None
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # code or objects other than tensors
        if "truncated" in str(exc):  # a legacy-format file cut short
            raise InputError(f"{path}: {_DAMAGED}: its weights file {name} is cut short; "
                             f"{_AGAIN}") from None  # fmt: skip
        raise InputError(
            f"{path}: its weights are not a plain state dict of tensors "
            f"({type(exc).__name__}); napari-unet never unpickles code"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a cut or garbled torch file
        raise InputError(
            f"{path}: {_DAMAGED}: its weights file {name} is not a complete PyTorch file "
            f"({str(exc).partition('.')[0]}); {_AGAIN}"
        ) from None
    plain = isinstance(state, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    )
    if not plain or not isinstance(prefix, str):
        raise InputError(f"{path}: its weights are not a state dict of named tensors")
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _weights_present(path: Path, name: str) -> None:
    """Refuse a package whose weights file, named in its rdf.yaml, is not in it."""
    if "://" in name:
        return  # weights online: their download says what went wrong
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            present = name in zf.namelist()
    else:
        present = (path if path.is_dir() else path.parent).joinpath(name).is_file()
    if not present:
        raise InputError(
            f"{path}: {_DAMAGED}: its rdf.yaml names the weights file {name}, which is "
            f"missing from it; {_AGAIN}"
        )
