"""The Annotate dock's **project folder** box: it follows the image picked in **image**.

Before, the folder of one image's session stayed in the box when another image was picked,
and that image's Start took it: an image with a file was refused it (it "holds the
annotations of the image 'sample'") with autosave off, instead of its own project beside
its file. Now picking an image shows the folder its last session in this dock used (the
running session's own folder for its image), or, for an image not annotated yet, clears a
folder another image's session used (the image's default: ``<name>.napari-unet`` beside
its file, or none). A folder typed before any Start used it goes with the pick. A folder
chosen while **image** shows another image than the running session's is that image's.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from napari_unet.core.annotation.project import holds_project, project_folder_for

__all__ = ["ProjectFolders"]


class ProjectFolders:
    """The project folder box of ``dock`` (an :class:`~.annotate.AnnotateWidget`)."""

    def __init__(self, dock) -> None:
        self._dock = dock
        self._chosen = weakref.WeakKeyDictionary()  # image -> the box's folder for it (None)

    def _box(self) -> Path | None:
        value = self._dock._folder.value
        return Path(value).expanduser() if value is not None and str(value).strip() else None

    def default(self, image) -> Path | None:
        """The folder Start uses for ``image`` (shown in **image**): the box's, else its own."""
        if (chosen := self._box()) is not None:
            return chosen
        src = getattr(image.source, "path", None)
        return project_folder_for(src) if src else None

    def started(self, image) -> None:
        """``image``'s session starts with the box's folder: shown when it is picked again."""
        self._chosen[image] = self._box()

    def picked(self, _value=None) -> None:
        """Another image is picked in **image**: show its folder."""
        dock = self._dock
        shown, folder = dock._image_combo.value, dock._saver.folder
        if shown is None:
            return
        if shown is dock._image and folder is not None:  # the running session's
            if self.default(shown) == folder:
                return
            want = folder
        elif shown in self._chosen:
            want = self._chosen[shown]
        elif self._box() in self._chosen.values():
            want = None  # another image's: this one's default
        else:
            return  # typed before any Start used it: it goes with the pick
        with dock._folder.changed.blocked():  # only shown: nothing starts or moves
            dock._folder.value = want

    def typed(self) -> None:
        """The Project folder's typing is finished (Return, or the field left)."""
        edit = self._dock._folder.line_edit.native
        if edit.isModified():
            edit.setModified(False)
            self.changed()

    def changed(self, _value=None) -> None:
        """Save to the chosen folder; one holding a project opens as Start opens it.

        While the path is typed, nothing happens until the typing is finished: before,
        each keystroke switched autosave to a half-typed folder, and a pause wrote there.
        A folder chosen while the image box shows another image is that image's, used at
        its Start: before, the running session's project was written there.
        """
        dock = self._dock
        if dock._image is None or dock._folder.line_edit.native.isModified():
            return
        shown = dock._image_combo.value
        if shown is not None:
            self._chosen[shown] = self._box()
        if shown is not None and shown is not dock._image:
            now = dock._saver.folder
            now = f"still saves to {now.name}" if now is not None else "has no project folder"
            dock._set_status(
                f"The project folder is for {shown.name}: press Start annotating to use it. "
                f"{dock._image.name} {now}."
            )
            return
        folder = self.default(dock._image)
        if folder is None or not holds_project(folder):
            dock._saver.set_folder(folder)
        else:
            dock._start(image=dock._image)  # never written over: _session.reconcile
