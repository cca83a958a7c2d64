"""Debounced, off-thread autosave of an annotation session (used by the Annotate widget).

A single-shot timer restarts on every change; when it fires, what differs from the last
save is copied on the GUI thread (a memory copy) and written by
:func:`napari_unet.core.annotation.project.save_project` in a thread worker. One save runs at a
time; changes made meanwhile are saved right after it. A project folder is saved by one
running session at a time, in all windows of this process (:func:`saved_elsewhere`).

What the folder holds is looked at before each save (:func:`folder_stamp`): a folder
removed or rewritten meanwhile (the data folder tidied, a sync tool) gets everything again.
Before, only what differed from the last save was written: after the folder was removed,
Save now wrote nothing, the status said "Saved", and the next Start opened no cells.
A project folder typed as ``~/projA`` is the user's folder's ``projA``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QTimer

from napari_unet.core.annotation.project import (
    ANNOTATIONS_FILE,
    REGION_FILE,
    check_project_folder,
    folder_is_writable,
    identity_warnings,
    load_project,
    save_project,
)
from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets._autosave_claims import claim, saved_elsewhere
from napari_unet.widgets._handover import handed_over
from napari_unet.widgets._weakly import weakly

__all__ = ["AUTOSAVE_MS", "Autosaver", "load_saved", "saved_elsewhere", "shapes_state"]

#: Milliseconds of quiet after the last change before autosave writes.
AUTOSAVE_MS = 2000

#: A session's state: (annotations array, [(shape type, vertices as lists), ...]).
State = tuple[np.ndarray, list]


def shapes_state(data, types) -> list:
    """Shapes as comparable plain lists: [(shape type, vertices), ...]."""
    return [(t, np.asarray(d, dtype=float).tolist()) for d, t in zip(data, types, strict=True)]


def load_saved(folder: Path | None, identity: dict, labels_shape, image=None):
    """Read a project folder; on a mismatch, warn and keep the files untouched.

    ``image`` is the image file: a folder that is another image's project (its file, or a
    project folder chosen away from the images that names another file), whose files would
    be the image itself, or that holds an annotations.tif napari-unet did not write, is
    neither read nor written. Returns the project (or None)
    and whether autosave may write to the folder.
    """
    if folder is None:
        return None, False
    folder = Path(folder).expanduser()
    try:
        check_parent(folder)
        check_project_folder(folder, image, fileless=image is None, identity=identity)
        project = load_project(folder, labels_shape, image)
    except InputError as exc:
        show_error(
            f"{exc}. Nothing was loaded from the folder, and its files are left untouched: "
            "autosave is off until you choose another project folder."
        )
        return None, False
    if not folder_is_writable(folder):
        show_error(
            f"{not_writable(folder)}. Autosave is off until you choose a writable project "
            "folder; your annotations stay in the viewer."
        )
    if project is not None:
        for note in identity_warnings(project.identity, identity):
            show_warning(f"{note} ({folder.name}).")
    return project, True


def not_writable(folder: Path) -> str:
    """Why autosave cannot write in ``folder``: a file in the way, or a read-only folder.

    Before, a plain file where the project folder should be was called a read-only folder.
    """
    p = Path(folder).absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    if p.is_file():
        return f"The project folder {folder} is not writable: a file is in the way, at {p}"
    return f"The project folder {folder} is not writable (read-only)"


def check_parent(folder: Path) -> None:
    """Refuse a project folder inside a folder that does not exist (a half-typed path).

    Only the project folder itself is ever made: before, a typo made the whole path.
    ``~`` is the user's folder (before, ``~/projA`` was refused: "inside ~, which does
    not exist").
    """
    folder = Path(folder).expanduser()
    if not folder.exists() and not folder.parent.exists():
        raise InputError(
            f"the project folder {folder} is inside {folder.parent}, which does not exist; "
            "choose an existing folder (the project folder itself is made for you)"
        )


class Autosaver:
    """Save annotations and region to a project folder, debounced and off the GUI thread.

    Parameters
    ----------
    parent : QWidget
        Owner of the timer (it stops with the widget).
    get_state : callable
        Returns the current :data:`State`.
    on_status : callable
        Receives a one-line status text.
    """

    def __init__(self, parent, get_state: Callable[[], State], on_status: Callable[[str], None]):
        self._get_state = get_state
        self._on_status = on_status
        self.folder: Path | None = None
        self.enabled = False
        self.identity: dict = {}
        self.image: Path | None = None  # the image file: never written over (save_project)
        self._saved: State | None = None
        self._start_region: list | None = None  # the region as Start made it (see _blank)
        self.session: tuple | None = None  # (annotations layer, viewer, image name)
        self.failure: str | None = None  # the last save's error, until a save succeeds
        self._saving = False
        self._pending = False
        # Background saves and a final flush may overlap: a lock serialises the writes and
        # a sequence number stops an older state from landing after a newer one.
        self._lock = threading.Lock()
        self._seq = 0
        self._written_seq = 0
        self._stamp: tuple | None = None  # (folder, folder_stamp) after the last save
        self.timer = QTimer(parent)
        self.timer.setSingleShot(True)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self.save_now)

    def reset(
        self, folder: Path | None, identity: dict, saved: State | None, ok: bool, image=None,
        region: list | None = None, session: tuple | None = None,
    ) -> None:  # fmt: skip
        """Point at ``folder``; ``saved`` is what the folder already holds (None: nothing).

        ``image`` is the image's file (None: none); ``region`` the session's region as Start
        made it (see :meth:`_blank`); ``session`` (annotations layer, viewer, image name)
        marks the folder as saved by it, for every window's Annotate docks
        (:func:`saved_elsewhere`), until the saver is reset to no folder.
        """
        with contextlib.suppress(RuntimeError):  # the dock closed: Qt deleted the timer
            self.timer.stop()
        folder = None if folder is None else Path(folder).expanduser()
        self.folder, self.identity, self._saved, self.image = folder, identity, saved, image
        self.enabled = ok and folder is not None and folder_is_writable(folder)
        self.failure = None
        self._start_region = region
        self.session = session  # kept with no folder: a folder chosen later is claimed
        self._stamp = (folder, folder_stamp(folder))  # what it holds now (see _last_save)
        claim(self)

    def set_folder(self, folder: Path | None) -> None:
        """Switch to another folder: write everything there at the next save."""
        ok, folder = True, None if folder is None else Path(folder).expanduser()
        labels, viewer, _name = self.session or (None, None, "")
        try:  # never another file's project, nor over the image itself
            if folder is not None:
                check_parent(folder)
                fileless = self.image is None
                check_project_folder(folder, self.image, fileless, self.identity)
                taken = saved_elsewhere(folder, self, viewer, getattr(labels, "name", ""))
                if taken is not None:  # another window's session writes it
                    raise InputError(taken)
        except InputError as exc:
            show_error(f"{exc}. Autosave is off until you choose another project folder.")
            ok = False
        self.reset(folder, self.identity, None, ok, self.image, self._start_region, self.session)
        if ok and folder is not None and not self.enabled:
            show_error(f"{not_writable(folder)}; autosave stays off.")
        self._on_status(self.note())
        if self.enabled:
            self.timer.start()

    def note(self) -> str:
        """Say where autosave writes, or why it is off."""
        if self.folder is None:
            return "Autosave is off: the image has no file; choose a project folder."
        if not self.enabled:
            return f"Autosave is OFF for {self.folder.name}; choose another project folder."
        if self.failure is not None:
            return (
                f"NOT SAVED to {self.folder.name} ({self.failure}); retried at the next "
                "change, or press Save now."
            )
        return f"Autosave to {self.folder.name}."

    @property
    def saved_annotations(self) -> np.ndarray | None:
        """The annotations the folder holds as this saver last wrote or read them."""
        return None if self._saved is None else self._saved[0]

    def changed(self) -> None:
        """Note a change: (re)start the quiet-period timer.

        What differs is saved; a blank session writes nothing (:meth:`_blank`).
        """
        if self.enabled:
            self.timer.start()

    def _blank(self, ann, region) -> bool:
        """True while there is nothing to save: none saved, no cells, the region as at Start.

        Saved, its whole-image region over no cells would read as "annotated: all
        background" (to training, and to the next Start: a folder written by a Start with
        another reading of the axes was then refused as another image's). Told from the
        state, not the history: before, a stroke undone still wrote such a project.
        """
        return self._saved is None and not np.any(ann) and region == self._start_region

    def _last_save(self) -> State | tuple[None, None]:
        """What the folder holds as last saved; (None, None): nothing, or no longer.

        A folder whose files are not as the last save left them (removed, rewritten by
        another program) holds nothing this saver can count on: everything is written.
        """
        if self._saved is None or self._stamp != (self.folder, folder_stamp(self.folder)):
            return None, None
        return self._saved

    def _pending_state(self) -> tuple[np.ndarray | None, list | None]:
        ann, region = self._get_state()
        old_ann, old_region = self._last_save()
        ann_out = None
        if old_ann is None or not np.array_equal(ann, old_ann):
            ann_out = np.array(ann, copy=True)
        return ann_out, (region if region != old_region else None)

    def _job(self, ann, region) -> Callable[..., bool]:
        """Return a function that writes this state unless a newer one was written.

        ``ann`` may also be given to the function (computed in the worker).
        """
        self._seq += 1
        seq, folder, identity, image = self._seq, self.folder, dict(self.identity), self.image
        data = [np.asarray(d) for _, d in region] if region is not None else None
        types = [t for t, _ in region] if region is not None else None

        def write(ann=ann) -> bool:
            with self._lock:
                if seq <= self._written_seq:
                    return False
                save_project(folder, ann, data, types, identity, image=image)
                self._written_seq = seq
                self._stamp = (folder, folder_stamp(folder))
                return True

        return write

    def save_now(self, explicit: bool = False) -> None:
        """Start a background save of what changed since the last save.

        ``explicit`` (the Save now button): a new untouched session is saved too (an
        empty field marked as annotated, all background), which autosave never does.

        The annotations are compared with the last save and copied in the worker (on an
        8192 x 8192 image that took 0.9 s of the GUI thread at every pause in painting). A
        stroke made while they are copied may be half in the copy: its paint event starts
        the next save, which writes it whole. A folder that no longer holds the last save
        (:meth:`_last_save`) gets everything.
        """
        if not self.enabled:
            return
        if self._saving:
            self._pending = True
            return
        live, region = self._get_state()  # the layer's own array: read in the worker
        blank = not explicit and self._saved is None and region == self._start_region
        old_ann, old_region = self._last_save()
        region = region if region != old_region else None
        write = self._job(None, region)
        self._saving = True
        # napari keeps the worker for good: it lets go of the arrays as it starts (before,
        # every save kept its copy of the annotations), and holds this saver weakly
        connect = {
            "returned": weakly(self, "_on_returned", self.folder),
            "errored": weakly(self, "_on_error"),
            "finished": weakly(self, "_on_finished"),
        }
        handed_over(_save_changes, live, old_ann, region, blank, write, connect=connect)

    def _on_returned(self, done, folder) -> None:
        if done:
            self._on_saved(*done, folder)

    def _on_saved(self, ann, region, folder) -> None:
        if folder != self.folder:  # detached or moved on meanwhile: that state is not ours
            return
        old_ann, old_region = self._saved if self._saved is not None else (None, None)
        self._saved = (
            ann if ann is not None else old_ann,
            region if region is not None else old_region,
        )
        self.failure = None
        self._on_status(f"Saved to {self.folder.name}.")

    def _on_error(self, exc: Exception) -> None:
        """A failed save (disk full, a network drive away) is retried at the next change.

        The annotations stay in the viewer; the error is shown once per run of failures,
        and the status line says the work is not saved until a save succeeds.
        """
        if self.failure is None:
            show_error(
                f"Autosave failed: {in_words(exc)}. Your annotations stay in the viewer; the "
                "save is retried at the next change (or press Save now), and the status line says "
                "when it succeeds."
            )
        self.failure = in_words(exc)
        self._on_status(self.note())

    def _on_finished(self) -> None:
        self._saving = False
        if self._pending:
            self._pending = False
            self.save_now()

    @property
    def busy(self) -> bool:
        """True while a background save runs."""
        return self._saving

    def flush(self) -> None:
        """Save what is unsaved synchronously (tear-down only: window closed, layer removed).

        Compared with the last *confirmed* save, so a background save still running is
        superseded, never overtaken by an older state.
        """
        with contextlib.suppress(RuntimeError):  # the timer may be gone at tear-down
            self.timer.stop()
        if not self.enabled or self._blank(*self._get_state()):
            return
        ann, region = self._pending_state()
        if ann is None and region is None:
            return
        try:
            self._job(ann, region)()
        except (InputError, OSError) as exc:
            show_error(f"Could not save the annotations to {self.folder}: {in_words(exc)}")
            self.failure = in_words(exc)
            return
        self._on_saved(ann, region, self.folder)


def _save_changes(live, old_ann, region, blank: bool, write) -> State | None:
    """In the worker: write what differs from the last save; what was written, or None."""
    if blank and not np.any(live):  # nothing to save (Autosaver._blank), looked at here
        return None
    same = old_ann is not None and np.array_equal(live, old_ann)
    ann = None if same else np.array(live, copy=True)
    if ann is None and region is None:
        return None
    return (ann, region) if write(ann) else None


def folder_stamp(folder: Path | None) -> tuple | None:
    """What ``folder``'s annotations.tif and region.json are now: (inode, mtime, size) each.

    Files are written atomically (a new file each time): a save, a removal or another
    program's write changes the stamp. A few ``stat`` calls: cheap at every save.
    """
    if folder is None:
        return None
    stamps = []
    for name in (ANNOTATIONS_FILE, REGION_FILE):
        try:
            st = os.stat(Path(folder) / name)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(stamps)
