"""Annotation projects on disk: annotations, annotated region and image identity.

Layout of a project folder (by default ``<image stem>.napari-unet/`` beside the image, or
``<image file name>.napari-unet/`` when that one is another file's project)::

    annotations.tif   instance mask (uint16, or uint32 above 65535 ids), zlib-compressed
    region.json       the "annotated region" shapes, restorable as editable napari shapes
    project.json      identity of the image (name, file name, shape, dtype, content hash,
                      scale, translate; :mod:`.identity`) and the napari-unet version

Every file is written atomically (temporary file in the same folder, then rename), so a
crash leaves either the previous or the new version, never a torn file; annotations.tif is
written last. Which folder is an image's, and which is refused: :mod:`.folders`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_unet.core.annotation.folders import (
    ANNOTATIONS_FILE,
    PROJECT_FILE,
    PROJECT_SUFFIX,
    REGION_FILE,
    check_project_folder,
    holds_project,
    project_folder_for,
    project_image_name,
)
from napari_unet.core.annotation.identity import (
    FORMAT_VERSION,
    HASH_SAMPLES,
    content_hash,
    identity_warnings,
    image_identity,
)
from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_write

__all__ = [
    "ANNOTATIONS_FILE",
    "FORMAT_VERSION",
    "HASH_SAMPLES",
    "PROJECT_FILE",
    "PROJECT_SUFFIX",
    "REGION_FILE",
    "Project",
    "check_project_folder",
    "content_hash",
    "folder_is_writable",
    "holds_project",
    "identity_warnings",
    "image_identity",
    "load_project",
    "project_folder_for",
    "project_image_name",
    "read_annotations",
    "save_project",
    "write_annotations",
]


@dataclass(frozen=True)
class Project:
    """What a project folder holds.

    Attributes
    ----------
    annotations : numpy.ndarray or None
        The instance mask, None when not saved yet.
    region_data : list of numpy.ndarray
        Vertices of the annotated-region shapes.
    region_types : list of str
        napari shape type of each region shape.
    identity : dict
        The image identity saved with the annotations (may be empty).
    """

    annotations: np.ndarray | None
    region_data: list[np.ndarray] = field(default_factory=list)
    region_types: list[str] = field(default_factory=list)
    identity: dict = field(default_factory=dict)


def folder_is_writable(folder: str | os.PathLike) -> bool:
    """Return True if files can be written in ``folder`` (or it can be created)."""
    p = Path(folder).absolute()
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK)


def _check_folder(folder: Path) -> None:
    """Make the project folder itself, never a missing folder above it; else InputError.

    A folder above it that is gone was moved, renamed or removed since it was chosen
    (the data folder tidied away): before, each save made the old path again and wrote
    the new work there, away from the moved image's project, and said "Saved".
    """
    if not folder.is_dir() and not folder.parent.exists():
        raise InputError(
            f"the project folder {folder} is inside {folder.parent}, which does not exist "
            "(moved, renamed or removed?): nothing was written, and only the project folder "
            "itself is ever made; choose a project folder"
        )
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the project folder {folder}: {exc.strerror or exc}; "
            "choose a writable folder"
        ) from exc
    if not os.access(folder, os.W_OK):
        raise InputError(f"the project folder {folder} is read-only; choose a writable folder")


def _write_json(path: Path, obj) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def save_project(
    folder: str | os.PathLike,
    annotations: np.ndarray | None = None,
    region_data: Sequence[np.ndarray] | None = None,
    region_types: Sequence[str] | None = None,
    identity: dict | None = None,
    image: str | os.PathLike | None = None,
) -> Path:
    """Write (parts of) a project atomically; parts given as None are left as they are.

    Parameters
    ----------
    folder : path-like
        The project folder; created if missing.
    annotations : numpy.ndarray, optional
        Integer instance mask.
    region_data, region_types : sequence, optional
        Annotated-region shapes (vertices and napari shape types).
    identity : dict, optional
        From :func:`image_identity`.
    image : path-like, optional
        The image file: a folder that is not its project is refused
        (:func:`check_project_folder`), so the image itself is never written over.

    Returns
    -------
    pathlib.Path
        The project folder.

    Raises
    ------
    InputError
        If the folder cannot be created or written, is not the image's, or the annotations
        are not integer.
    """
    folder = Path(folder)
    check_project_folder(folder, image, identity=identity)
    _check_folder(folder)
    region = None
    if region_data is not None:  # checked before anything is written
        types = list(region_types or [])
        if len(types) != len(region_data):
            raise InputError("expected one shape type per region shape")
        shapes = [
            {"type": t, "data": np.asarray(d, dtype=float).tolist()}
            for d, t in zip(region_data, types, strict=True)
        ]
        region = {"format": FORMAT_VERSION, "shapes": shapes}
    # annotations.tif is never on disk without project.json or region.json beside it (a
    # bare one is a user's own file: folders._foreign_annotations), and the region is
    # written after the annotations: a failed write (disk full) never leaves a region
    # claiming area whose cells were not saved (read as annotated background). Before,
    # region.json always went first. Only a folder with neither file gets the region first.
    marked = identity is not None or any((folder / n).exists() for n in (PROJECT_FILE, REGION_FILE))
    try:
        if identity is not None:
            _write_json(folder / PROJECT_FILE, identity)
        if region is not None and not marked:
            _write_json(folder / REGION_FILE, region)
        if annotations is not None:
            write_annotations(folder / ANNOTATIONS_FILE, annotations)
        if region is not None and marked:
            _write_json(folder / REGION_FILE, region)
    except PermissionError as exc:
        raise InputError(
            f"cannot write to the project folder {folder} (permission denied); "
            "choose a writable folder"
        ) from exc
    return folder


def write_annotations(path: str | os.PathLike, annotations: np.ndarray) -> Path:
    """Write an instance mask as a zlib TIFF (uint16, or uint32 when ids exceed 65535)."""
    arr = np.asarray(annotations)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"annotations must be integer labels; got {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise InputError("annotations must not hold negative ids")
    top = int(arr.max()) if arr.size else 0
    if top > np.iinfo(np.uint32).max:  # would wrap round and merge cells
        raise InputError(
            f"annotations hold id {top}, above the largest a TIFF mask keeps (2^32 - 1); "
            "relabel them (skimage.segmentation.relabel_sequential)"
        )
    dtype = np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32
    import tifffile

    path = Path(path)
    with atomic_write(path) as tmp:
        # minisblack: tifffile would record a 3- or 4-plane stack as planar RGB otherwise
        tifffile.imwrite(
            tmp, arr.astype(dtype, copy=False), photometric="minisblack", compression="zlib"
        )
    return path


def read_annotations(path: str | os.PathLike, expected_shape: Sequence[int] | None) -> np.ndarray:
    """Read an instance mask TIFF and check it fits the image.

    Parameters
    ----------
    path : path-like
        A TIFF file of integer labels.
    expected_shape : sequence of int, optional
        The shape the annotations must have.

    Returns
    -------
    numpy.ndarray
        The labels as uint32 (ids above 2^31 - 1 renumbered 1..N, so they fit a layer).

    Raises
    ------
    InputError
        If the file is missing or unreadable, not integer, negative, or of another shape.
    """
    from napari_unet.core.images.io import read_image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such annotation file")
    arr = np.asarray(read_image(path, labels=True))  # checked: damaged or oversized: refused
    arr = np.squeeze(arr) if expected_shape is not None and arr.ndim > len(expected_shape) else arr
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{path} holds {arr.dtype} values; expected integer instance labels")
    if arr.size and arr.min() < 0:
        raise InputError(f"{path} holds negative values; expected instance ids >= 0")
    if expected_shape is not None and tuple(arr.shape) != tuple(expected_shape):
        raise InputError(
            f"{path} has shape {tuple(arr.shape)} but the image's annotations need shape "
            f"{tuple(expected_shape)}; it was made for another image, or for this one with "
            "its first axis read another way (channels or planes)"
        )
    if arr.size and int(arr.max()) > np.iinfo(np.int32).max:  # ids of another tool
        from skimage.segmentation import relabel_sequential

        arr = relabel_sequential(arr)[0]  # numbered 1..N: a cast would merge cells
    return arr.astype(np.uint32, copy=False)


def load_project(
    folder: str | os.PathLike,
    expected_shape: Sequence[int] | None = None,
    image: str | os.PathLike | None = None,
) -> Project | None:
    """Read a project folder.

    Parameters
    ----------
    folder : path-like
        The project folder.
    expected_shape : sequence of int, optional
        Shape the annotations must have (the labels shape of the image).
    image : path-like, optional
        The image file: a folder that is not its project is refused
        (:func:`check_project_folder`), so the image is never read as its annotations.

    Returns
    -------
    Project or None
        None when the folder holds no project yet.

    Raises
    ------
    InputError
        If saved annotations have another shape (they are left untouched on disk), a
        file is unreadable, or the folder is not the image's.
    """
    folder = Path(folder)
    check_project_folder(folder, image)
    if not holds_project(folder):
        return None
    annotations = None
    if (folder / ANNOTATIONS_FILE).exists():
        annotations = read_annotations(folder / ANNOTATIONS_FILE, expected_shape)
    data: list[np.ndarray] = []
    types: list[str] = []
    identity: dict = {}
    try:
        if (folder / REGION_FILE).exists():
            data, types = _read_region(folder / REGION_FILE, expected_shape)
        if (folder / PROJECT_FILE).exists():
            identity = json.loads((folder / PROJECT_FILE).read_text())
            if not isinstance(identity, dict):
                raise ValueError(f"{PROJECT_FILE} holds {type(identity).__name__}, not a table")
    except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
        raise InputError(f"the project in {folder} is damaged: {exc}") from None
    return Project(annotations, data, types, identity)


#: napari's shape types (areas and lines alike; only areas count as annotated region).
SHAPE_TYPES = ("rectangle", "ellipse", "polygon", "path", "line")


def _read_region(path: Path, expected_shape) -> tuple[list[np.ndarray], list[str]]:
    """The saved region's shapes, checked (raises ValueError or InputError)."""
    from napari_unet.core.annotation.regions import check_region_fits

    saved = json.loads(path.read_text())
    if not isinstance(saved, dict) or not isinstance(saved.get("shapes", []), list):
        raise ValueError(f"{REGION_FILE} is not a table with a list of shapes")
    data, types = [], []
    for shape in saved.get("shapes", []):
        verts = np.asarray(shape["data"], dtype=float)
        kind = str(shape["type"])
        if kind not in SHAPE_TYPES:
            raise ValueError(f"unknown shape type {kind!r} in {REGION_FILE}")
        if verts.ndim != 2 or verts.shape[0] < 2 or not np.isfinite(verts).all():
            raise ValueError(f"a {kind} in {REGION_FILE} has vertices of shape {verts.shape}")
        data.append(verts)
        types.append(kind)
    if expected_shape is not None:
        # The shapes fit the image's labels (checked without rasterising them).
        check_region_fits(data, types, expected_shape)
    return data, types
