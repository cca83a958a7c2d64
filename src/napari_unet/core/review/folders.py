"""The files and folders of a review: names, hashes, and what the output folder may hold.

Image names without suffix, file hashes, the names other tools give label files, and
the checks on the output folder.

A review writes ``OUTPUT/labels``, ``OUTPUT/predictions`` and ``OUTPUT/export`` (the last
replaced whole by each export). Images and label files of the user must live elsewhere:
an instrument's ``export`` folder chosen as the images, inside the output folder, was
deleted by the first export.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.bioformats2raw import bioformats2raw_series
from napari_unet.core.images.io import IMAGE_SUFFIXES, is_zarr

__all__ = [
    "EXPORT_FOLDERS",
    "MANIFEST",
    "check_output",
    "bioformats2raw_series",
    "collect_images",
    "content_hashes",
    "file_hash",
    "foreign_entry",
    "image_source",
    "images_only",
    "os_metadata",
    "label_candidates",
    "label_file_ids",
    "legacy_files",
    "manifest_text",
    "read_manifest",
    "same_content",
    "stem_of",
]

#: The folders of the output folder that a review writes (and may replace or empty).
WRITTEN = ("labels", "predictions", "export")
#: The folders an export writes into ``OUTPUT/export`` (and summary.csv, report.txt).
EXPORT_FOLDERS = ("labels", "measurements")
#: The list of the files an export wrote, written with them into ``OUTPUT/export``.
MANIFEST = "export-files.json"


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(output: Path, images: list[Path], labels_folder: Path | None) -> None:
    """Refuse an output folder that holds the images, or the labels folder, where it writes.

    The images may not be in the output folder itself nor anywhere in its ``labels``,
    ``predictions`` or ``export`` folders; the labels folder may not be in its ``labels``,
    ``predictions`` or ``export`` folders (saves write over the files of the first, an
    export replaces the last, a new model empties the other). Before, a labels folder that
    was ``OUTPUT/labels`` (``project/labels`` with the output folder ``project``) was
    accepted: its files were taken for reviewed labels and saving overwrote them. Then the
    output folder and its ``labels`` and ``predictions`` are created.
    """
    out = output.absolute().resolve()
    written = [out / sub for sub in WRITTEN]
    for folder in sorted({p.absolute().resolve().parent for p in images}):
        if folder == out or any(_within(folder, w) for w in written):
            raise InputError(
                f"{output} (or its labels, predictions or export folder) holds the images "
                f"under review ({folder}); choose another output folder (the review never "
                "writes beside or over the originals)"
            )
    if labels_folder is not None:
        own = labels_folder.absolute().resolve()
        if _within(own, written[0]):
            raise InputError(
                f"the labels folder {labels_folder} is (or is inside) the output folder's "
                f"labels folder {written[0]}, where the review saves the reviewed labels "
                "over the files there; choose another output folder (the review never "
                "writes over the originals)"
            )
        if any(_within(own, w) for w in written[1:]):
            raise InputError(
                f"the labels folder {labels_folder} is inside the output folder's "
                "predictions or export folder, which the review replaces; move the label "
                "files, or choose another output folder"
            )
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} exists and is not a folder")
    for sub in ("", "labels", "predictions"):
        try:
            (output / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the output folder {output}: {exc}") from None


def foreign_entry(export: Path, names=()) -> Path | None:
    """The first entry of an existing export folder that no export wrote (None if none).

    An export replaces ``OUTPUT/export`` whole; anything else in it would be lost. What an
    export wrote is what its list of files (:data:`MANIFEST`) names; an export of a version
    that wrote no list owns only the files named after the images ``names``
    (:func:`legacy_files`). Before, any ``.csv`` in ``measurements`` or ``*_labels.tif``
    in ``labels`` passed as the export's own, and the user's files there were deleted.
    """
    if not export.is_dir():
        return None
    own = read_manifest(export)
    if own is None:
        own = legacy_files(names)
    for entry in sorted(export.iterdir()):
        if _temporary(entry) or os_metadata(entry) or entry.name == MANIFEST and entry.is_file():
            continue
        if entry.name in EXPORT_FOLDERS and entry.is_dir():
            for inner in sorted(entry.iterdir()):
                if f"{entry.name}/{inner.name}" not in own and not (
                    _temporary(inner) or os_metadata(inner)
                ):
                    return inner
        elif entry.name not in own or not entry.is_file():
            return entry
    return None


def read_manifest(export: Path) -> set[str] | None:
    """The files an export says it wrote (``labels/a_labels.tif``...); None without a list.

    An unreadable list counts as none (then :func:`legacy_files` says what is the export's).
    """
    try:
        files = json.loads((export / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def legacy_files(names) -> set[str]:
    """What an export of images ``names`` may have written, for an export with no list."""
    own = {"summary.csv", "report.txt"}
    for stem in map(stem_of, names):
        own.update((f"labels/{stem}_labels.tif", f"labels/{stem}_labels.zarr"))
        own.add(f"measurements/{stem}.csv")
    return own


def manifest_text(export: Path) -> str:
    """The list of files of the export written into ``export`` (saved as :data:`MANIFEST`)."""
    files = [e.name for e in export.iterdir() if e.is_file() and e.name != MANIFEST]
    for sub in EXPORT_FOLDERS:
        if (export / sub).is_dir():
            files.extend(f"{sub}/{e.name}" for e in (export / sub).iterdir())
    return json.dumps({"format": 1, "files": sorted(files)}, indent=1)


#: Files the operating system drops into folders it shows (macOS Finder, Windows Explorer).
OS_METADATA = (".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini")


def os_metadata(entry: Path) -> bool:
    """A file the system wrote into a folder it showed (``.DS_Store``, ``._NAME``, ``Thumbs.db``).

    An export replaces the folder with them (they are remade); before, one of them made
    every later export refuse ("holds .DS_Store, which no export wrote").
    """
    name = entry.name
    return name.lower() in OS_METADATA or name.startswith("._")


def _temporary(entry: Path) -> bool:
    """A temporary file or folder of an earlier write (``.NAME.PID.XXXX.tmp``)."""
    return entry.name.startswith(".") and entry.name.endswith(".tmp")


def stem_of(path: str | os.PathLike) -> str:
    """The name of an image without its suffix (``a.ome.tif`` -> ``a``)."""
    name = Path(path).name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name[: -len(Path(name).suffix)] if Path(name).suffix else name


#: Endings of label files named after their image, most specific first.
LABEL_ENDINGS = ("_labels", "_cp_masks", "_masks", "_label", "_mask")
#: Endings of the other files ``napari-unet predict`` writes beside an image.
OUTPUT_ENDINGS = (*LABEL_ENDINGS, "_probabilities")


def label_candidates(stem: str) -> list[str]:
    """File names another run or tool gives the labels of image ``stem``, most specific first.

    ``napari-unet predict`` writes ``<stem>_labels.tif``; Cellpose ``<stem>_cp_masks.png``
    and ``<stem>_masks.tif``; many tools ``<stem>.tif`` in a separate folder. Cellpose's
    ``_seg.npy`` is a pickle and is never read.
    """
    names = []
    for tail in (*LABEL_ENDINGS, ""):
        for suffix in (".tif", ".tiff", ".png", ".zarr"):
            names.append(f"{stem}{tail}{suffix}")
    return names


def images_only(files: list[Path]) -> list[Path]:
    """``files`` of one folder less the label files of images among them.

    ``NAME_cp_masks.png`` or ``NAME_labels.tif`` beside ``NAME.tif`` (Cellpose and
    ``napari-unet predict`` write them beside the images; ``a.ome_labels.tif`` for
    ``a.ome.tif``, and ``NAME_probabilities.tif``) are results, found as labels when the
    labels folder is this folder: before, they were listed and predicted as images. The
    endings match whatever their case, as the label lookup matches them. ``napari-unet
    measure`` reads a folder the same way: the files left out are its label files.
    """
    stems = set()
    for q in files:  # a.ome.tif is "a" and "a.ome", as the label lookup reads it
        stems.update((stem_of(q), q.name[: -len(q.suffix) or None]))

    def is_output(q: Path) -> bool:
        stem = q.name[: -len(q.suffix) or None]
        low = stem.lower()
        return any(low.endswith(e) and stem[: -len(e)] in stems for e in OUTPUT_ENDINGS)

    return [q for q in files if not is_output(q)]


def collect_images(source) -> list[Path]:
    """The images of a folder (sorted, not recursive) or of a list of files.

    Of a folder, label files named after an image beside them are left out
    (:func:`images_only`); files given one by one are all reviewed.
    """
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    found: list[Path] = []
    for item in map(Path, items):
        if not item.exists():
            raise InputError(f"{item}: no such file or folder")
        if item.is_dir() and not is_zarr(item):
            inside = sorted(
                q
                for q in item.iterdir()
                if q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith(".")
            )
            if not inside:
                raise InputError(f"{item}: the folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
            found.extend(images_only(inside))
        else:
            found.append(item)
    if not found:
        raise InputError("no images to review")
    stems = [stem_of(p) for p in found]
    twins = sorted({s for s in stems if stems.count(s) > 1})
    if twins:
        raise InputError(
            f"several images share the name {twins[0]!r} (without suffix); their labels would "
            "overwrite each other: review them in separate runs"
        )
    return found


def image_source(path: Path) -> Path:
    """What is read for the listed image ``path``: a bioformats2raw root's one series, or itself.

    The root keeps its name (``slide.zarr``: ``slide_labels.tif``); its image is read, as
    napari's reader opens it. Before, reading the root was refused ("give the image inside
    it") and no picker of the Review dock could choose that. Several series: refused (named).
    """
    series = bioformats2raw_series(path) if path.is_dir() else []
    return series[0] if len(series) == 1 else path


def content_hashes(path: str | os.PathLike) -> set[str]:
    """The hashes under which ``path``'s content may be recorded (:func:`same_content`)."""
    p = Path(path)
    return {file_hash(p), _stamp_hash(p)} if p.is_dir() else {file_hash(p)}


def file_hash(path: str | os.PathLike) -> str:
    """A hash of an image's content: a file's bytes, a Zarr store's files' names and bytes.

    Of a store, only the image counts: an OME-Zarr image's ``labels`` group is left out
    (``napari-unet slide`` writes its label images there, and another tool may), and so
    are the files' times (a copy, ``cp -r``, gives new ones). Before, a store's hash was
    its files' names, sizes and times, ``labels`` included: a label image written into an
    accepted image, or a copy of the folders, flagged it "changed since it was reviewed",
    and the export left it out. A rename inside the store still counts (the names are
    hashed). Hashes of that scheme are still taken as the same image
    (:func:`same_content`).
    """
    p = Path(path)
    h = hashlib.blake2b(digest_size=16)
    for rel, q in _image_files(p) if p.is_dir() else [("", p)]:
        if p.is_dir():  # the name and size end where the bytes begin: nothing is ambiguous
            h.update(f"{rel}\0{q.stat().st_size}\0".encode())
        with open(q, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def same_content(path: str | os.PathLike, recorded: str | None) -> tuple[str, bool]:
    """``(hash of path now, whether it matches the hash recorded)``; None matches any.

    A review file written before :func:`file_hash` read a store's bytes holds the store's
    names, sizes and times (:func:`_stamp_hash`): a store that still has them is the same
    image, so upgrading flags no accepted Zarr image as changed.
    """
    digest = file_hash(path)
    if recorded in (None, digest):
        return digest, True
    return digest, Path(path).is_dir() and recorded == _stamp_hash(Path(path))


def _stamp_hash(p: Path) -> str:
    """The hash the versions before gave a store: its files' names, sizes and times."""
    h = hashlib.blake2b(digest_size=16)
    for q in sorted(p.rglob("*")):
        if q.is_file():
            st = q.stat()
            h.update(f"{q.relative_to(p)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _image_files(store: Path) -> list[tuple[str, Path]]:
    """The files of a Zarr store, by sorted relative name, less its images' ``labels``.

    The ``labels`` folder of every OME-Zarr image group in the store is left out, wherever
    the image is (the store's root, or ``0`` of a bioformats2raw layout).
    """
    found = []
    for root, dirs, files in os.walk(store):
        if "labels" in dirs and _image_group(Path(root)):
            dirs.remove("labels")
        found.extend((Path(root, f).relative_to(store).as_posix(), Path(root, f)) for f in files)
    return sorted(found)


def _image_group(folder: Path) -> bool:
    """Whether ``folder`` is an OME-Zarr image group (``multiscales``, NGFF 0.4 or 0.5)."""
    for meta in (".zattrs", "zarr.json"):
        try:
            attrs = json.loads((folder / meta).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta == "zarr.json" and isinstance(attrs, dict):
            attrs = attrs.get("attributes")
            attrs = attrs.get("ome", attrs) if isinstance(attrs, dict) else None
        if isinstance(attrs, dict) and attrs.get("multiscales"):
            return True
    return False


def label_file_ids(data, path: Path) -> np.ndarray:
    """A label image read from another tool's file, checked (integers, one channel).

    Whole numbers stored as floats (Fiji's and MorphoLibJ's 32-bit label images) are taken
    as integer ids, as ``napari-unet measure`` takes them; fractional, negative or NaN
    values are refused.
    """
    from napari_unet.core.images.labels import check_labels

    arr = np.asarray(data)
    if arr.dtype.kind == "f" and arr.size:
        whole = bool(np.all(np.isfinite(arr))) and bool(np.all(arr == np.round(arr)))
        low, top = (float(arr.min()), float(arr.max())) if whole else (0.0, 0.0)
        if whole and low >= 0 and top < 2.0**53:  # ids a float holds exactly
            arr = arr.astype(np.int32 if top <= np.iinfo(np.int32).max else np.int64)
    return np.asarray(check_labels(arr, path.name))
