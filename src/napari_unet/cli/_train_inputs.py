"""``napari-unet train``'s inputs: image, label and region files, and its start model."""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.errors import InputError


def expand(paths: list[Path], what: str) -> list[Path]:
    """Files given and the images of folders given (sorted; hidden files left out)."""
    from napari_unet.core.images.io import IMAGE_SUFFIXES

    out: list[Path] = []
    for p in paths:
        if p.is_dir() and p.suffix.lower() != ".zarr":
            inside = (q for q in p.iterdir() if not q.name.startswith("."))  # ._a.tif of macOS
            found = sorted(q for q in inside if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{what}: folder {p} holds no image files")
            out.extend(found)
        else:
            out.append(p)
    return out


def read(paths: list[Path], grey: bool = False, labels: bool = False) -> list:
    """Each file as a numpy array (``grey``: colour averaged, see :func:`_grey`)."""
    import numpy as np

    from napari_unet.core.images.io import read_image

    arrays = []
    for p in paths:
        a = np.asarray(read_image(p, labels=labels))
        arrays.append(_grey(a) if grey else a)
    return arrays


def _grey(a):
    """``--grey``: a colour image or stack (channels last) as their mean, an alpha left out."""
    import numpy as np

    from napari_unet.core.images.layout import is_alpha

    if a.ndim not in (3, 4) or a.shape[-1] not in (3, 4) or a.shape[-1] >= min(a.shape[-3:-1]):
        return a
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
    files = expand(args.images, "--images")[:8]
    votes = Counter(built_in.choose_pretrained(read_image(f, lazy=True)) for f in files)
    name = votes.most_common(1)[0][0]
    on = files[0].name if len(files) == 1 else f"{votes[name]} of {len(files)} training images"
    print(f"--init auto: built-in model {name} (chosen on {on})")
    return built_in.pretrained_path(name)
