"""Saving from the docks: a segmentation layer to TIFF or Zarr, a trained model to its file.

The docks ask for a path with :func:`ask_path` (Qt's save dialog, which itself asks before
replacing a file; when the filter's suffix is added to the name typed, :func:`ask_path` asks
about the file the name then names) and write in a thread worker through the core's atomic
writers, so a large image never freezes the window and a failed write leaves the old file
as it was.
An output that is one of the files the layers were read from, holds one (a Zarr store
with the image in it) or lies inside one, or inside the Zarr store that encloses one
(``experiment.zarr`` for an image read from ``experiment.zarr/raw``), is refused.
A segmentation is saved where it lies over its image (:func:`labels_placement`): a TIFF
with the pixel size, a Zarr as an OME-Zarr label image with scale, translation and units (a
stack's with its first axis, z or t, placed too: before, a bare array at the origin).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = [
    "LABEL_FILTERS",
    "MODEL_FILTER",
    "ZARR_PIXELS",
    "ask_path",
    "confirm_replace",
    "enclosing_store",
    "labels_placement",
    "layer_source",
    "model_output",
    "model_path",
    "opened_from",
    "refuse_opened",
    "save_labels",
    "save_run",
    "save_trained_model",
    "suggested_labels_path",
    "with_filter_suffix",
]

#: File-dialog filters of a segmentation; the suffix chooses the format.
LABEL_FILTERS = "TIFF (*.tif *.tiff);;Zarr store (*.zarr)"
#: File-dialog filter of a model file.
MODEL_FILTER = "Model file (*.safetensors)"
#: Labels with more pixels than this are suggested as Zarr (chunked, readable in parts).
ZARR_PIXELS = 8192 * 8192


def ask_path(parent, title: str, suggested: Path, filters: str) -> Path | None:
    """A path from Qt's save dialog (None if cancelled), ending in one of the filters' suffixes.

    A name typed without one (``cells``, or ``lab-model.v2`` for a model file) gets the
    chosen filter's first suffix (:func:`with_filter_suffix`). Qt asked before replacing
    only the name it returned: when the name with its suffix added is an existing file,
    :func:`confirm_replace` asks about that one (No: None, as if cancelled). Before, the
    suffix was added without its dot (a ValueError traceback), and a model file's suffix
    added after the dialog replaced ``lab-model.v2.safetensors`` unasked.
    """
    from qtpy.QtWidgets import QFileDialog

    name, chosen = QFileDialog.getSaveFileName(parent, title, str(suggested), filters)
    if not name:
        return None
    typed = Path(name)
    path = with_filter_suffix(typed, chosen, filters)
    if path != typed and os.path.lexists(path) and not confirm_replace(parent, path):
        return None
    return path


def with_filter_suffix(path: Path, chosen: str, filters: str) -> Path:
    """``path``, or ``path`` + the ``chosen`` filter's first suffix when it ends in none.

    The suffixes of all ``filters`` are kept (``cells.zarr`` with the TIFF filter chosen is a
    Zarr store); with no filter chosen, the first filter's suffix is added.
    """
    known = re.findall(r"\*(\.[\w.]+)", filters)
    if not known or path.name.lower().endswith(tuple(s.lower() for s in known)):
        return path
    suffix = (re.findall(r"\*(\.[\w.]+)", chosen) or known)[0]
    return path.with_name(path.name.rstrip(".") + suffix)


def confirm_replace(parent, path: Path) -> bool:
    """Ask whether to replace the existing ``path`` (a file the save dialog did not ask about)."""
    from qtpy.QtWidgets import QMessageBox

    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent, "Replace the file?",
        f"{path.name} already exists in {path.parent}.\nDo you want to replace it?",
        buttons.Yes | buttons.No, buttons.No,
    )  # fmt: skip
    return answer == buttons.Yes


def layer_source(layer) -> Path | None:
    """The file a layer was read from (napari's ``layer.source.path``), if any."""
    src = getattr(getattr(layer, "source", None), "path", None)
    return Path(src) if src else None


def suggested_labels_path(labels_layer, image_layer, opened=()) -> Path:
    """``NAME_labels.tif`` (or ``.zarr`` for very large labels) beside the image's file.

    ``NAME`` is the image's name as the folder tools read it
    (:func:`~napari_unet.core.review.folders.stem_of`: ``a`` for ``a.ome.tif``), so that
    ``predict``, ``measure`` and the Review dock pair the file as the image's labels.
    Before, ``NAME.labels.tif`` was suggested: they took it for another image. An image
    read from inside a Zarr store (``experiment.zarr/raw``) gets a name beside the
    outermost store (``experiment_labels.tif``), never one inside it (refused). When a
    layer of ``opened`` was read from that file (the image's ground truth, open beside
    it), the next label name no open layer was read from and no file has
    (``NAME_masks.tif``, ``NAME_label.tif``, ``NAME_mask.tif``), still read as the image's
    labels: before, the ground truth's file was suggested, and saving replaced it. A layer
    of the view's part of a big image (:func:`~._predict_region.box_of`) is suggested as
    ``.zarr``, which keeps where it lies on the image.
    """
    from napari_unet.core.review.folders import stem_of
    from napari_unet.widgets._predict_region import box_of

    big = int(labels_layer.data.size) > ZARR_PIXELS or box_of(labels_layer) is not None
    suffix = ".zarr" if big else ".tif"
    src = layer_source(image_layer)
    if src is None:
        return Path.home() / f"{_plain(labels_layer.name)}{suffix}"
    src = enclosing_store(src) or src
    path = src.with_name(f"{stem_of(src)}_labels{suffix}")
    if opened_from(path, opened) is None:
        return path
    other = (src.with_name(f"{stem_of(src)}{end}{suffix}") for end in ("_masks", "_label", "_mask"))
    return next((p for p in other if not os.path.lexists(p) and not opened_from(p, opened)), path)


def opened_from(path: Path, layers) -> object | None:
    """The first of ``layers`` read from the file ``path`` (napari's ``source.path``), if any."""
    from napari_unet.core.files import same_file

    return next((ly for ly in layers if (src := layer_source(ly)) and same_file(path, src)), None)


def refuse_opened(status, path: Path, layers) -> bool:
    """Whether ``path`` is refused, and said so in ``status``: a layer was read from it.

    Saving there would replace the file an open layer shows (the image's ground truth).
    """
    from napari_unet.widgets._layers import report_error

    layer = opened_from(Path(path), layers)
    if layer is not None:
        name = Path(path).name
        report_error(status, f"{name} is an input: the layer {layer.name!r} was read from it, "
                     "and saving there would replace it; choose another name")  # fmt: skip
    return layer is not None


def _plain(name: str) -> str:
    """A layer name as a file name: letters, digits, dot, dash and underscore only."""
    out = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._")
    return out or "segmentation"


def enclosing_store(path: Path) -> Path | None:
    """The outermost Zarr store holding ``path`` (or ``path`` itself), else None.

    A store is a folder with ``.zgroup``, ``.zarray`` or ``zarr.json`` at its top; the
    stores nested around ``path`` are followed up to the last one.
    """
    from napari_unet.core.images.io import ZARR_MARKERS

    outer = None
    for folder in (Path(path).absolute(), *Path(path).absolute().parents):
        if any((folder / n).is_file() for n in ZARR_MARKERS):
            outer = folder
        elif outer is not None:
            break
    return outer


def labels_placement(layer) -> dict:
    """The ``scale``, ``translation`` and ``units`` of a layer's last two (y, x) axes.

    A stack's (a 3D layer) also has ``lead``: ``(letter, scale, translation, unit)`` of its
    first axis, the letter ``"t"`` or ``"z"`` as the layer's axis labels name it (else those
    of the image it is a result of), else ``"z"``.
    """
    found = {
        "scale": tuple(float(v) for v in layer.scale[-2:]),
        "translation": tuple(float(v) for v in layer.translate[-2:]),
        "units": tuple(str(u) for u in layer.units[-2:]),
    }
    if layer.ndim == 3:
        lead = (float(layer.scale[0]), float(layer.translate[0]), str(layer.units[0]))
        found["lead"] = (_lead_letter(layer), *lead)
    return found


def _lead_letter(layer) -> str:
    """``"t"`` or ``"z"``: a stack's first axis, as its (or its image's) axis labels say."""
    from napari_unet.widgets._predict_region import KEY

    ref = (getattr(layer, "metadata", None) or {}).get(KEY, {}).get("image")
    for one in (layer, ref() if callable(ref) else None):
        labels = tuple(getattr(one, "axis_labels", ()) or ())
        name = str(labels[-3]).strip().lower() if len(labels) >= 3 else ""
        if name in ("t", "time", "z"):
            return name[0]
    return "z"


def _pixel_size(placement: dict | None) -> tuple[float, float] | None:
    """A placement's ``(y, x)`` pixel size in micrometres for a TIFF, or None (scale 1 px).

    Length units are converted; a scale other than 1 without a length unit ("pixel") is
    taken as micrometres.
    """
    from napari_unet.core.images.pixels import unit_in_um

    if not placement:
        return None
    scale = placement["scale"]
    factors = [unit_in_um(u) for u in placement.get("units") or (None, None)]
    if None not in factors:
        return (scale[0] * factors[0], scale[1] * factors[1])
    return None if tuple(scale) == (1.0, 1.0) else (scale[0], scale[1])


def _write_placed(data, path: Path, placement: dict | None) -> Path:
    """Write ``data`` to ``path`` where it lies: a TIFF's pixel size, an OME-Zarr's placement."""
    import numpy as np

    from napari_unet.core.images.io import ZARR_SUFFIXES, write_image
    from napari_unet.core.images.omezarr import OmeImage
    from napari_unet.core.images.pixels import unit_in_um
    from napari_unet.core.inference.slidestore import write_labels_store

    if path.suffix.lower() not in ZARR_SUFFIXES:
        return write_image(path, data, pixel_size=_pixel_size(placement))
    units = tuple(u if unit_in_um(u) else None for u in (placement or {}).get("units", ()))
    placed = placement and (
        placement["scale"] != (1.0, 1.0) or any(placement["translation"]) or any(units)
    )
    if np.ndim(data) == 3:  # a stack: its first axis placed too (before, a bare array)
        lead = (placement or {}).get("lead") or ("z", 1.0, 0.0, None)
        if placed or lead[1:3] != (1.0, 0.0):
            return _write_stack(data, path, placement, lead)
    if not placed or np.ndim(data) != 2:
        return write_image(path, data)
    image = OmeImage(None, path, "0.4", placement["scale"], placement["translation"],
                     units if any(units) else None)  # fmt: skip
    return write_labels_store(path, data, image)


def _write_stack(data, path: Path, placement: dict | None, lead: tuple) -> Path:
    """A stack's labels as an OME-Zarr label image, ``lead``'s axis first (z or t)."""
    from napari_unet.core.images.stacklabels import write_stack_labels

    where = placement or {"scale": (1.0, 1.0), "translation": (0.0, 0.0), "units": ()}
    units = tuple(where.get("units") or (None, None))
    return write_stack_labels(
        path, data, lead[0], (lead[1], *where["scale"]), (lead[2], *where["translation"]),
        (lead[3], *units),
    )  # fmt: skip


def save_labels(data, path: Path, inputs=(), placement: dict | None = None) -> Path:
    """Write labels ``data`` to ``path`` (``.tif``/``.tiff`` or ``.zarr``), atomically.

    ``placement`` (:func:`labels_placement` of the layer) is written with it: a TIFF gets
    the pixel size, a ``.zarr`` becomes an OME-Zarr label image with the scale,
    translation and units (before, both reopened at scale 1 and at the origin); a stack's
    (3D) has its first axis (``z``, or ``t`` as the layer's axis labels say) placed too.

    Raises
    ------
    InputError
        For another suffix, a ``.zarr`` folder that is no Zarr store and holds files
        (replacing it would delete them), or when ``path`` is one of ``inputs`` (the files
        the layers were read from), holds one (a Zarr store with the image's array in it: replacing
        the store would delete the image) or lies inside one (writing into the image's
        own store), or lies inside the Zarr store enclosing an input.
    """
    from napari_unet.core.files import check_outputs
    from napari_unet.core.images.io import TIFF_SUFFIXES, ZARR_SUFFIXES
    from napari_unet.core.review.folders import stem_of

    path = Path(path)
    if path.suffix.lower() not in (*TIFF_SUFFIXES, *ZARR_SUFFIXES):
        raise InputError(f"{path.name}: save a segmentation as .tif or .zarr")
    store = path.suffix.lower() in ZARR_SUFFIXES and path.is_dir()  # a store to replace
    if store and not _zarr_store(path) and any(path.iterdir()):
        raise InputError(
            f"{path} is a folder of other files, not a Zarr store: saving there would delete "
            "them; choose another name"
        )
    check_outputs([path.with_name(path.name + ".new") if store else path], inputs)
    for src in (Path(p) for p in inputs if p is not None):
        out, read = path.resolve(), src.resolve()
        if store and out == read:
            raise InputError(f"{path} is an input ({src}); refusing to overwrite it")
        if out in read.parents:  # the store is replaced whole: the image in it would go
            raise InputError(
                f"{path} holds an input ({src}); refusing to overwrite it (saving there "
                "would delete the image): choose another name"
            )
        if read in out.parents:
            raise InputError(f"{path} is inside an input ({src}); refusing to write into it")
        outer = enclosing_store(src)
        if outer is not None and outer.resolve() in out.parents:
            raise InputError(
                f"{path} is inside the Zarr store {outer.name} that holds the image ({src}); "
                f"refusing to write into it: save beside it, e.g. {stem_of(outer)}_labels.zarr"
            )
    return _write_placed(data, path, placement)


def _zarr_store(path: Path) -> bool:
    """Whether the folder ``path`` is a Zarr store (v2 or v3 metadata at its top)."""
    return any((path / name).exists() for name in (".zarray", ".zgroup", ".zattrs", "zarr.json"))


def model_path(path: Path) -> Path:
    """``path`` ending in ``.safetensors`` (added when missing)."""
    path = Path(path)
    return (
        path
        if path.suffix.lower() == ".safetensors"
        else path.with_name(path.name + ".safetensors")
    )


def model_output(path: Path, inputs=(), resumable: bool = False) -> Path:
    """``path`` as a dock writes a model there (``.safetensors`` added), or InputError.

    Refused: a built-in model's own file (an editable install keeps it writable; every
    dock's ``nuclei`` then loaded the weights written), an input, an unwritable place;
    ``resumable``: the optimiser state and ``NAME.best`` beside it too.
    """
    from napari_unet.core.files import check_outputs
    from napari_unet.core.models.pretrained import refuse_builtin
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    path = model_path(path)
    refuse_builtin(path)
    beside = [optimizer_path(path), best_path(path)] if resumable else []
    check_outputs([path, *beside], inputs)
    return path


def save_trained_model(model, metadata: dict, path: Path, inputs=()) -> Path:
    """Write a model and its metadata to a model file (``.safetensors``), atomically.

    Refused (InputError) also while a Train dock's running run writes ``path``.
    """
    from napari_unet.core.models.modelfile import save_model
    from napari_unet.widgets._train_outputs import refuse_running

    path = model_output(path, inputs)
    refuse_running(path)  # a Train dock's running run would replace it at its end
    return save_model(path, model, **dict(metadata))


def save_run(result, path: Path, inputs=()) -> Path:
    """Write a training run's last weights and, beside them, its optimiser state (resumable).

    As the trainer ends a run: the run's best weights go beside them as ``NAME.best`` (when
    not there already), and what a replaced model left there (its ``NAME.best``, its
    previous optimiser state) is removed once the new model is written. Before, saving
    over another run's model kept that run's ``NAME.best``, which Resume and the Predict
    dock then took for this run's best.

    The best is written to a temporary first and put in place only once the model is
    written: a failed save leaves the old model and its ``NAME.best`` as they were (before,
    ``NAME.best`` was replaced first, and a model write that failed then left the old model
    beside this run's best). A best that cannot be written is warned about, and the model
    is saved without one (the replaced model's ``NAME.best`` goes all the same).
    """
    from napari_unet.core.training.checkpoint import drop_replaced, save_result
    from napari_unet.widgets._staged_best import discard, place_best, stage_best

    path = model_output(path, inputs, resumable=True)
    staged, failed = stage_best(result, path)
    try:
        save_result(result, path)
    except BaseException:
        discard(staged)
        raise
    place_best(result, path, staged, failed)
    drop_replaced(result, path)
    return path
