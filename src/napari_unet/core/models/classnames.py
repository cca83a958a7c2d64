"""The names of a network's output channels, when a model file or package records none."""

from __future__ import annotations


def default_class_names(n_classes: int, model=None) -> list[str]:
    """Channel names: those of ``model``'s head, else the usual ones for the class count.

    A network with a head (:mod:`~napari_unet.core.models.heads`) gets its head's names;
    otherwise ``["background", "cell"]`` for 2 classes, ``["cell"]`` for 1, generic names
    for more.
    """
    from napari_unet.core.models.heads import HEADS

    recorded = (getattr(model, "config", None) or {}).get("head")
    if recorded in HEADS and HEADS[recorded].n_outputs == n_classes:
        return list(HEADS[recorded].class_names)
    if n_classes == 1:
        return ["cell"]
    if n_classes == 2:
        return ["background", "cell"]
    return ["background"] + [f"class {i}" for i in range(1, n_classes)]
