"""Where whole-slide labels go: the output store, its checks, and the scratch beside it.

:mod:`napari_unet.core.inference.slide` writes an OME-Zarr label image into
``image.zarr/labels/<name>/`` or into a standalone store, through
:func:`~napari_unet.core.files.atomic_folder`, and keeps its intermediate stores (the
foreground probability, the blocks' local labels: 8 bytes a pixel) in a scratch folder
beside it. Everything here runs before any prediction, so a refused input or output costs
nothing. :func:`label_layout` sizes the labelling blocks so that every pyramid level can be
written block by block. :func:`write_labels_store` writes ``predict``'s Zarr labels: an
OME-Zarr label image placed as its OME-Zarr input, else a plain array that
:func:`mark_labels` marks, so that ``slide --overwrite`` knows both as labels.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = [
    "MARGIN",
    "axis_blocks",
    "check_output",
    "check_store_name",
    "LABELS_MARK",
    "check_not_label_image",
    "check_slide_input",
    "is_marked_labels",
    "label_layout",
    "labels_folder",
    "mark_labels",
    "scratch_folder",
    "slide_output",
    "write_labels_store",
]

#: Default pixels read around each block for the split (objects up to about
#: ``MARGIN - gap - 16`` px across are split; larger ones stay whole, and are counted).
#: Here, not in :mod:`~napari_unet.core.inference.slide`, so that the command line shows
#: it without importing torch.
MARGIN = 128

#: The ending of a scratch folder's name: ``.<store>.<pid>.<random>.scratch.tmp``.
SCRATCH = ".scratch.tmp"


def check_slide_input(src: Path) -> None:
    """Refuse in plain words an input that is no Zarr store: a TIFF or PNG file, a folder.

    Before, a TIFF got the Zarr library's own error ("not a readable Zarr array
    (ArrayNotFoundError: No array found in store ...)"), and so did a bioformats2raw
    layout, whose image is in a subgroup (``slide.zarr/0``): now named.
    """
    p = Path(src)
    if p.is_file():
        name = p.as_posix()  # Python reads forward slashes on Windows too
        name = name if not set(name) & set("\"'$`\\") else "IMAGE.tif"  # shell-safe
        zarr_name = Path(name).with_suffix(".zarr").as_posix()
        convert = (
            f'python -c "import napari_unet as nu; nu.write_image({zarr_name!r}, '
            f'nu.read_image({name!r}, lazy=True).rechunk(2048))"'
        )
        raise InputError(
            f"{p} is a file, not a Zarr store: slide reads a Zarr array or an OME-Zarr image "
            f"(a .zarr folder). Label an image file with `napari-unet predict` (`segment` in "
            f"Python; both read TIFF, PNG and JPEG), or convert it to Zarr first: {convert}"
        )
    if p.is_dir() and not any((p / m).exists() for m in (".zarray", ".zgroup", "zarr.json")):
        raise InputError(
            f"{p} is a folder but not a Zarr store (no .zarray, .zgroup or zarr.json in it): "
            "slide reads one Zarr array or OME-Zarr image; label a folder of image files with "
            "`napari-unet predict`"
        )
    if p.is_dir():  # a group that is no image (a bioformats2raw layout): which path to give
        from napari_unet.core.images.omezarr import open_image

        check_not_label_image(p)
        open_image(p)  # lazy: metadata only


def check_not_label_image(*paths: str | os.PathLike) -> None:
    """Refuse an OME-Zarr label image (or one of its levels) given as the image to predict.

    A label image's pixels are object ids, not an image: before, ``slide
    IMAGE.zarr/labels/cells`` labelled its ids as grey levels and wrote
    ``labels/napari-unet`` inside that label image (deleted with it by the next
    ``--overwrite`` of ``cells``), and ``predict`` and ``predict_to_zarr`` labelled it too.
    The message names the image it labels. Files and plain stores pass; the readers that
    open label images as labels (napari's, ``measure``'s) do not come here.
    """
    from napari_unet.core.images.io import is_zarr
    from napari_unet.core.images.omezarr import ome_kind

    for p in map(Path, paths):
        if not p.is_dir():
            continue
        kind, label, lead = ome_kind(p), p, ""
        if kind is None and is_zarr(p.parent) and ome_kind(p.parent) == "labels":
            kind, label, lead = "labels", p.parent, f"{p} is a level of {p.parent}: "
        if kind != "labels":
            continue
        image = _labelled_image(label)
        what = f"{lead}{label} is a label image of {image}" if image else (
            f"{lead}{label} is an OME-Zarr label image ('image-label')"
        )  # fmt: skip
        give = f"give the image: {image}" if image else "give the image it labels"
        raise InputError(f"{what} (object ids, not pixels to segment); {give}")


def _labelled_image(label: Path) -> Path | None:
    """The OME-Zarr image ``label`` labels (its ``image-label`` source, or ``../..``)."""
    from napari_unet.core.images.omezarr import group_attrs, ome_kind

    found = group_attrs(label)
    meta = found[0].get("image-label") if found else None
    source = meta.get("source") if isinstance(meta, dict) else None
    rel = source.get("image") if isinstance(source, dict) else None
    ways = [rel] if isinstance(rel, str) and rel else []
    for way in [*ways, "../.."]:
        image = Path(os.path.normpath(label / way))
        if image != label and image.is_dir() and ome_kind(image) == "image":
            return image
    return None


def label_layout(shape, side, top: int) -> tuple[tuple[int, int], tuple[int, int], int]:
    """``((block sides), label chunks, levels)`` of the labels of an image of ``shape``.

    ``side`` is one side for both axes or one per axis (``(y, x)``: the prediction's
    chunks, so that a 32 x 20480 strip is labelled in 10 blocks, not 640 of 32 x 32 px).

    Level ``k`` keeps every ``2**k``-th pixel, down to a longer side of at most ``top``
    px. Each labelling block writes its own pixels to every level, so its origin must be a
    multiple of ``2**(levels - 1)``: ``side`` is rounded up to one (2050 -> 2056 for a
    2050 x 4100 image, 333 -> 336 for 2560 px; at most ``2**(levels - 1)`` px more, 32 px
    for a 32768 px slide). Before, the levels stopped at the first power of two that did
    not divide ``side``: a 1001 px tall strip, or ``--block 333``, got no pyramid at all.
    The chunks are the block, but no larger than the image (rounded up alike) along each
    axis: a ``--block`` of 20000 px once made 1.6 GB chunks of a 300 px image. A block is
    one chunk of every level, so no two blocks write to the same chunk.
    """
    levels = 1
    while max(-(-int(n) // 2 ** (levels - 1)) for n in shape) > top:
        levels += 1
    step = 2 ** (levels - 1)
    sides = tuple(side) if isinstance(side, tuple | list) else (side,) * len(shape)
    sides = tuple(-(-int(s) // step) * step for s in sides)
    chunks = tuple(min(s, -(-int(n) // step) * step) for s, n in zip(sides, shape, strict=True))
    return sides, chunks, levels


def axis_blocks(length: int, side: int, join: bool = False) -> tuple[int, ...]:
    """Blocks of ``side`` pixels along an axis of ``length``, the last one shorter.

    With ``join`` (the default blocks, which follow the prediction's chunks) a remainder
    shorter than a quarter of ``side`` joins the last block, as the prediction's chunks
    join theirs: before, an 8192 px axis in blocks of 2688 px got a fourth block of 128 px
    (4 x 4 blocks, slivers among them, for 3 x 3 prediction chunks). Every block but the
    last still starts at a multiple of ``side``, so the last one, from there to the end,
    fills label chunks no other block writes. A ``--block`` given is kept as given.
    """
    blocks = [min(side, length - a) for a in range(0, length, side)]
    if join and len(blocks) > 1 and blocks[-1] < side / 4:
        last = blocks.pop()
        blocks[-1] += last
    return tuple(blocks)


def slide_output(src: Path, out: Path | None, name: str, is_ome: bool) -> Path:
    """Where the labels go: ``src/labels/name`` for OME-Zarr input, else ``out`` (needed)."""
    if out is not None:  # absolute: the tasks may run in workers with another folder
        return Path(out).resolve()
    if not is_ome:
        raise InputError(
            f"{src} is a plain Zarr array, not an OME-Zarr image: give an output store (.zarr)"
        )
    return Path(src).resolve() / "labels" / name


def check_store_name(out: str | os.PathLike, given: str | None = None) -> None:
    """Refuse a label store whose name does not end in ``.zarr`` (``given``: as the user said).

    The command line (``slide -o``) and the API (``out=``) refuse alike, before any work.
    """
    if Path(out).suffix.lower() != ".zarr":
        said = given or f"out={os.fspath(out)!r}"
        raise InputError(f"{said}: the labels are a Zarr store; give a name ending in .zarr")


def check_output(dest: Path, src: Path, overwrite: bool, labels_of_src: bool = False) -> None:
    """Refuse a store that would replace the input or a folder holding it, or can't be made.

    Inside the input only its own ``labels/`` entry may be written (``labels_of_src``; the
    ``labels`` folder is made when missing). Elsewhere the folder to write in must exist.
    """
    out, read = dest.resolve(), src.resolve()
    if out == read or (read in out.parents and not labels_of_src):
        raise InputError(f"{dest} is inside the input {src}; refusing to write there")
    if out in read.parents:
        raise InputError(f"{dest} holds the input {src}; name a new store (e.g. OUT/labels.zarr)")
    if not labels_of_src:  # before, segment_slide(out="x.tif") wrote a Zarr folder x.tif
        check_store_name(dest)
    _check_kind(dest)
    if dest.exists() and not overwrite:
        raise InputError(f"{dest} exists; pass --overwrite (overwrite=True) to replace it")
    if not labels_of_src and not dest.parent.is_dir():  # before, the scratch was named
        raise InputError(f"cannot write {dest}: the folder {dest.parent} does not exist")


def _check_kind(dest: Path) -> None:
    """Refuse, with or without ``--overwrite``, a ``dest`` that is no label store to replace.

    A folder that is not a Zarr store, a file, an OME-Zarr image or another OME group (an
    image's ``labels`` group) is never replaced: before, ``slide -o results.zarr
    --overwrite`` deleted a folder of the user's files (``predict`` refused it). Nor is a
    plain Zarr array or group, unless :func:`mark_labels` marked it: before, a plain array
    holding an image (``slide -o copy.zarr --overwrite`` on a copy of the input) was
    replaced. Labels ``predict`` wrote before it marked them are refused too (remove them).
    """
    from napari_unet.core.images.io import wrong_output_kind
    from napari_unet.core.images.omezarr import ome_kind

    wrong = wrong_output_kind(dest, store=True)
    if wrong:
        raise InputError(f"cannot write {dest}: {wrong}")
    kind = ome_kind(dest) if dest.is_dir() else None
    if kind in ("image", "group"):
        what = "an OME-Zarr image" if kind == "image" else "an OME-Zarr group"
        raise InputError(
            f"cannot write {dest}: it is {what}, not a label image, and the labels would "
            "replace it whole; choose another output"
        )
    if kind is None and dest.is_dir() and any(dest.iterdir()) and not is_marked_labels(dest):
        raise InputError(
            f"cannot write {dest}: it is {_plain_kind(dest)} that napari-unet did not write "
            "as labels (an image, perhaps), and --overwrite replaces only a label store (an "
            "OME-Zarr label image, or a Zarr array napari-unet marked as labels); choose "
            "another output name, or remove it yourself first if it is to go"
        )


#: The attributes that mark a plain Zarr array as labels written by napari-unet
#: (``predict``'s labels of a plain Zarr array or a stack): ``slide --overwrite`` replaces
#: such an array, an OME-Zarr label image, and no other store.
LABELS_MARK = {"napari-unet": {"kind": "labels"}}


def mark_store(path: str | os.PathLike, mark: dict) -> None:
    """Mark the plain Zarr array at ``path`` as napari-unet wrote it (``mark``: its kind)."""
    import zarr

    zarr.open_array(str(path), mode="r+").attrs.update(mark)


def has_mark(path: str | os.PathLike, mark: dict) -> bool:
    """Whether ``path`` is a plain Zarr array :func:`mark_store` marked with ``mark``."""
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception:  # noqa: BLE001 - no readable store: not ours to replace
        return False
    key = next(iter(mark))
    return isinstance(node, zarr.Array) and node.attrs.get(key) == mark[key]


def mark_labels(path: str | os.PathLike) -> None:
    """Mark the plain Zarr array at ``path`` as labels written by napari-unet."""
    mark_store(path, LABELS_MARK)


def is_marked_labels(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a plain Zarr array that :func:`mark_labels` marked."""
    return has_mark(path, LABELS_MARK)


def write_labels_store(
    path: str | os.PathLike, labels, image=None, top: int = 1024, *, overwrite: bool = True
) -> Path:
    """Write in-memory ``labels`` as a new Zarr store at ``path`` (atomically); return it.

    2D labels of an OME-Zarr ``image`` (an :class:`~napari_unet.core.images.omezarr.OmeImage`)
    become a standalone OME-Zarr label image (its NGFF version, 0.4 for older ones) with the
    image's scale, translation and units, and a pyramid down to ``top`` px: before,
    ``predict`` wrote a bare array, which napari showed at scale 1 and at the origin, not
    over the image. Other labels (a plain array's, a stack's) are a plain Zarr array marked
    by :func:`mark_labels`. ``overwrite=False`` keeps a store that another run wrote at
    ``path`` meanwhile and refuses this one (:func:`~napari_unet.core.files.atomic_folder`).
    """
    import numpy as np

    from napari_unet.core.files import atomic_folder
    from napari_unet.core.images import omezarr

    labels, path = np.asarray(labels), Path(path)
    if not (image is not None and image.is_ome and labels.ndim == 2):
        import dask.array as da

        with atomic_folder(path, overwrite=overwrite) as tmp:
            da.from_array(labels).to_zarr(str(tmp), overwrite=True)
            mark_labels(tmp)
        return path
    if labels.size and int(labels.max()) > np.iinfo(np.int32).max:
        raise InputError(f"{path}: more label ids than an OME-Zarr int32 label image holds")
    _, chunks, levels = label_layout(labels.shape, top, top)
    with atomic_folder(path, overwrite=overwrite) as tmp:
        version = image.version if image.version in omezarr.WRITTEN else "0.4"
        arrays = omezarr.create_labels(
            tmp, labels.shape, chunks, levels, name=path.name.removesuffix(".zarr"),
            version=version, scale=image.scale, translation=image.translation,
            units=image.units,
        )  # fmt: skip
        for k, level in enumerate(arrays):
            level[...] = labels[:: 2**k, :: 2**k].astype(np.int32)
    return path


def _plain_kind(path: Path) -> str:
    """``a Zarr array (uint16, 512 x 512)``, ``a Zarr group ...``: what a plain store holds."""
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception:  # noqa: BLE001 - damaged, or another format: named as such
        return "a Zarr store that cannot be read"
    if isinstance(node, zarr.Array):
        return f"a plain Zarr array ({node.dtype}, {' x '.join(map(str, node.shape))} px)"
    return "a Zarr group without OME-Zarr metadata"


@contextlib.contextmanager
def labels_folder(image: Path, inside: bool) -> Iterator[None]:
    """Make ``image/labels`` for labels written inside the image; remove it if left empty.

    A first labelling that fails or is stopped leaves the image as it was, not with an
    empty ``labels`` folder in it.
    """
    folder = Path(image) / "labels"
    made = False
    if inside and not folder.exists():
        with contextlib.suppress(FileExistsError):  # another run's, made a moment ago
            folder.mkdir()
            made = True
    try:
        yield
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: never anything another run wrote
        raise


@contextlib.contextmanager
def scratch_folder(dest: Path) -> Iterator[Path]:
    """A new scratch folder beside ``dest``, removed at the end whatever happens.

    Named as :func:`~napari_unet.core.files.atomic_folder` names its temporaries
    (``.<name>.<pid>.<random>.scratch.tmp``): when the run is killed outright, the next
    write of the same ``dest`` finds it among
    :func:`~napari_unet.core.files.stale_temporaries` once its process is gone, and removes
    it (before, the scratch was named ``.<name>.scratch.<random>`` and stayed for good).
    """
    prefix = f".{dest.name}.{os.getpid()}."
    scratch = Path(tempfile.mkdtemp(prefix=prefix, suffix=SCRATCH, dir=dest.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
