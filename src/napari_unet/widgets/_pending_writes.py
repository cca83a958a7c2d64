"""What the Annotate dock still writes into an annotations layer, and the docks that wait.

An accepted prediction (or an imported TIFF) is written into its layer in parts, one per
turn of the event loop (:mod:`._annotate_work`). A dock that reads the layer meanwhile
calls :func:`settle` first (Train's Train and Resume, Evaluate, the Live dock's Start): the
parts left are written at once, and while the change is still being computed (nothing
written yet) the dock is refused with a message. Before, Train copied the layer half
written: the cells not yet written were trained as background, those cut at a part's edge
as half-cells, and nothing said so.
"""

from __future__ import annotations

import weakref

from napari.utils.notifications import show_error

from napari_unet.core.errors import InputError, in_words

__all__ = ["PARTS", "WRITING", "finish_writing", "settle", "writer"]

#: What writes into each annotations layer now: "Accept prediction" or "Import TIFF".
WRITING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Each layer being written into part by part -> the function that writes the rest at once.
PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def writer(layer) -> str:
    """What writes into ``layer`` now (``"Accept prediction"`` when unknown)."""
    return WRITING.get(layer, "Accept prediction")


def finish_writing(labels) -> None:
    """Write at once what an accept (or import) still has to write into ``labels``.

    Called before a save that cannot wait (napari closing, the session ending) and before
    another dock reads the layer (:func:`settle`): the layer, and so the project, then
    holds the whole accept, as one undo step. Before, a save took the layer mid-way: half
    an accept, its cells cut at a part's edge.
    """
    rest = None if labels is None else PARTS.get(labels)
    if rest is None:
        return
    try:
        rest()
    except Exception as exc:  # noqa: BLE001 - said; the save goes on with what was written
        show_error(f"Could not finish writing into {labels.name!r}: {in_words(exc)}")


def settle(layers, then: str = "try again") -> None:
    """Finish what the Annotate dock writes into ``layers`` before a dock reads them.

    The parts of an accept (or import) left are written at once (:func:`finish_writing`).
    Raises InputError for a layer whose change is still being computed (nothing of it is
    written yet): ``then`` says what to do once it has finished (``"press Train again"``).
    Layers nothing writes into (and None) are left as they are.
    """
    for layer in layers:
        if layer is None or isinstance(layer, str):
            continue
        finish_writing(layer)
        if layer in WRITING:  # its worker still computes the change
            raise InputError(
                f"the Annotate dock's {writer(layer)} is still working on {layer.name!r}: "
                f"wait for it to finish, then {then}"
            )
