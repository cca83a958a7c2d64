"""Output heads: what a network's output channels mean, chosen per model.

A head fixes the number of output channels, how logits become the probabilities the tiled
prediction blends (:func:`activate`), which channel is the foreground, and so which target,
loss and post-processing go with it (training and :mod:`napari_unet.core.inference.instances`).

- ``paper``: the paper's two classes (background, cell) trained on a target with a thin
  background gap between touching cells, with the boundary weight map. Old model files, and
  networks built without a head, are this head (whatever their class count).
- ``3class``: background, interior, boundary; the weight map emphasises the boundary class
  between touching cells. Instances grow from the interior components over the boundary.
- ``distance``: background and cell (as ``paper``) plus one channel that regresses each cell's
  distance to its own outline, divided by that cell's largest distance (1 at every cell's
  centre, whatever its size); instances are a watershed of that map seeded where it is high.

The head is recorded in the network's config (``config["head"]``), so model files carry it
and :func:`napari_unet.core.models.build_model` rebuilds it. No torch at import.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_unet.core.errors import InputError

__all__ = ["DEFAULT_HEAD", "HEADS", "Head", "activate", "check_head", "head_of"]


@dataclass(frozen=True)
class Head:
    """One head: its output channels and their names."""

    name: str
    n_outputs: int
    class_names: tuple[str, ...]
    #: How many leading channels are softmax classes (the rest are sigmoid maps); None: all
    #: of them (a ``paper`` network of an old file may have any number of classes).
    n_softmax: int | None
    description: str


HEADS: dict[str, Head] = {
    "paper": Head(
        "paper", 2, ("background", "cell"), None,
        "2 classes, touching cells separated by a background gap (Ronneberger et al. 2015)",
    ),
    "3class": Head(
        "3class", 3, ("background", "interior", "boundary"), None,
        "3 classes: background, cell interior, cell boundary",
    ),
    "distance": Head(
        "distance", 3, ("background", "cell", "distance"), 2,
        "2 classes plus each cell's normalised distance to its outline (seeded watershed)",
    ),
}  # fmt: skip
#: The head of a network built without one (and of every model file before heads existed).
DEFAULT_HEAD = "paper"


def check_head(name) -> str:
    """``name`` if it is a known head; InputError otherwise (a list too: it was a TypeError)."""
    if not isinstance(name, str) or name not in HEADS:
        raise InputError(f"unknown head {name!r}; known heads: {', '.join(HEADS)}")
    return name


def head_of(model_or_config) -> str:
    """The head of a network (or of its config dict): its recorded head, else ``paper``."""
    config = model_or_config if isinstance(model_or_config, dict) else None
    if config is None:
        config = getattr(model_or_config, "config", None) or {}
    return config.get("head") or DEFAULT_HEAD


def activate(logits, head: str):
    """Probabilities from ``(N, K, H, W)`` logits (torch) for ``head``.

    Softmax over the head's classes, sigmoid for its regression channels; a one-channel
    ``paper`` network (old files) gets a sigmoid.
    """
    import torch

    spec = HEADS[head]
    k = logits.shape[1]
    if spec.n_softmax is None or spec.n_softmax >= k:
        return torch.sigmoid(logits) if k == 1 else torch.softmax(logits, 1)
    classes = torch.softmax(logits[:, : spec.n_softmax], 1)
    return torch.cat([classes, torch.sigmoid(logits[:, spec.n_softmax :])], 1)
