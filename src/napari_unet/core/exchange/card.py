"""What a bioimage.io package tells people: its documentation page, cover, citations and tags.

Pure functions of a model's config and metadata (the cover also of a test image and its
prediction); no bioimageio import here, so the texts are testable on their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: (text, DOI) of the papers a package cites, by what it holds.
UNET_PAPER = (
    "Ronneberger O, Fischer P, Brox T (2015). U-Net: Convolutional Networks for Biomedical "
    "Image Segmentation. MICCAI 2015, LNCS 9351, 234-241.",
    "10.1007/978-3-319-24574-4_28",
)
ARCH_PAPERS = {
    "unetpp": (
        "Zhou Z, Rahman Siddiquee MM, Tajbakhsh N, Liang J (2018). UNet++: A Nested U-Net "
        "Architecture for Medical Image Segmentation. DLMIA 2018, LNCS 11045, 3-11.",
        "10.1007/978-3-030-00889-5_1",
    ),
    "unet3p": (
        "Huang H, Lin L, Tong R, et al. (2020). UNet 3+: A Full-Scale Connected UNet for "
        "Medical Image Segmentation. ICASSP 2020, 1055-1059.",
        "10.1109/ICASSP40776.2020.9053405",
    ),
}
DSB2018 = (
    "Caicedo JC, Goodman A, Karhohs KW, et al. (2019). Nucleus segmentation across imaging "
    "experiments: the 2018 Data Science Bowl. Nature Methods 16, 1247-1253 (BBBC038, CC0).",
    "10.1038/s41592-019-0612-7",
)
ARCH_NAMES = {"unet": "U-Net", "unetpp": "UNet++", "unet3p": "UNet 3+"}
HEAD_TEXT = {
    "paper": "two classes (background, cell); touching cells were separated in the training "
    "target by a background gap, so instances are the connected components of the cell "
    "probability above a threshold",
    "3class": "three classes (background, cell interior, cell boundary); instances grow from "
    "the connected components of the interior over the boundary",
    "distance": "two classes (background, cell) and each cell's distance to its outline "
    "(normalised to 1 at its centre); instances are a watershed of the distance map seeded "
    "where it is high, inside the cell probability above a threshold",
}


def uses_dsb2018(metadata: dict) -> bool:
    """True if the model's provenance names DSB2018 / BBBC038 as (part of) its data."""
    text = json.dumps(metadata.get("provenance", {})).lower()
    return "dsb2018" in text or "bbbc038" in text or "data science bowl" in text


def dark_on_bright(metadata: dict) -> bool:
    """True for a model of dark nuclei on a bright background (brightfield, H&E histology).

    The ``background`` its training recorded (``"bright"``), else what the model file says
    of itself: its name, description, recipe or start (``nuclei-brightfield`` and models
    fine-tuned from it; a recipe with ``--kinds histo``).
    """
    if metadata.get("background") in ("dark", "bright"):
        return metadata["background"] == "bright"
    prov = metadata.get("provenance") or {}
    said = [metadata.get("name"), metadata.get("description"), prov.get("recipe"),
            prov.get("source")]  # fmt: skip
    text = " ".join(str(t) for t in said if t).lower()
    return "brightfield" in text or "histolog" in text or "--kinds histo" in text


def citations(config: dict, metadata: dict) -> list[tuple[str, str]]:
    """``(text, doi)`` of the U-Net paper, the architecture's paper and the training data."""
    found = [UNET_PAPER]
    if config.get("arch") in ARCH_PAPERS:
        found.append(ARCH_PAPERS[config["arch"]])
    if uses_dsb2018(metadata):
        found.append(DSB2018)
    return found


def tags(config: dict, metadata: dict) -> list[str]:
    """Search tags for the package."""
    head = config.get("head") or "paper"
    found = ["napari-unet", "unet", "2d", "pytorch", "segmentation", "instance-segmentation"]
    found += [config.get("arch", "unet"), f"{head}-head"]
    names = " ".join(metadata.get("class_names", [])) + " " + str(metadata.get("name", ""))
    if dark_on_bright(metadata):
        found += ["nuclei", "brightfield-microscopy", "histology"]
    elif "nucle" in names.lower() or uses_dsb2018(metadata):
        found += ["nuclei", "fluorescence-light-microscopy"]
    else:
        found.append("cells")
    return list(dict.fromkeys(found))


def _flatten(prefix: str, value, rows: list) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), sub, rows)
    elif isinstance(value, bool | int | float | str) and not isinstance(value, bool):
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append((prefix, shown))


def validation_rows(metadata: dict) -> list[tuple[str, str]]:
    """The model's recorded scores as ``(name, value)`` rows (nested keys joined by dots)."""
    rows: list[tuple[str, str]] = []
    _flatten("", metadata.get("metrics") or {}, rows)
    return rows


def _provenance_lines(metadata: dict) -> list[str]:
    prov = dict(metadata.get("provenance") or {})
    lines = []
    for key in ("source", "data_source", "recipe", "steps", "date", "device", "package_version",
                "torch_version"):  # fmt: skip
        if key in prov:
            lines.append(f"- {key}: {prov[key]}")
    data = prov.get("data")
    if isinstance(data, list):
        lines.append(f"- training images: {len(data)} (names in the package's config)")
    elif data:
        lines.append(f"- data: {data}")
    return lines or ["- not recorded in the model file"]


#: The spec's longest description.
MAX_DESCRIPTION = 1024
_SHORTENED = " ... (shortened; the whole description is in the README)"


def short_description(metadata: dict, config: dict) -> str:
    """The package's description: the model's (cut to the spec's 1024 characters), or one made.

    Before, a recorded description over 1024 characters made export fail, and the command
    had no way to give another; the README keeps the whole text.
    """
    text = metadata.get("description")
    if not isinstance(text, str) or not text.strip():
        return f"2D {ARCH_NAMES.get(config['arch'])} for cell segmentation (napari-unet)"
    if len(text) <= MAX_DESCRIPTION:
        return text
    return text[: MAX_DESCRIPTION - len(_SHORTENED)].rstrip() + _SHORTENED


def documentation(
    name: str, config: dict, metadata: dict, geometry: dict, pre: str, min_size: int, test: str
) -> str:
    """The package's README: what it does, how to run it, validation scores, provenance.

    ``min_size`` is the smallest input size the package declares; ``test`` says what the
    test input is.
    """
    head = config.get("head") or "paper"
    arch = ARCH_NAMES.get(config.get("arch"), config.get("arch"))
    post = metadata.get("postprocess") or {}
    rows = validation_rows(metadata)
    table = ["| score | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in rows]
    if not rows:
        table = ["No scores were recorded in the model file."]
    cites = "\n".join(f"- {text} doi:{doi}" for text, doi in citations(config, metadata))
    one = config.get("n_classes") == 1  # a sigmoid network: its one channel is the cell's
    applied = "sigmoid" if one else "softmax (and, for a distance channel, the sigmoid)"
    said = HEAD_TEXT.get(head, head)
    said = said.replace("two classes (background, cell)", "one class (cell)") if one else said
    return f"""# {name}

A 2D {arch} ({config.get("padding", "same")} convolutions, {config.get("base_channels")} base
channels, {config.get("depth")} levels) for cell segmentation, exported from napari-unet.
{metadata.get("description", "")}

## Input and output

- input `input`: one image plane, axes (batch, channel, y, x), {config.get("in_channels", 1)}
  channel(s), float32. Sizes: {min_size} + k * {geometry["divisor"]} pixels per axis (the
  network accepts {geometry["min_input_size"]} + k * {geometry["divisor"]}; the package
  declares the smallest size that leaves output after its halo).
- preprocessing: {pre}
- output `probabilities`: axes (batch, channel, y, x), channels
  {", ".join(metadata.get("class_names", []))}; the network applies the {applied}
  itself, so the output is probabilities in [0, 1].
- halo: {geometry["halo"]} px per side (tiles overlapping by this much give the
  whole-image result); unpadded networks already crop it (output = input - 2 x halo).

## Post-processing (instances)

The head is `{head}`: {said}. napari-unet's recommended settings for
this model: {json.dumps(post) if post else "the defaults (threshold 0.5)"}. They are kept
in the package's `config.napari_unet` so `napari-unet import` restores them; other tools
can threshold the cell probability (channel {0 if one else 1}) and label connected components.

## Validation

Scores recorded by napari-unet when the model was trained and evaluated:

{chr(10).join(table)}

The package's test input is {test}; its test output is napari-unet's own prediction,
normalised as the package's preprocessing does (napari-unet's noise floor and clip of
bright specks off), which `bioimageio test` reproduces with each weight format.

## Training provenance

{chr(10).join(_provenance_lines(metadata))}

## Citations

{cites}

## Use in napari-unet

`napari-unet import PACKAGE.zip -o MODEL.safetensors` restores the model file (same
tensors, same settings); the architecture file `napari_unet_arch.py` in this package
needs only torch.
"""


def write_cover(path: Path, image: np.ndarray, probabilities: np.ndarray) -> Path:
    """A 2:1 PNG: the test image beside it with the cell probability overlaid in green."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), dpi=100)
    FigureCanvasAgg(fig)
    for i in range(2):
        ax = fig.add_axes((i / 2, 0, 0.5, 1))
        ax.imshow(image, cmap="gray")
        if i:
            ax.imshow(probabilities, cmap="Greens", alpha=0.5 * (probabilities > 0.05), vmin=0,
                      vmax=1)  # fmt: skip
        ax.set_axis_off()
    fig.savefig(path)
    return path
