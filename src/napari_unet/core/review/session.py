"""The review of a folder of images: their status, reviewer time, content hash and labels.

Everything a review writes goes into one *output folder*, never beside or over the images::

    OUTPUT/review.json                 status, seconds, hash, objects of every image
    OUTPUT/labels/<stem>_labels.tif    the reviewed labels (saved edits, accepted results)
    OUTPUT/predictions/<stem>_labels.tif   predictions computed ahead (a cache)

Every file is written atomically (a temporary file renamed over the old one), so a process
killed at any moment leaves each file whole: the old version or the new one. Reopening the
folder with the same output folder resumes: statuses, times and the current image come back.

The labels shown for an image are, in this order: the reviewed labels saved in the output
folder; a label file of another run or tool in the *labels folder* the user gave, matched by
name (:func:`label_candidates`); a cached prediction made with the same model; else the
image is predicted (:mod:`napari_unet.core.review.prefetch`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from napari_unet.core.annotation.edits import count_cells
from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_write, recover_folder
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.folders import (
    check_output,
    collect_images,
    file_hash,
    image_source,
    label_candidates,
    label_file_ids,
    same_content,
    stem_of,
)
from napari_unet.core.review.guard import LabelsGuard
from napari_unet.core.review.labelfiles import LabelFolder
from napari_unet.core.review.labels_check import labels_to_save
from napari_unet.core.review.renames import carry_renamed, rename_notes
from napari_unet.core.review.reviewfile import (
    STATUSES,
    Entry,
    entry_of,
    locked,
    merge_entry,
    read_review_file,
    saved_entries,
)
from napari_unet.core.review.startover import start_over
from napari_unet.core.review.stems import claim_stems, files_stem, named_in_full

__all__ = [
    "STATUSES", "Entry", "Review", "collect_images", "file_hash", "label_candidates", "stem_of"
]

#: Statuses of a finished image (the first unreviewed image skips them).
DONE = ("accepted", "corrected", "rejected")
REVIEW_FILE = "review.json"
FORMAT = 1
#: Predictions update the review file at most this often (seconds); the reviewer's saves do.
SAVE_EVERY_S = 2.0
#: Label images with more pixels than this are stored as Zarr (chunked) instead of TIFF.
ZARR_PIXELS = 8192 * 8192


class Review:
    """A folder review: the images, the output folder and the review file.

    Parameters
    ----------
    images : folder, file or list of files
        The images to review (a folder is listed, sorted by name, not recursively).
    output : path-like
        The folder for the review file and every label file; created if needed. It must
        not hold the images under review.
    labels_folder : path-like, optional
        Label files of an earlier run or another tool, matched to the images by name.

    Thread safety: the methods may be called from a prediction thread and the GUI thread;
    the review file is written under a lock.
    """

    def __init__(self, images, output, labels_folder=None) -> None:
        self.images = collect_images(images)
        self.output = Path(output)
        self.labels_folder = Path(labels_folder) if labels_folder else None
        check_output(self.output, self.images, self.labels_folder)
        if self.labels_folder is not None and not self.labels_folder.is_dir():
            raise InputError(f"{self.labels_folder}: the labels folder does not exist")
        # Listed once, and again when the folder changes (a file moved away or added)
        self._label_files = LabelFolder(self.labels_folder)
        self._missing: dict[str, dict] = {}  # entries of images this session does not list
        self._written: dict[str, dict] = {}  # the entries as last read or written here
        self._saved_at = 0.0
        self._lock = threading.RLock()
        self.guard = LabelsGuard(self)  # another session's labels are never written over
        #: Called with a :class:`LabelsConflict` (labels kept aside); None: it is raised.
        self.on_conflict = None
        self.names = [p.name for p in self.images]
        self.entries = {n: Entry(n) for n in self.names}
        self.current = 0
        self.resumed = self.review_file.exists()  # before the stems' claims may write one
        current = self._load()
        new, self._in_full = [n for n in self.names if n not in self._written], named_in_full(self)
        carry_renamed(self, current)  # sets renamed: images renamed since, (old, new)
        self._stem_notes = claim_stems(self, new)  # another image's stem: named in full
        for name in self.names:  # made here: merged against its first state, field by field
            self._written.setdefault(name, asdict(Entry(name)))

    # -- files ----------------------------------------------------------------------------
    @property
    def review_file(self) -> Path:
        """The review file in the output folder."""
        return self.output / REVIEW_FILE

    def _load(self) -> str | None:
        if not self.review_file.exists():
            return None
        saved = read_review_file(self.review_file)  # checked: InputError if it is not one
        for name, value in saved["images"].items():
            entry = entry_of(value)
            if name in self.entries:
                self.entries[name] = entry
                self._written[name] = asdict(entry)
            else:  # an image no longer in the folder: kept in the file, not listed
                self._missing[name] = value
        current = saved.get("current")
        if current in self.names:
            self.current = self.names.index(current)
        elif isinstance(current, str):  # it left: the first unfinished from where it was
            here = min(sum(n < current for n in self.names), len(self.names) - 1)
            found = self.first_unreviewed(here)
            self.current = here if found is None else found
        return current

    def save(self) -> Path:
        """Write the review file (atomically).

        The file is read again first, under a lock other sessions (a second window, a
        console) take to save too: of the images this session lists, an entry the other
        saved later than this one changed it is taken; the entries of images it does not
        list (another session's files, an image that arrived since) are kept as saved.
        Before, each save wrote its own state whole, and the other session's verdicts
        were lost. An output folder gone meanwhile (moved, a share remounted) is made again.
        """
        self.output.mkdir(parents=True, exist_ok=True)  # before: every save failed, all lost
        with self._lock, locked(self.review_file):
            self._merge_saved(saved_entries(self.review_file))
            text = self.state_text()
            with atomic_write(self.review_file) as tmp:
                tmp.write_text(text, encoding="utf-8")
            self._written = {n: asdict(e) for n, e in self.entries.items()}
            self._saved_at = time.monotonic()
        return self.review_file

    def state_text(self) -> str:
        """The review file's text for this session's state (as :meth:`save` writes it)."""
        with self._lock:
            images = {**self._missing, **{n: asdict(e) for n, e in self.entries.items()}}
            state = {"format": FORMAT, "current": self.names[self.current], "images": images}
            return json.dumps(state, indent=1)

    def _merge_saved(self, saved: dict[str, dict]) -> None:
        for name, value in saved.items():
            ours = self.entries.get(name)
            if ours is None and name not in self._carried:  # not this session's, nor renamed
                self._missing[name] = value
            elif ours is not None:  # field by field: the other's verdict is never undone
                merged = merge_entry(value, mine := asdict(ours), self._written.get(name))
                if merged != mine:
                    self.entries[name] = entry_of(merged)

    def labels_path(self, name: str, shape=None) -> Path:
        """Where the reviewed labels of image ``name`` are saved (Zarr for huge images)."""
        stem = files_stem(self, name)  # its stem, or its whole name (another image's stem)
        zarr_path = self.output / "labels" / f"{stem}_labels.zarr"
        big = shape is not None and int(np.prod(shape[-2:])) > ZARR_PIXELS
        if big or (shape is None and zarr_path.exists()):
            return zarr_path
        return self.output / "labels" / f"{stem}_labels.tif"

    def prediction_path(self, name: str) -> Path:
        """Where the prediction cached for image ``name`` is written."""
        return self.output / "predictions" / f"{files_stem(self, name)}_labels.tif"

    def existing_labels(self, name: str) -> Path | None:
        """A label file of image ``name`` in the labels folder, matched by name (or None).

        As :func:`~napari_unet.core.review.stems.label_file_of` matches it (``a.ome`` too),
        in the folder as it is now (:class:`~napari_unet.core.review.labelfiles.LabelFolder`).
        """
        in_full = files_stem(self, name) != stem_of(name)  # its stem is another image's
        return self._label_files.find(name, self.path(name), in_full)

    def path(self, name: str) -> Path:
        """The image file of ``name`` (a bioformats2raw root's: its one image, ``root/0``)."""
        return image_source(self.images[self.names.index(name)])

    # -- labels ---------------------------------------------------------------------------
    def stored_labels(self, name: str, model_key: str | None) -> tuple[np.ndarray, str] | None:
        """Labels already on disk for ``name`` and where they came from, or None.

        The reviewed labels first, then a file in the labels folder, then a prediction
        cached with the model ``model_key``. The entry's ``source`` says which (and its
        ``objects`` counts a label file's objects): before, labels of a file were said to
        come from the model.
        """
        entry = self.entries[name]
        if entry.source == "reviewed":  # a crash mid-save may have left a store aside
            recover_folder(self.output / "labels" / f"{files_stem(self, name)}_labels.zarr")
        reviewed = self.labels_path(name)
        if self.guard.read(name, reviewed) is not None:  # noted before it is read
            labels = np.asarray(read_image(reviewed, labels=True))
            return self._found(name, labels, "reviewed"), "reviewed"
        start_over(self, name)  # reviewed labels whose file is gone: nobody's (startover)
        found = self.existing_labels(name)
        if found is not None:
            labels = label_file_ids(read_image(found, labels=True), found)
            return self._found(name, labels, f"file {found.name}"), f"file {found.name}"
        cached, entry = self.prediction_path(name), self.entries[name]  # as saved meanwhile
        if model_key is not None and entry.predicted_with == model_key and cached.exists():
            source = entry.source if str(entry.source).startswith("prediction") else "prediction"
            return self._found(name, np.asarray(read_image(cached, labels=True)), source), source
        return None

    def _found(self, name: str, labels: np.ndarray, source: str) -> np.ndarray:
        """Note where the labels of ``name`` came from (and count them if not counted).

        The entry is looked up under the lock when it is written: a save while the objects
        were counted (another thread's) may have put the review file's copy in its place.
        Before, the old entry was written, and the status line said "None objects".
        """
        objects = None
        while True:
            with self._lock:
                entry = self.entries[name]
                if objects is not None or (entry.source == source and entry.objects is not None):
                    entry.source = source
                    entry.objects = entry.objects if objects is None else objects
                    return labels
            objects = count_cells(labels)[0]  # not under the lock: the GUI thread waits

    def save_labels(self, name: str, labels: np.ndarray) -> Path:
        """Write the reviewed labels of ``name`` (atomically) and count its objects.

        Labels not fitting the image: InputError. Labels another session wrote since this one read
        or wrote them are not overwritten (:mod:`.guard`): these go to ``conflicts/``, and
        :attr:`on_conflict` is called with the :class:`LabelsConflict` (None: raised).
        """
        labels, path = labels_to_save(self, name, labels)  # InputError: not the image's
        path.parent.mkdir(parents=True, exist_ok=True)  # deleted meanwhile: made again
        with locked(self.review_file):  # the other session checks and writes under it too
            written = self.guard.write(name, path, lambda: write_image(path, labels))
        if not written:
            refused = self.guard.keep_aside(name, labels)
            if self.on_conflict is None:
                raise refused
            self.on_conflict(refused)
            return refused.kept or path
        objects = count_cells(labels)[0]  # not under the lock: the GUI thread waits on it
        with self._lock:
            entry = self.entries[name]
            entry.objects = objects
            entry.source = "reviewed"
            entry.updated = self.guard.stamp(name)
        return path

    def save_prediction(self, name: str, labels: np.ndarray, model_key: str, model: str) -> Path:
        """Cache a prediction of ``name`` made with model ``model_key`` (named ``model``)."""
        path = self.prediction_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)  # a cache folder deleted meanwhile
        write_image(path, np.asarray(labels))
        objects = count_cells(labels)[0]
        with self._lock:
            entry = self.entries[name]
            entry.predicted_with = model_key
            if entry.objects is None or entry.source != "reviewed":  # a new model's count
                entry.objects = objects
            entry.source = f"prediction ({model})"
        if time.monotonic() - self._saved_at > SAVE_EVERY_S:  # a large folder: not each time
            self.save()
        return path

    def forget_predictions(self, keep_reviewed: bool = True, keys=None) -> list[str]:
        """Drop the cached predictions of images not reviewed yet (a new model came).

        ``keys``: only those of the models with these keys (None: every model's).
        """
        dropped = []
        with self._lock:
            for name, entry in self.entries.items():
                if keep_reviewed and self.labels_path(name).exists():
                    continue
                key = entry.predicted_with
                if key is not None and (keys is None or key in keys):
                    entry.predicted_with = None
                    dropped.append(name)
        return dropped

    # -- status ---------------------------------------------------------------------------
    def set_status(self, name: str, status: str) -> None:
        """Record the reviewer's verdict on image ``name``."""
        if status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        if name not in self.entries:  # before: a KeyError
            known = ", ".join(self.names[:5]) + (", ..." if len(self.names) > 5 else "")
            raise InputError(
                f"no image named {name!r} in this review: give the file name of one of its "
                f"{len(self.names)} images ({known}; Review.names lists them all)"
            )
        with self._lock:
            entry = self.entries[name]
            entry.status, entry.updated = status, self.guard.stamp(name)
            entry.extra.pop("changed", None)  # seen and judged again

    def mark_edited(self, name: str, edited: bool = True) -> None:
        """Note whether ``name``'s labels differ from those it came with (predicted, a file).

        An image accepted before is corrected now (before, it stayed "accepted", and
        **Train on corrected** left it out). ``edited=False`` (the edits were undone): the
        note goes, and an image corrected is accepted again.
        """
        with self._lock:
            entry = self.entries[name]
            if edited:
                entry.extra["edited"] = True
            else:
                entry.extra.pop("edited", None)
            swap = {"accepted": "corrected"} if edited else {"corrected": "accepted"}
            if entry.status in swap:
                entry.status, entry.updated = swap[entry.status], self.guard.stamp(name)

    def add_time(self, name: str, seconds: float) -> None:
        """Add reviewer time spent on ``name``."""
        with self._lock:
            self.entries[name].seconds = round(self.entries[name].seconds + max(0.0, seconds), 2)

    def check_hash(self, name: str) -> str | None:
        """Hash the image file; a warning when it changed since it was reviewed (else None).

        A changed file's cached prediction is dropped: it is predicted again.
        The warning is kept in the entry (``extra["changed"]``) until the reviewer gives the
        image a new verdict, so it is shown however long before that the file was hashed.
        """
        recorded = self.entries[name].hash  # an older version's hash of a store: the same
        digest, same = same_content(self.path(name), recorded)
        with self._lock:
            entry = self.entries[name]
            old, entry.hash = entry.hash, digest
            changed = old not in (None, digest) and not (same and old == recorded)
            if changed:  # the cached prediction was of the old file
                entry.predicted_with = None
            if changed and entry.status != "unreviewed":
                entry.extra["changed"] = (
                    f"{name} changed since it was reviewed ({entry.status}); check its labels again"
                )
            return entry.extra.get("changed")

    def changed_since_review(self, name: str) -> bool:
        """Whether image ``name``'s file changed since it was judged (labels of old pixels).

        Export and **Train on corrected** leave such an image out. True when the file's hash
        differs from the one recorded, or a change seen earlier (:meth:`check_hash`) still
        waits for a new verdict. Raises OSError when the file cannot be read.
        """
        entry = self.entries[name]
        if entry.extra.get("changed"):
            return True
        return entry.hash is not None and not same_content(self.path(name), entry.hash)[1]

    def first_unreviewed(self, start: int = 0) -> int | None:
        """Index of the first image (from ``start``, wrapping) not accepted or rejected."""
        n = len(self.names)
        for k in range(n):
            i = (start + k) % n
            if self.entries[self.names[i]].status not in DONE:
                return i
        return None

    def counts(self) -> dict[str, int]:
        """How many images have each status."""
        out = dict.fromkeys(STATUSES, 0)
        for entry in self.entries.values():
            out[entry.status] = out.get(entry.status, 0) + 1
        return out

    def report(self) -> str:
        """One line: how many images were accepted, ...; images renamed, and judged ones gone."""
        c = self.counts()
        seconds = sum(e.seconds for e in self.entries.values())
        parts = ", ".join(f"{c[s]} {s}" for s in STATUSES if c[s])
        notes = "".join(f"; {note}" for note in [*rename_notes(self), *self._stem_notes])
        return f"{len(self.names)} images: {parts}; {seconds / 60:.1f} min of review{notes}"
