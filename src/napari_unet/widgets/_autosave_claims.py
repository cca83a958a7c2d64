"""Which running Annotate session autosaves which project folder, in every window.

A project folder is saved by one running session at a time, in all windows of this
process: two sessions autosaving one folder wrote their own layers over each other's cells.
:class:`~._autosave.Autosaver` claims its folder (:func:`claim`); Start and a folder chosen
ask :func:`saved_elsewhere` first.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from napari_unet.widgets._private import real

__all__ = ["claim", "folder_key", "saved_elsewhere"]

#: Project folders running Annotate sessions autosave, in every viewer of this process:
#: resolved folder -> [(its Autosaver, annotations layer, viewer: weakly; image name), ...].
_SAVED_BY: dict[Path, list[tuple]] = {}


def folder_key(folder) -> Path:
    """``folder`` as claims compare it: the user folder expanded, resolved."""
    return Path(folder).expanduser().resolve()


def _saving(saver, key: Path) -> bool:
    """Whether ``saver`` still autosaves the folder ``key`` (its session runs)."""
    if saver is None:
        return False
    try:
        saver.timer.isActive()
    except RuntimeError:  # Qt deleted its dock
        return False
    return saver.enabled and saver.folder is not None and folder_key(saver.folder) == key


def claim(saver) -> None:
    """Note that ``saver``'s session autosaves its folder (its earlier claims dropped).

    A session that ends (its saver reset to no folder, its dock deleted) lets it go.
    """
    for key, claims in list(_SAVED_BY.items()):
        claims[:] = [c for c in claims if c[0]() is not saver and _saving(c[0](), key)]
        if not claims:
            del _SAVED_BY[key]
    if saver.enabled and saver.session is not None:
        labels, viewer, name = saver.session
        refs = (weakref.ref(saver), weakref.ref(real(labels)), weakref.ref(real(viewer)))
        _SAVED_BY.setdefault(folder_key(saver.folder), []).append((*refs, name))


def saved_elsewhere(folder, saver, viewer, labels_name: str) -> str | None:
    """Why ``saver`` must not save ``folder``: another running session saves it (None: free).

    ``viewer`` and ``labels_name``: where the session that would save it annotates.
    Another dock's session on the same layer (two Annotate docks on one image) writes
    the same annotations: it is no conflict. Before, two windows on one image file both
    autosaved its project folder, each writing its own layer over the other's cells. Docks
    see proxies of the viewer and layers: what they proxy is compared (a menu dock was refused).
    """
    if folder is None or viewer is None:
        return None
    key, layers, viewer = folder_key(folder), viewer.layers, real(viewer)
    mine = real(layers[labels_name]) if labels_name in layers else None
    for ref, labels, where, name in _SAVED_BY.get(key, []):
        other = ref()
        if other is saver or not _saving(other, key):
            continue
        if where() is viewer and mine is not None and labels() is mine:
            continue  # the same layer, in another dock
        place = "another Annotate dock of this window" if where() is viewer else "another window"
        return (
            f"{name!r} is annotated in {place}; its project folder {key.name} is saved by "
            "that session: annotate it there, or choose another project folder"
        )
    return None
