"""Which project folder is an image's: a project's file names, its default folder, the checks.

A folder is refused as an image's project folder (nothing read from it, nothing written to
it) when its files would be the image itself, when its project.json names another image, or
when it holds an ``annotations.tif`` that napari-unet did not write (no project.json and no
region.json beside it, in a folder not named ``*.napari-unet``: a user's own ground truth,
which autosave would overwrite).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.core.files import same_file

__all__ = [
    "ANNOTATIONS_FILE",
    "PROJECT_FILE",
    "PROJECT_SUFFIX",
    "REGION_FILE",
    "check_project_folder",
    "holds_project",
    "project_folder_for",
    "project_image_name",
]

PROJECT_SUFFIX = ".napari-unet"
ANNOTATIONS_FILE = "annotations.tif"
REGION_FILE = "region.json"
PROJECT_FILE = "project.json"


def project_folder_for(image_path: str | os.PathLike) -> Path:
    """Return the default project folder of an image: ``<stem>.napari-unet`` beside it.

    When that folder is the project of another file that is still there (``cells.tif`` and
    ``cells.png``), it is ``<file name>.napari-unet`` (``cells.png.napari-unet``): never the
    other image's work. A project whose file is gone is this image's (``cells.tif`` saved as
    ``cells.tiff``): its annotations open, and the image's identity says if the pixels differ.
    An image's own ``<file name>.napari-unet`` (its project.json names this file) always comes
    first: before, ``cells.png`` took ``cells.tif``'s folder once ``cells.tif`` was moved away,
    and its own project was left unread. A relative path is made absolute first: before, a
    store opened as ``.`` (from inside it) got ``./.napari-unet``, inside the store.
    """
    p = Path(image_path)
    if not p.is_absolute() or p.name in ("", ".", ".."):
        p = Path(os.path.abspath(p))
    name = p.name[: -len(".ome.tif")] if p.name.lower().endswith(".ome.tif") else p.stem
    plain = p.parent / f"{name}{PROJECT_SUFFIX}"
    own = p.parent / f"{p.name}{PROJECT_SUFFIX}"
    if own != plain and project_image_name(own) == p.name:
        return own
    if _other_owner(plain, p) is not None:
        return own
    return plain


def _other_owner(folder: Path, image: Path) -> str | None:
    """The other image file ``folder``'s project.json names, if it is still beside it."""
    owner = project_image_name(folder)
    return owner if owner not in (None, image.name) and (folder.parent / owner).exists() else None


def _read_identity(folder: str | os.PathLike) -> dict:
    try:
        identity = json.loads((Path(folder) / PROJECT_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return identity if isinstance(identity, dict) else {}


def project_image_name(folder: str | os.PathLike) -> str | None:
    """The image file a project folder belongs to (its project.json's), None if unknown."""
    name = _read_identity(folder).get("file_name")
    return name if isinstance(name, str) and name else None


def holds_project(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds any file of a project (saved annotations, region, identity)."""
    return any((Path(folder) / n).exists() for n in (ANNOTATIONS_FILE, REGION_FILE, PROJECT_FILE))


def check_project_folder(
    folder: str | os.PathLike,
    image: str | os.PathLike | None,
    fileless: bool = False,
    identity: dict | None = None,
) -> None:
    """Refuse a project folder that is not the image file ``image``'s (None: no file).

    Its files must not be the image itself (as :func:`~napari_unet.core.files.check_outputs`
    refuses an output that is an input), nor its project.json name another image file.
    ``fileless``: the image has no file (a layer made in napari, not merely no file given).
    ``identity``: the image's (:func:`~.identity.image_identity`), given by a session that
    will write there; the folder is then checked as one chosen for it (see
    :func:`_check_owner`).
    """
    folder = Path(folder)
    if image is None:
        if fileless:
            _check_foreign(folder)
            _check_fileless(folder, identity or {})
        return
    image = Path(image)
    for name in (ANNOTATIONS_FILE, REGION_FILE, PROJECT_FILE):
        if same_file(folder / name, image):
            raise InputError(
                f"the project folder {folder} would keep its annotations ({name}) in the "
                f"image file itself ({image}); the image is never read as annotations nor "
                "written over"
            )
    if identity is not None:
        _check_foreign(folder)
    _check_owner(folder, image, identity)


def _check_foreign(folder: Path) -> None:
    if _foreign_annotations(folder):
        raise InputError(
            f"the folder {folder} holds an {ANNOTATIONS_FILE} that napari-unet did not "
            f"write (no {PROJECT_FILE} beside it): it is no napari-unet project, and "
            "autosave would overwrite that file; choose another project folder"
        )


def _foreign_annotations(folder: Path) -> bool:
    """Whether ``folder`` holds an annotations.tif napari-unet did not write.

    napari-unet writes project.json (or, in a folder holding neither file, region.json)
    before annotations.tif, and names its folders ``*.napari-unet``: a bare annotations.tif
    elsewhere is a user's own file.
    """
    if folder.name.endswith(PROJECT_SUFFIX) or not (folder / ANNOTATIONS_FILE).is_file():
        return False
    return not any((folder / n).exists() for n in (PROJECT_FILE, REGION_FILE))


def _check_owner(folder: Path, image: Path, identity: dict | None) -> None:
    """Refuse a folder whose project.json names another image file.

    A folder beside the image whose named file is gone is the image's (``cells.tif`` saved
    as ``cells.tiff``: a warning says if its pixels differ). With ``identity`` (a session's
    check) a folder elsewhere is this image's only if it names this file, or names no file
    and has this image's name or pixels; before, a project folder chosen away from the
    images took the next image's annotations and was rewritten as that image's. A folder
    beside the image that names no file (an image without one, a sample) is compared the
    same way: before, any file beside it took it over, and autosave wrote over its work.
    """
    owner = project_image_name(folder)
    if owner == image.name:
        return
    beside = os.path.normcase(os.path.abspath(folder.parent)) == os.path.normcase(
        os.path.abspath(image.parent)
    )
    if owner is not None and (folder.parent / owner).exists():
        other = owner
    elif identity is None or (beside and owner is not None):
        return  # a named file that is gone (cells.tif saved again as cells.tiff)
    elif owner is not None:
        other = owner
    else:
        saved = _read_identity(folder)
        if not _other_image(saved, identity):
            return
        other = f"the image {saved.get('name')!r}"
    raise InputError(
        f"the project folder {folder} holds the annotations of {other}, not of "
        f"{image.name} (if {image.name} is {other} renamed, put its name in "
        f"{PROJECT_FILE}'s file_name)"
    )


def _other_image(saved: dict, identity: dict) -> bool:
    """Whether a saved identity is another image's: its name and its pixels both differ."""
    name, digest = saved.get("name"), saved.get("content_hash")
    if not identity or name is None or digest is None:
        return False  # nothing to tell them apart by
    level = identity.get("smallest_level") or {}
    return name != identity.get("name") and digest not in (
        identity.get("content_hash"),
        level.get("content_hash"),
    )


def _check_fileless(folder: Path, identity: dict) -> None:
    """Refuse another image's project to an image without a file.

    It is another file's when that file is beside the folder, or another image's when its
    saved name and its pixels (content hash) both differ from this image's.
    """
    owner = project_image_name(folder)
    if owner is not None and (folder.parent / owner).exists():
        raise InputError(
            f"the project folder {folder} holds the annotations of {owner}, and this "
            "image has no file: it cannot be told from another image, so it never takes "
            f"{owner}'s project (choose another project folder, or open {owner} itself)"
        )
    saved = _read_identity(folder)
    if _other_image(saved, identity):
        raise InputError(
            f"the project folder {folder} holds the annotations of the image "
            f"{owner or saved.get('name')!r}, not of {identity.get('name')!r} (another "
            "name and other pixels): choose another project folder for this image"
        )
