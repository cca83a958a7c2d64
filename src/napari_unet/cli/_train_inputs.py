"""``napari-unet train``'s inputs: image, label and region files, and its start model."""

from __future__ import annotations

import sys
from pathlib import Path

from napari_unet.core.errors import InputError


def expand(paths: list[Path], what: str, labels: bool = False) -> list[Path]:
    """Files given and the images of folders given (sorted; hidden files left out).

    ``labels``: of a folder of label files, those a review set aside
    (``b_labels.old.tif``) are skipped with a note, as measure and evaluate skip them
    (before, a review's labels folder counted one label file too many).
    """
    from napari_unet.cli._label_pairs import without_set_aside
    from napari_unet.core.images.io import IMAGE_SUFFIXES

    out: list[Path] = []
    for p in paths:
        if p.is_dir() and p.suffix.lower() != ".zarr":
            inside = (q for q in p.iterdir() if not q.name.startswith("."))  # ._a.tif of macOS
            found = sorted(q for q in inside if q.suffix.lower() in IMAGE_SUFFIXES)
            found = without_set_aside(found, "train") if labels else found
            if not found:
                raise InputError(f"{what}: folder {p} holds no image files")
            out.extend(found)
        else:
            out.append(p)
    return out


def image_and_label_files(
    images: list[Path], labels: list[Path], flags: tuple[str, str], note: bool = True
) -> tuple[list[Path], list[Path]]:
    """The image files and label files of ``--images`` and ``--labels`` (or ``--val``...).

    A folder given as both holds images and their label files side by side (Cellpose's
    ``a.png`` with ``a_cp_masks.png``): its images are the files not named as the labels
    of an image beside them, and its label files those that are
    (:func:`~napari_unet.core.review.folders.images_only`, as predict and measure read a
    folder); a note says so. Before, every file of it was an image and a label file, each
    paired with itself (an image's grey values trained as its own labels). An images
    folder apart from its labels loses those files too (:func:`_images_of`). ``note``:
    print the notes.
    """
    from napari_unet.cli.measure import image_name
    from napari_unet.core.review.folders import images_only

    both = {p.resolve() for p in images if p.is_dir()} & {p.resolve() for p in labels}
    out_images, out_labels = [], []
    for folder in images:
        if folder.resolve() not in both:
            out_images += _images_of(folder, flags[0], note)
            continue
        found = expand([folder], flags[0])
        alone = images_only(found)
        named = [q for q in found if q not in alone and image_name(q) != q.stem]
        if not named:
            raise InputError(
                f"{flags[0]} and {flags[1]} both name the folder {folder}, and none of its "
                "files is named as the labels of an image beside it (NAME_labels.tif, "
                "NAME_masks.tif or NAME_cp_masks.png beside NAME.png): put the label files "
                f"in a folder of their own and give that as {flags[1]}"
            )
        if note:
            print(f"napari-unet train: note: {flags[0]} and {flags[1]} both name {folder}: "
                  f"its {len(alone)} image(s) are the files not named as the labels of an "
                  f"image beside them, its {len(named)} label file(s) those that are "
                  f"({named[0].name}...)", file=sys.stderr)  # fmt: skip
        out_images += alone
        out_labels += named
    out_labels += expand([p for p in labels if p.resolve() not in both], flags[1], labels=True)
    return out_images, out_labels


def _images_of(path: Path, flag: str, note: bool) -> list[Path]:
    """The images of a file or folder of ``--images`` (or ``--val``).

    Of a folder, the files named as the labels or results of an image beside them
    (``a_labels.tif`` beside ``a.png``, which ``predict -o`` into the images folder writes)
    are left out with a note, as predict, evaluate and measure read a folder
    (:func:`~napari_unet.core.review.folders.images_only`). Before, they were counted as
    images: "2 images (--images) but 1 label files (--labels)".
    """
    from napari_unet.core.review.folders import images_only

    found = expand([path], flag)
    if not path.is_dir() or path.suffix.lower() == ".zarr":
        return found
    kept = images_only(found)
    left = [q.name for q in found if q not in kept]
    if left and note:
        print(f"napari-unet train: note: {flag} {path}: left out {len(left)} file(s) named "
              f"as the labels or results of an image beside them ({', '.join(left[:3])}"
              f"{', ...' if len(left) > 3 else ''}); give a file by name to train on it",
              file=sys.stderr)  # fmt: skip
    return kept


def check_not_own_labels(paired, flags: tuple[str, str]) -> None:
    """Refuse a label file that is its own image (``--images a.png --labels a.png``)."""
    for _, label, image in paired:
        if image is not None and label.resolve() == image.resolve():
            raise InputError(
                f"{label} is given as an image ({flags[0]}) and as its own label file "
                f"({flags[1]}): its grey values would be trained as object ids; give the "
                "label image that annotates it"
            )


def read(paths: list[Path], grey: bool = False, labels: bool = False, like=None) -> list:
    """Each file as a numpy array (``grey``: colour averaged, see :func:`_grey`).

    ``like``: the label arrays of the images, whose shapes tell which axis is channels. A
    stack the file names z or t with 2D labels is refused
    (:func:`~napari_unet.core.images.named.check_labelled_planes`), before ``--grey``: its
    planes would be trained as channels (or averaged), a model predict then refused.
    """
    import numpy as np

    from napari_unet.core.images.io import read_image
    from napari_unet.core.images.named import check_labelled_planes

    arrays = []
    for k, p in enumerate(paths):
        a = np.asarray(read_image(p, labels=labels))
        if like is not None:
            check_labelled_planes(p, a, tuple(like[k].shape))
        arrays.append(_grey(a, None if like is None else like[k].shape) if grey else a)
    return arrays


def refuse_masks(arrays: list, paths: list[Path]) -> None:
    """Refuse a label file that is a mask: boolean, or 0/255 with every cell one id.

    :func:`~napari_unet.core.images.labels.check_not_mask`: before, an 8-bit 0/255 mask
    trained (and validated) all its cells as one object, silently.
    """
    from napari_unet.core.images.labels import check_not_mask

    for a, p in zip(arrays, paths, strict=True):
        check_not_mask(a, str(p))


def _grey(a, label_shape=None):
    """``--grey``: a colour image or stack as their mean, an alpha left out.

    The channel axis is the axis the labels lack (``(Y, X, 3)``, ``(3, Y, X)``,
    ``(Z, Y, X, 3)`` or ``(Z, 3, Y, X)``; any number of channels, e.g. 2); without labels
    that tell, the last of 3 or 4. Before, a colour image stored channels first, or one of
    2 channels, trained a multichannel model despite ``--grey``.
    """
    import numpy as np

    from napari_unet.core.images.layout import extra_axis, is_alpha

    axis = None if label_shape is None else extra_axis(a.shape, tuple(label_shape))
    if axis is None:
        last = a.ndim in (3, 4) and a.shape[-1] in (3, 4) and a.shape[-1] < min(a.shape[-3:-1])
        if not last or (label_shape is not None and a.shape == tuple(label_shape)):
            return a
        axis = a.ndim - 1
    if a.shape[axis] < 2 or (label_shape is None and a.shape[axis] not in (3, 4)):
        return a  # the axis the labels lack is channels, however many (before: 3 or 4 only)
    a = np.moveaxis(a, axis, -1)
    if a.shape[-1] == 4 and is_alpha(a[..., 3]):
        a = a[..., :3]
    return a.mean(axis=-1, dtype=np.float32)


def start_model(args) -> Path:
    """``--init``'s model file; ``auto``: the built-in model most training images get.

    Chosen on up to eight of the training images (a tie goes to the first image's), as
    ``train(init="auto")`` and the Train dock choose.
    """
    from collections import Counter

    from napari_unet.core.images.io import read_image
    from napari_unet.core.models import pretrained as built_in

    if str(args.init) != built_in.AUTO or not built_in.is_pretrained_name(args.init):
        return built_in.resolve_model(args.init)
    flags = ("--images", "--labels")
    labels = getattr(args, "labels", None) or []  # a folder of both: its images only
    files = image_and_label_files(args.images, labels, flags, note=False)[0][:8]
    votes = Counter(built_in.choose_pretrained(read_image(f, lazy=True)) for f in files)
    name = votes.most_common(1)[0][0]
    on = files[0].name if len(files) == 1 else f"{votes[name]} of {len(files)} training images"
    print(f"--init auto: built-in model {name} (chosen on {on})")
    return built_in.pretrained_path(name)
