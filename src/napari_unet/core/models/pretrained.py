"""Built-in models shipped inside the package (no download, no network).

``pretrained("nuclei")`` loads the starter U-Net for fluorescence nuclei, trained by this
project on DSB2018 fluorescence images (``scripts/train_starter.py``);
``pretrained("nuclei-brightfield")`` the one for dark nuclei on a bright background
(brightfield and H&E histology), fine-tuned from it on the DSB2018 histology and brightfield
images (``scripts/train_nuclei.py``). See docs/starter-model.md. The model files are
ordinary safe model files (:mod:`napari_unet.core.models.modelfile`): tensors plus JSON
metadata, never pickle.

Names can be given wherever a model file is expected (the Predict dock, ``napari-unet
predict nuclei IMAGE``, ``napari-unet train --init nuclei``): :func:`resolve_model` turns a
built-in name into its file and leaves real paths alone. The name ``"auto"`` chooses between
them by the image (:func:`choose_pretrained`): ``nuclei`` for bright objects on a dark
background, ``nuclei-brightfield`` for dark objects on a bright one.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from napari_unet.core.errors import InputError

#: Built-in model names and their files in ``napari_unet/data``.
PRETRAINED: dict[str, str] = {
    "nuclei": "nuclei.unet.safetensors",
    "nuclei-brightfield": "nuclei-brightfield.unet.safetensors",
}
#: The name that chooses a built-in model by the image (:func:`choose_pretrained`).
AUTO = "auto"
#: The kind of image each built-in model is for (what ``auto`` says when it chooses it).
KINDS: dict[str, str] = {
    "nuclei": "bright objects on a dark background",
    "nuclei-brightfield": "dark objects on a bright background",
}


def _unknown(name: object) -> InputError:
    known = ", ".join(repr(k) for k in PRETRAINED)
    return InputError(
        f"unknown built-in model {name!r}; known built-in models: {known}, and {AUTO!r} "
        "(chooses between them by the image)"
    )


def choose_pretrained(image, channel_axis=None, channel=None) -> str:
    """The built-in model for ``image``: ``"nuclei-brightfield"`` or ``"nuclei"``.

    ``nuclei-brightfield`` when the image shows dark objects on a bright background
    (brightfield, H&E; :func:`~napari_unet.core.images.contrast.dark_on_bright`), else
    ``nuclei`` (fluorescence). ``channel_axis`` and ``channel`` (the channel a grey model
    reads of a multichannel image) as for ``segment``: judged on what the model will read.

    Raises
    ------
    InputError
        If ``image`` is not an image array (read a file with ``read_image`` first).
    """
    from napari_unet.core.images.contrast import dark_on_bright

    if isinstance(image, str | os.PathLike):
        raise InputError(
            f"choosing a built-in model needs the image's pixels, not a file name ({image}): "
            "read it first (napari_unet.read_image)"
        )
    return "nuclei-brightfield" if dark_on_bright(image, channel_axis, channel) else "nuclei"


def _needs_image(name: str) -> InputError:
    return InputError(
        f"the built-in model {name!r} chooses by the image: give the image (or name a "
        f"built-in model: {', '.join(repr(k) for k in PRETRAINED)})"
    )


def pretrained_path(name: str, image=None, channel=None) -> Path:
    """The file of a built-in model.

    Parameters
    ----------
    name : str
        A name of :data:`PRETRAINED` (``"nuclei"``), or ``"auto"`` with ``image``.
    image : array-like, optional
        The image ``"auto"`` chooses for (:func:`choose_pretrained`).
    channel : None, "mean" or int
        The channel a grey model will read of a multichannel ``image``.

    Returns
    -------
    pathlib.Path
        The model file inside the installed package.

    Raises
    ------
    InputError
        If ``name`` is not a built-in model (the message lists the known ones), or the
        file is missing from the installation.
    """
    if name == AUTO:
        if image is None:
            raise _needs_image(AUTO)
        name = choose_pretrained(image, channel=channel)
    if not isinstance(name, str) or name not in PRETRAINED:
        raise _unknown(name)
    path = Path(str(resources.files("napari_unet") / "data" / PRETRAINED[name]))
    if not path.is_file():
        raise InputError(
            f"the built-in model {name!r} is missing from this installation ({path.name}); "
            "reinstall napari-unet"
        )
    return path


def builtin_files() -> dict[Path, str]:
    """The resolved path of every built-in model's file (:data:`PRETRAINED`), and its name."""
    data = Path(str(resources.files("napari_unet") / "data"))
    return {(data / file).resolve(): name for name, file in PRETRAINED.items()}


def refuse_builtin(path: str | os.PathLike) -> None:
    """Refuse (InputError) ``path`` as an output of a dock or a command: a built-in model.

    An editable install keeps the built-in files writable: a model saved over one was what
    every ``"nuclei"`` (and ``"auto"``) loaded afterwards. The Python API does not refuse
    them (``scripts/train_nuclei.py`` writes the built-in file on purpose).
    """
    name = builtin_files().get(Path(path).expanduser().resolve())
    if name is not None:
        raise InputError(
            f"cannot write {path}: that is the built-in model {name!r}; choose another file"
        )


def pretrained(name: str = "nuclei", device="cpu", image=None, channel=None):
    """Load a built-in model.

    Parameters
    ----------
    name : str
        A name of :data:`PRETRAINED` (``"nuclei"``), or ``"auto"``: the one for ``image``
        (:func:`choose_pretrained`).
    device : str or torch.device
        Where to put the model (``"cpu"``, ``"cuda"``, ``"auto"``, ...).
    image : array-like, optional
        The image to choose for, with ``"auto"``.
    channel : None, "mean" or int
        The channel a grey model will read of a multichannel ``image`` (as ``segment``'s).

    Returns
    -------
    tuple of (torch.nn.Module, dict)
        The model in eval mode and its metadata (provenance, metrics, post-processing), as
        :func:`napari_unet.core.models.modelfile.load_model` returns them.

    Raises
    ------
    InputError
        If ``name`` is unknown; the message lists the known names.
    """
    from napari_unet.core.models.modelfile import load_model

    return load_model(pretrained_path(name, image, channel), device=device)


def is_pretrained_name(value: str | os.PathLike) -> bool:
    """True if ``value`` is a built-in model name and not an existing file.

    A folder of that name (of images, say) does not hide the built-in model. ``"auto"`` is
    one too (:func:`choose_pretrained`).
    """
    names = (*PRETRAINED, AUTO)
    return isinstance(value, str | Path) and str(value) in names and not Path(value).is_file()


def resolve_model(value: str | os.PathLike, image=None) -> Path:
    """A model file for a path or a built-in name (an existing file of that name wins).

    ``"auto"`` needs the ``image`` to choose for (:func:`choose_pretrained`).
    """
    if is_pretrained_name(value):
        return pretrained_path(str(value), image)
    return Path(value)
