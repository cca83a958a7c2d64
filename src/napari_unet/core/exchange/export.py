"""Write a napari-unet model as a bioimage.io model package (spec format 0.5).

The package holds the weights as a ``pytorch_state_dict`` (a pure state dict written with
``torch.save``, loadable with ``weights_only=True``; the architecture is the self-contained
source file of :mod:`~napari_unet.core.exchange.archsource`) and a ``torchscript`` child
traced from it by bioimageio.core's converter, test tensors from a real image (the shipped
DSB2018 nuclei image, CC0) with napari-unet's own prediction as the expected output, a cover,
a documentation page with the model's scores, citations, tags and provenance, and the model
file's metadata under ``config.napari_unet`` for :mod:`~napari_unet.core.exchange.importer`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.exchange import card
from napari_unet.core.exchange.archsource import CALLABLE, write_architecture
from napari_unet.core.exchange.converted import add_onnx, add_torchscript, quiet
from napari_unet.core.exchange.identity import DEFAULT_LICENSE, choose_identity, licence_given
from napari_unet.core.exchange.spec import (
    PREFIX,
    check_license,
    checked_options,
    config_entry,
    preprocessing,
    require_bioimageio,
    tensor_descriptions,
)
from napari_unet.core.files import atomic_write, check_outputs, temporary_folder
from napari_unet.core.images.layout import layout
from napari_unet.core.models.carried import for_saving
from napari_unet.core.models.filecheck import check_finite
from napari_unet.core.models.modelfile import DEFAULT_NORMALIZATION, default_class_names
from napari_unet.core.models.pretrained import AUTO, is_pretrained_name


def _resolve(model) -> tuple[object, dict, str]:
    """``(network, metadata, name)`` from a model file, a built-in name or a loaded model."""
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.models.pretrained import resolve_model

    if isinstance(model, str | os.PathLike):
        if str(model) == AUTO and is_pretrained_name(model):
            raise InputError(
                "a package holds one model: name a built-in model (nuclei, nuclei-brightfield) "
                "or a model file; 'auto' chooses between them per image"
            )
        net, metadata = load_model(resolve_model(model), device="cpu")
        # The file's name less its suffix, as the docks show it (before, cut at its first
        # dot: cells.v2.safetensors became "cells"); the spec's sanitising makes it cells-v2.
        name = Path(model).name.removesuffix(".safetensors")
        name = str(model) if is_pretrained_name(model) else name
        return net, dict(metadata), metadata.get("name") or name
    if isinstance(model, tuple) and len(model) == 2:
        net, metadata = model
        return net, dict(metadata or {}), (metadata or {}).get("name") or "napari-unet model"
    if hasattr(model, "config") and hasattr(model, "geometry"):
        # What it carries of how to use it, as save_model writes (carried.USAGE): its name,
        # scores and provenance are of the weights it came with, maybe changed since
        metadata = for_saving(model, {})
        return model, metadata, metadata.get("name") or "napari-unet model"
    raise InputError(
        f"export needs a model file, a built-in model name or a napari-unet network; got "
        f"{type(model).__name__}"
    )


def default_test_image(in_channels: int = 1, inverted: bool = False) -> np.ndarray:
    """The shipped nuclei image (grey; ``inverted``: dark nuclei on bright), for ``in_channels``.

    A model of 2 or 4 and more channels gets the grey plane repeated ``(C, H, W)``: napari-unet
    reads a grey image as 1 or 3 channels only (before, such models could not be exported:
    "pass an image with 2 channel(s)", which neither the command nor the docks can).
    """
    from napari_unet.sample_data import nuclei_data

    image = nuclei_data()[0]
    image = 255 - image if inverted else image
    return image if in_channels in (1, 3) else np.repeat(image[None], in_channels, axis=0)


def make_test_input(geometry, image: np.ndarray | None = None, in_channels: int = 1) -> np.ndarray:
    """A ``(C, H, W)`` float32 test input of a legal size (the shipped nuclei image by default).

    The size is the largest legal one up to 256 px per axis that the image holds, at least
    large enough to leave output beyond the halo; an image smaller than that (or a network
    whose halo needs more than 256 px, UNet 3+ of depth 5) is mirrored out to it.
    """
    if image is None:
        image = default_test_image(in_channels)
    # As napari-unet reads images (before, channels last were taken for a 3-px-wide image)
    lay = layout(np.asarray(image, dtype=np.float32), in_channels)
    plane = np.asarray(lay.planes[0], dtype=np.float32)
    need = min_input(geometry)
    legal = geometry.legal_sizes(need, max(256, need))
    h, w = (max([s for s in legal if s <= n], default=legal[0]) for n in plane.shape[-2:])
    short = [max(0, s - n) for s, n in zip((h, w), plane.shape[-2:], strict=True)]
    if any(short):
        plane = np.pad(plane, [(0, 0), *((k // 2, k - k // 2) for k in short)], mode="symmetric")
    top, left = (plane.shape[-2] - h) // 2, (plane.shape[-1] - w) // 2
    return np.ascontiguousarray(plane[:, top : top + h, left : left + w])


def min_input(geometry) -> int:
    """The smallest legal input size the package declares (output left after its halo)."""
    if geometry.padding == "valid":
        return geometry.min_input_size
    low = 2 * geometry.halo + 1
    return geometry.legal_sizes(low, low + geometry.divisor)[0]


def expected_output(net, metadata: dict, x: np.ndarray) -> np.ndarray:
    """napari-unet's probabilities for a ``(C, H, W)`` input, in one piece: ``(K, H', W')``.

    Normalised as the package's preprocessing does: without napari-unet's noise floor and
    clip of bright specks, which the spec's operations cannot express (before, they were
    applied, and the package failed its own test on a test image they change).
    """
    import torch

    from napari_unet.core.images.normalize import compute_stats
    from napari_unet.core.models.heads import activate, head_of

    norm = metadata.get("normalization") or DEFAULT_NORMALIZATION
    stats = compute_stats(x, {**norm, "noise_floor": 0, "clip": 0})
    with torch.no_grad():
        t = torch.from_numpy(stats.apply(x)[None]).to(next(net.parameters()).device)
        probs = activate(net.eval()(t), head_of(net))
    return probs[0].cpu().numpy().astype(np.float32)


def _write_files(folder: Path, net, metadata: dict, image) -> dict:
    """Weights, architecture, test tensors, samples and cover in ``folder``; their paths."""
    import torch

    state = {PREFIX + k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    files = {"weights": folder / "weights.pt", "arch": write_architecture(folder)}
    torch.save(state, files["weights"])
    torch.load(files["weights"], weights_only=True)  # the promise the package makes
    note = "a crop of an image chosen by the exporter"
    if image is None:
        note = "a crop of a real fluorescence image of nuclei (DSB2018 image 0402a81e7526, CC0)"
        inverted = card.dark_on_bright(metadata)  # a brightfield model: dark nuclei on bright
        image = default_test_image(net.in_channels, inverted)
        if inverted:
            note += ", its contrast inverted: dark nuclei on a bright background"
        if net.in_channels not in (1, 3):
            note += f", repeated in each of the {net.in_channels} channels"
    x = make_test_input(net.geometry, image, net.in_channels)
    files["test_note"] = note
    y = expected_output(net, metadata, x)
    files["input"], files["output"] = folder / "test_input.npy", folder / "test_output.npy"
    np.save(files["input"], x[None])
    np.save(files["output"], y[None])
    import tifffile  # sample tensors: the same arrays as TIFF, for people and viewers

    for key, array in (("input", x), ("output", y)):
        files[f"sample_{key}"] = folder / f"sample_{key}.tif"
        tifffile.imwrite(
            files[f"sample_{key}"], array[None], photometric="minisblack", compression="zlib"
        )
    crop = (x.shape[-1] - y.shape[-1]) // 2
    shown = x.mean(0)[crop : crop + y.shape[-2], crop : crop + y.shape[-1]]
    fg = 1 if y.shape[0] > 1 else 0
    files["cover"] = card.write_cover(folder / "cover.png", shown, y[fg])
    return files


def export_bioimageio(
    model,
    output: str | os.PathLike,
    *,
    name: str | None = None,
    authors: list[str] | None = None,
    license: str | None = None,
    image: np.ndarray | None = None,
    weight_formats: tuple[str, ...] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``model`` as a bioimage.io model package (a ``.zip``), atomically.

    Parameters
    ----------
    model : path-like, str, torch.nn.Module or tuple
        A model file, a built-in model name (``"nuclei"``), a network of the family (with
        what it carries of how to use it, as ``save_model`` writes: not its name, scores or
        provenance), or the ``(network, metadata)`` pair :func:`~napari_unet.load_model` returns.
    output : path-like
        The package to write (suffix ``.zip``).
    name : str, optional
        The package's name (default: the model's recorded name, else the file's stem).
    authors : list of str, optional
        Who trained the model (default: napari-unet developers for built-in models, else
        the model's recorded authors, else "unknown (exported by napari-unet)").
    license : str, optional
        SPDX licence identifier of the package (default: the model's recorded licence,
        else BSD-3-Clause). Those given that differ from the model's own are recorded in
        ``config.napari_unet``, so the model file it imports to keeps them.
    image : numpy.ndarray, optional
        The test image, in any layout napari-unet reads (``(H, W)``, ``(C, H, W)`` or
        ``(H, W, C)`` as ``read_image`` returns colour; default: the shipped nuclei image).
    weight_formats : tuple of str, optional
        ``pytorch_state_dict`` (always) and optionally ``torchscript`` and ``onnx``
        (default: all three where the ``onnx`` package is installed, else the first two).
    overwrite : bool
        False: a file at ``output`` is never replaced, even one written meanwhile (InputError).

    Returns
    -------
    pathlib.Path
        The written package.

    Raises
    ------
    InputError
        If bioimageio.core is not installed, the output cannot be written, or the model
        cannot be described (for example an unsupported normalisation).
    """
    output = Path(output)
    if output.suffix.lower() != ".zip":
        raise InputError(f"a bioimage.io package is a .zip file; got {output.name}")
    weight_formats = checked_options(weight_formats, licence_given(license) or DEFAULT_LICENSE)
    net, metadata, default_name = _resolve(model)
    # only those are ours to sign; Path("nuclei") is the built-in model too, as _resolve takes it
    builtin = isinstance(model, str | os.PathLike) and is_pretrained_name(model)
    identity, recorded = choose_identity(
        metadata, default_name, builtin, name=name, authors=authors, license=license
    )
    check_license(identity["license"])  # the model's recorded one too
    net = copy.deepcopy(getattr(net, "_orig_mod", net)).to("cpu").eval()  # leave the caller's
    check_finite("the model", net.state_dict())  # a diverged one "passed" its own NaN test
    metadata.setdefault("normalization", dict(DEFAULT_NORMALIZATION))  # as save_model writes
    metadata.setdefault("class_names", default_class_names(net.n_classes, net))
    _check_output(output, model, overwrite)
    # Staged in the system's temporary folder: a kill left it beside the output, never removed
    with temporary_folder("napari-unet-export-") as tmp:
        files = _write_files(Path(tmp), net, metadata, image)
        try:
            descr = _describe(net, metadata, identity, recorded, files)
        except ValueError as exc:  # pydantic's ValidationError: a field the spec refuses
            raise InputError(f"cannot describe the model as a bioimage.io package: {exc}") from None
        if "torchscript" in weight_formats:
            descr = add_torchscript(descr, Path(tmp))
        if "onnx" in weight_formats:
            descr = add_onnx(descr, Path(tmp))
        with atomic_write(output, overwrite=overwrite) as part:
            _save(descr, Path(part))
    return output


def _check_output(output: Path, model, overwrite: bool) -> None:
    """Refuse ``output`` before the work: an input, not writable, or there (not to overwrite)."""
    source = model if isinstance(model, str | os.PathLike) else None
    check_outputs([output], [source] if source and Path(source).exists() else [])
    if not overwrite and output.exists():
        raise InputError(f"{output} exists; pass --overwrite (overwrite=True) to replace it")


def _describe(net, metadata, identity, recorded, files):
    """The ModelDescr of the package (pytorch_state_dict weights only).

    ``identity``: its name, authors and licence; ``recorded``: those its config records.
    """
    import torch
    from bioimageio.spec.model import v0_5 as s

    config = dict(net.config)
    inputs, outputs = tensor_descriptions(net, metadata, files, min_input(net.geometry))
    doc_path = files["arch"].parent / "README.md"
    text = card.documentation(
        identity["name"], config, metadata, net.geometry.to_dict(), preprocessing(metadata)[1],
        min_input(net.geometry), files["test_note"],
    )  # fmt: skip
    doc_path.write_text(text, encoding="utf-8")
    arch = s.ArchitectureFromFileDescr(
        source=files["arch"], callable=CALLABLE, kwargs={"config": config}
    )
    weights = s.WeightsDescr(
        pytorch_state_dict=s.PytorchStateDictWeightsDescr(
            source=files["weights"], architecture=arch,
            pytorch_version=s.Version(torch.__version__.split("+")[0]),
        )
    )  # fmt: skip
    return s.ModelDescr(
        name=identity["name"],
        description=card.short_description(metadata, config),
        authors=[s.Author(name=a) for a in identity["authors"]],
        cite=[s.CiteEntry(text=t, doi=s.Doi(d)) for t, d in card.citations(config, metadata)],
        license=s.LicenseId(identity["license"]),
        documentation=s.FileDescr(source=doc_path),
        covers=[s.FileDescr(source=files["cover"])],
        tags=card.tags(config, metadata),
        git_repo=None,
        inputs=inputs,
        outputs=outputs,
        weights=weights,
        config=s.Config(**config_entry(net, {**metadata, **recorded})),
    )


def _save(descr, path: Path) -> None:
    """Write the package zip (bioimageio.spec validates the description first)."""
    from bioimageio.spec import save_bioimageio_package

    with quiet():
        save_bioimageio_package(descr, output_path=path)


def check_package(path: str | os.PathLike) -> tuple[bool, list[str]]:
    """Run bioimageio.core's ``test_model`` on a package: ``(passed, one line per check)``.

    The same checks as the ``bioimageio test`` command: the description is valid, every
    weight format reproduces the test output from the test input, and runs at several
    batch sizes and legal tile sizes.
    """
    require_bioimageio()
    from bioimageio.core import test_model

    with quiet():
        summary = test_model(str(path))
    lines = []
    for detail in summary.details:
        lines.append(f"{detail.status}: {detail.name}")
        lines.extend(f"    {e.loc}: {e.msg}" for e in detail.errors)
    return summary.status == "passed", lines
