"""Whole-slide images: predict and label an image bigger than memory, chunk by chunk.

:func:`iter_segment_slide` reads a Zarr array or an OME-Zarr image, and in four passes, each
a list of independent block tasks that run in this process or on a ``dask.distributed``
cluster (:func:`~napari_unet.core.inference.chunked.iter_tasks`):

1. **predict**: the foreground probability, chunk by chunk
   (:func:`~napari_unet.core.inference.chunked.lazy_probabilities`, each chunk with its
   neighbours' pixels), into a scratch Zarr store;
2. **label**: each block's foreground components, into a scratch store of local ids
   (:func:`~napari_unet.core.inference.chunklabels.label_block`);
3. **merge** (here, small): components touching across block faces joined, small ones
   dropped, one lookup table to global ids
   (:func:`~napari_unet.core.inference.chunklabels.merge_blocks`);
4. **finish**: each block with a margin split and grown over the gaps, written to the
   output label pyramid (:func:`~napari_unet.core.inference.chunklabels.finish_block`).

The labels equal those of the whole image in memory (up to the ids' values); memory is a
few blocks plus one lookup entry per component. The output is an OME-Zarr label image:
``image.zarr/labels/<name>/`` for an OME-Zarr input, else a standalone store (``out``)
whose root is the label image, placed as the image is (its scale and translation). Scratch
stores live beside the output and are removed (:mod:`~napari_unet.core.inference.slidestore`).
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError, check_int
from napari_unet.core.files import atomic_folder
from napari_unet.core.images import omezarr
from napari_unet.core.inference import chunklabels, slidestore
from napari_unet.core.inference.chunked import iter_store, iter_tasks
from napari_unet.core.inference.cluster import check_scheduler
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.inference.slide_checks import (
    NOT_FOR_SLIDES,
    check_settings,
    covered_pixels,
    slide_warnings,
)
from napari_unet.core.inference.slidestore import MARGIN, check_output, scratch_folder, slide_output
from napari_unet.core.models.carried import carried

__all__ = [
    "MARGIN",
    "SlideProgress",
    "SlideResult",
    "iter_label_foreground",
    "iter_segment_slide",
    "segment_slide",
    "slide_output",
]

#: Pyramid levels stop once the top level's longer side is at most this.
TOP_LEVEL = 1024
#: Largest automatic tile of a slide: the automatic tile fills a share of the free memory
#: (up to 4096 px), which a slide's memory bound cannot follow.
SLIDE_TILE = 1024


def slide_tile(model, device=None, batch: int = 1, precision: str = "fp32") -> int:
    """The automatic tile, at most :data:`SLIDE_TILE` px (legal for the network)."""
    from napari_unet.core.inference.runner import auto_tile, model_info

    tile = auto_tile(model, device, batch, precision)
    if tile <= SLIDE_TILE:
        return tile
    geometry = model_info(model)[0]
    legal = geometry.legal_sizes(geometry.min_input_size, SLIDE_TILE)
    return legal[-1] if legal else geometry.min_input_size


@dataclass(frozen=True)
class SlideProgress:
    """``done`` of ``total`` blocks of a pass (``predict``, ``label``, ``merge``, ``finish``)."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class SlideResult:
    """What :func:`iter_segment_slide` wrote."""

    path: Path
    shape: tuple[int, int]
    n_objects: int  # objects written: components after the size filter, split pieces too
    n_dropped: int  # components under min_size
    n_whole: int  # objects too large for the margin: not split
    levels: int
    blocks: int
    seconds: dict = field(default_factory=dict)
    foreground: float | None = None  # share of the image in the objects kept (min_size)
    #: Out-of-domain warnings, as ``segment``'s (:mod:`.slide_checks`); ``segment_slide``
    #: issues each as a DomainWarning, ``napari-unet slide`` prints it.
    warnings: tuple[str, ...] = ()


def iter_segment_slide(
    predictor,
    post: Postprocess,
    src,
    out=None,
    *,
    name: str = "napari-unet",
    margin: int = MARGIN,
    block: int | None = None,
    scheduler=None,
    overwrite: bool = False,
) -> Generator[SlideProgress, None, SlideResult]:
    """Predict and label the Zarr image ``src`` chunk by chunk into an OME-Zarr label image.

    Parameters
    ----------
    predictor : Predictor
        The model and prediction settings (``predictor.chunk`` is the block side). Its
        tile bounds the memory: :func:`slide_tile` is the automatic one for slides.
    post : Postprocess
        threshold, min_size, gap and split, as for images in memory.
    src : path-like
        A Zarr array or an OME-Zarr image group (one plane, channels allowed).
    out : path-like, optional
        Output store; default (OME-Zarr input only) ``src/labels/<name>``. NGFF 0.4 and
        0.5 images get labels of their version; 0.1-0.3 ones only standalone 0.4 stores.
    name : str
        The label image's name: one plain folder name (``labels/<name>``).
    margin : int
        Pixels around each block for the split (see :data:`MARGIN`).
    block : int, optional
        Side of the labelling blocks, rounded up so that every pyramid level is whole
        (:func:`.slidestore.label_layout`). Default: the prediction's chunk side along
        each axis, a remainder under a quarter block joined to the last block.
    scheduler : str or distributed.Client, optional
        Run the block tasks on that ``dask.distributed`` cluster (it must see the files).
    overwrite : bool
        Replace an existing output. Without it, labels that another run wrote to the same
        place while this one worked are kept, and this run fails (InputError).

    The result's ``warnings`` are the out-of-domain signs ``segment`` warns of
    (:func:`.slide_checks.slide_warnings`), returned, not issued.
    """
    check_scheduler(scheduler)  # a malformed address: before the slide is read
    slidestore.check_slide_input(src)
    image = omezarr.open_image(src)
    check_settings(predictor, image.data, post)
    name = omezarr.check_label_name(name)
    dest = slide_output(image.path, out, name, image.is_ome)
    inside = image.is_ome and dest.resolve().parent == (image.path / "labels").resolve()
    version = omezarr.labels_version(image, inside)  # all checked before any work
    check_output(dest, image.path, overwrite, inside)
    margin = check_int("margin", margin, low=0)
    block = None if block is None else check_int("block", block, low=16)
    with slidestore.labels_folder(image.path, inside), scratch_folder(dest) as scratch:
        with atomic_folder(dest, overwrite=overwrite) as tmp:  # nor labels written meanwhile
            target = (tmp, version, "../../" if inside else None, dest.name if inside else name)
            result = yield from _run(
                predictor, post, image, target, scratch, (margin, block), scheduler
            )
        if inside:
            omezarr.add_label_name(image.path, dest.name, version)
    found = slide_warnings(predictor, image.data, result[-1])  # five windows read
    return SlideResult(dest, *result, warnings=tuple(found))


def _grid(chunks) -> tuple[list[int], list[int]]:
    """Block starts along y and x, each with the image's length appended."""
    return tuple([int(v) for v in np.cumsum((0, *c))] for c in chunks)


def _run(predictor, post, image, where, scratch: Path, sizes, scheduler):
    """The passes into the label group ``where = (tmp folder, version, source, name)``."""
    tmp, version, source, name = where
    seconds, clock = {}, time.perf_counter()
    fg = predictor.foreground(predictor.lazy_probabilities(image.data))
    shape = tuple(int(n) for n in fg.shape[-2:])
    fg = fg.reshape(shape)
    margin, side = sizes  # by default the prediction's chunks, per axis (a strip's too)
    join = not side  # and, as they do, a short remainder joined to the last block
    side = side or tuple(int(c[0]) for c in fg.chunks)
    fg_path = str(scratch / "fg.zarr")
    for event in iter_store(fg, fg_path, scheduler):
        yield SlideProgress("predict", event.done, event.total)
    seconds["predict"] = time.perf_counter() - clock
    target = (tmp, version, (image.scale, image.translation, image.units), source, name)
    *found, times, share = yield from _label_passes(
        fg_path, side, target, scratch, post, margin, scheduler, join=join
    )
    return (*found, {**seconds, **times}, share)


def _label_passes(
    fg_path: str, side, target, scratch: Path, post, margin, scheduler, *, join: bool = False
):
    """label, merge and finish of the foreground store at ``fg_path`` into ``target[0]``.

    ``side``: the blocks' side, one for both axes or ``(y, x)``; ``join``: a remainder
    shorter than a quarter block joins the last block (:func:`.slidestore.axis_blocks`).
    """
    import dask
    import zarr

    tmp, version, (scale, translation, units), source, name = target
    seconds, clock = {}, time.perf_counter()
    shape = tuple(int(n) for n in zarr.open_array(fg_path, mode="r").shape)
    sides, label_chunks, levels = slidestore.label_layout(shape, side, TOP_LEVEL)
    chunks = tuple(slidestore.axis_blocks(n, s, join) for n, s in zip(shape, sides, strict=True))
    starts = _grid(chunks)
    blocks = [(r, c) for r in range(len(chunks[0])) for c in range(len(chunks[1]))]
    local_path = str(scratch / "local.zarr")
    _empty_like(local_path, shape, chunks, "int32")
    task = dask.delayed(_label_task, pure=False)
    tasks = [task(fg_path, local_path, _box(starts, b), post.threshold) for b in blocks]
    found = {}
    for done, (i, info) in enumerate(iter_tasks(tasks, scheduler), start=1):
        found[blocks[i]] = info
        yield SlideProgress("label", done, len(blocks))
    seconds["label"], clock = time.perf_counter() - clock, time.perf_counter()

    yield SlideProgress("merge", 0, 1)
    grid = (len(chunks[0]), len(chunks[1]))
    merge = chunklabels.merge_blocks(found, grid, post.min_size)
    share = covered_pixels(found, blocks, merge) / max(1, shape[0] * shape[1])
    del found
    yield SlideProgress("merge", 1, 1)
    seconds["merge"], clock = time.perf_counter() - clock, time.perf_counter()

    can_split = chunklabels.splittable(merge, margin, post.gap) if post.split > 0 else None
    reach = margin if post.split > 0 else 0
    if post.gap > 0:
        reach = max(reach, 2 * post.gap + 2)
    omezarr.create_labels(
        tmp, shape, label_chunks, levels, name=name, version=version, scale=scale,
        translation=translation, source=source, units=units,
    )  # fmt: skip
    shared = dask.delayed(
        (merge, can_split, starts), name=f"napari-unet-merge-{uuid.uuid4().hex}", pure=False
    )
    task = dask.delayed(_finish_task, pure=False)
    tasks = [
        task(local_path, str(tmp), b, shared, reach, post.split, post.gap, levels) for b in blocks
    ]
    pieces: set[int] = set()  # the ids the split added (seen by every block they touch)
    for done, (_, added) in enumerate(iter_tasks(tasks, scheduler), start=1):
        pieces.update(added.tolist())
        yield SlideProgress("finish", done, len(blocks))
    seconds["finish"] = time.perf_counter() - clock
    n_whole = int(merge.n - can_split[1:].sum()) if can_split is not None else 0
    counts = (shape, merge.n + len(pieces), merge.n_dropped, n_whole, levels, len(blocks))
    return (*counts, seconds, share)


def iter_label_foreground(
    foreground, out, post: Postprocess, *, block: int = 2048, margin: int = MARGIN,
    scheduler=None, overwrite: bool = False,
) -> Generator[SlideProgress, None, SlideResult]:  # fmt: skip
    """The label, merge and finish passes of :func:`iter_segment_slide` on a foreground.

    ``foreground`` is the path of a 2D Zarr array of foreground probabilities (computed
    elsewhere, or kept from a run); ``out`` a new standalone OME-Zarr label store. The
    labels equal ``probabilities_to_labels`` of the whole array (see the module's notes).
    """
    import zarr

    src, dest = Path(foreground).resolve(), Path(out).resolve()  # as slide_output says
    if zarr.open_array(str(src), mode="r").ndim != 2:
        raise InputError(f"{src}: expected a 2D foreground probability array")
    check_output(dest, src, overwrite)
    block, margin = check_int("block", block, low=16), check_int("margin", margin, low=0)
    with scratch_folder(dest) as scratch, atomic_folder(dest, overwrite=overwrite) as tmp:
        target = (tmp, "0.4", ((1.0, 1.0), None, None), None, dest.stem)
        found = yield from _label_passes(str(src), block, target, scratch, post, margin,
                                         scheduler)  # fmt: skip
    return SlideResult(dest, *found)


def _empty_like(path: str, shape, chunks, dtype) -> None:
    import zarr

    zarr.open_array(
        path, mode="w", shape=shape, chunks=tuple(int(c[0]) for c in chunks), dtype=dtype
    )


def _box(starts, block) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of ``block``."""
    (ys, xs), (r, c) = starts, block
    return ys[r], ys[r + 1], xs[c], xs[c + 1]


def _label_task(fg_path: str, local_path: str, box, threshold: float):
    """Pass 2 on one block: local components written, their summary returned."""
    import zarr

    y0, y1, x0, x1 = box
    fg = zarr.open_array(fg_path, mode="r")[y0:y1, x0:x1]
    labels, info = chunklabels.label_block(fg, threshold, (y0, x0))
    zarr.open_array(local_path, mode="r+")[y0:y1, x0:x1] = labels
    return info


def _finish_task(local_path: str, out: str, block, shared, reach: int, split, gap, levels):
    """Pass 4 on one block: its window's global ids, split and gaps, written to each level."""
    import zarr

    merge, can_split, (ys, xs) = shared
    y0, y1, x0, x1 = _box((ys, xs), block)
    wy0, wy1 = max(y0 - reach, 0), min(y1 + reach, ys[-1])
    wx0, wx1 = max(x0 - reach, 0), min(x1 + reach, xs[-1])
    local = zarr.open_array(local_path, mode="r")
    window = np.zeros((wy1 - wy0, wx1 - wx0), np.int64)
    for r in range(len(ys) - 1):
        for c in range(len(xs) - 1):
            a0, a1 = max(ys[r], wy0), min(ys[r + 1], wy1)
            b0, b1 = max(xs[c], wx0), min(xs[c + 1], wx1)
            if a0 < a1 and b0 < b1:
                part = local[a0:a1, b0:b1]
                window[a0 - wy0 : a1 - wy0, b0 - wx0 : b1 - wx0] = merge.lookup(part, (r, c))
    core = (slice(y0 - wy0, y1 - wy0), slice(x0 - wx0, x1 - wx0))
    labels = chunklabels.finish_block(window, core, merge, split, gap, can_split)
    group = zarr.open_group(out, mode="r+")
    for k in range(levels):
        step = 2**k
        part = labels[::step, ::step]
        ty, tx = y0 // step, x0 // step
        group[str(k)][ty : ty + part.shape[0], tx : tx + part.shape[1]] = part
    return np.unique(labels[labels > merge.n])  # split pieces: their ids exceed the merge's


def segment_slide(
    model, src, out=None, *, progress=None, name: str = "napari-unet", margin: int = MARGIN,
    block: int | None = None, scheduler=None, overwrite: bool = False, **kwargs,
) -> SlideResult:  # fmt: skip
    """Predict and label the whole-slide Zarr / OME-Zarr image ``src`` chunk by chunk.

    ``threshold``, ``min_size``, ``gap`` and ``split`` as for
    :func:`~napari_unet.core.inference.segment.segment` (the value given, else the model
    file's recommendation in ``metadata``, else the default); any other keyword goes to the
    :class:`~napari_unet.core.inference.plan.Predictor` (``chunk`` is the prediction's
    chunk side; the automatic ``tile`` is at most :data:`SLIDE_TILE`; ``object_size`` and
    ``region`` raise InputError, but for ``"auto"`` and ``"none"``: a slide is labelled
    whole, at its own scale). ``progress`` is
    called with every :class:`SlideProgress`. See
    :func:`iter_segment_slide` for ``out``, ``name``, ``margin``, ``block``, ``scheduler``
    (an address or a ``distributed.Client``) and ``overwrite``. A result that looks out of
    the model's domain issues a :class:`~napari_unet.core.inference.domain.DomainWarning`
    per sign, as ``segment`` does (``result.warnings`` holds them too).
    """
    from napari_unet.core.device import choose_device
    from napari_unet.core.inference.domain import DomainWarning
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.scale import AUTO, check_object_size
    from napari_unet.core.progress import drain

    if not isinstance(src, str | os.PathLike):  # an array: before, pathlib's TypeError
        raise InputError(
            f"segment_slide reads a whole-slide image from disk: give the path of its Zarr "
            f"array or OME-Zarr image (got a {type(src).__module__}.{type(src).__name__}); "
            "for an image in memory, use segment(model, image)"
        )
    check_scheduler(scheduler)  # a malformed address: at once, not after reading the slide
    size = check_object_size(kwargs.get("object_size"))  # "auto" and "none": the own scale
    kwargs["object_size"] = None if size == AUTO else size
    for key, why in NOT_FOR_SLIDES.items():
        if kwargs.pop(key, None) is not None:
            raise InputError(f"segment_slide: {key} is not supported; {why}")
    given = {k: kwargs.pop(k) for k in ("threshold", "min_size", "gap", "split") if k in kwargs}
    kwargs["metadata"] = carried(model, kwargs.get("metadata"))  # a loaded model's own
    post = Postprocess.for_model(kwargs["metadata"], **given)
    if not kwargs.get("tile"):
        batch, precision = kwargs.get("batch") or 1, kwargs.get("precision", "fp32")
        device = choose_device(kwargs.get("device"))
        kwargs["tile"] = slide_tile(model, device, batch, precision)
    predictor = Predictor(model, **kwargs)
    gen = iter_segment_slide(
        predictor, post, src, out, name=name, margin=margin, block=block,
        scheduler=scheduler, overwrite=overwrite,
    )  # fmt: skip
    result = drain(gen, progress)
    for text in result.warnings:
        warnings.warn(text, DomainWarning, stacklevel=2)
    return result
