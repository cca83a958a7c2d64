"""What the Train dock checks when Train or Resume is pressed, before any work.

Which file the run writes (:func:`output_of`: the chosen or default path, claimed by
:func:`~napari_unet.widgets._train_outputs.claim_output`), and that a Resume continues the
network the form shows (:func:`check_resume`).
"""

from __future__ import annotations

from pathlib import Path


def output_of(dock, pairs, init) -> tuple[Path | None, str]:
    """The model file the run of ``dock`` writes (claimed for it), and a note on it.

    ``pairs``: the (image, labels, region) layers trained on; ``init``: the model file it
    starts from (None: scratch or Resume). Raises InputError.
    """
    from napari_unet.widgets import _train_helpers as th
    from napari_unet.widgets import _train_outputs as to

    chosen = th.typed_path(dock._save_path.value)  # a typed ~/m.safetensors: the home's
    explicit = chosen is not None and chosen != dock._suggested
    layers = [ly for pair in pairs for ly in pair if ly is not None]
    sources = [getattr(getattr(ly, "source", None), "path", None) for ly in layers]
    output, note = to.claim_output(
        output_path(pairs[0][0], chosen), explicit, dock._written, dock._done,
        inputs=[*sources, init],
    )  # fmt: skip
    th.check_output(output, layers, init)  # a chosen input is refused
    return output, note


def output_path(image_layer, chosen) -> Path | None:
    """The chosen model path, else ``IMAGE.unet.safetensors`` beside an image from a file.

    A typed ``~`` is the home folder (:func:`~._train_helpers.typed_path`).
    """
    from napari_unet.widgets._train_helpers import typed_path

    typed = typed_path(chosen)
    if typed is not None:
        return typed
    src = getattr(getattr(image_layer, "source", None), "path", None)
    if src:
        p = Path(src)
        return p.with_name(p.stem + ".unet.safetensors")
    return None


def _preset_of(config: dict) -> str | None:
    """The architecture preset a network's config is (None: none of them)."""
    from napari_unet.core.training.config import PRESETS

    for name, preset in PRESETS.items():
        if all(config.get(k) == v for k, v in preset.items()):
            return name
    return None


def check_resume(model: dict, result) -> None:
    """Refuse (InputError) a Resume asking for another network than the run's.

    ``model``: the form's ``config().model`` (empty when it starts from a model: the
    model's own); ``result``: the run resumed. Before, Resume silently kept the run's
    network whatever the architecture chosen, and a changed head got the command line's
    words ("leave the head out"), which the dock cannot do.
    """
    from napari_unet.core.errors import InputError
    from napari_unet.core.models.heads import head_of

    if not model:
        return
    have = dict(getattr(result.model, "config", None) or {})
    head, preset = head_of(have), _preset_of(have)
    if model.get("head", head) == head and _preset_of(model) == preset:
        return
    if preset is None:  # not a preset's network (a fine-tuned custom one)
        raise InputError(
            f"Resume continues the run's own network with a {head!r} head, which no "
            "architecture here describes: set 'start from' back to the model file, or press "
            "Train to start a new run"
        )
    raise InputError(
        f"Resume continues the run's {preset} network with a {head!r} head: set "
        f"architecture back to {preset!r} (head {head!r}), or press Train to start a new run"
    )
