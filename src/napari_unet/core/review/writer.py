"""The review's file writes, in order, on one background thread.

The reviewer's edits are saved when they leave an image and by an autosave every few
seconds; each save copies the labels on the GUI thread (a memory copy) and hands the copy
here, so painting never waits for a disk. One thread writes everything in the order it was
asked for (a later save of an image can never land before an earlier one), and every file
is written atomically (:func:`napari_unet.core.files.atomic_write`): a process killed at
any moment leaves each saved file whole, old or new. Only what changed is written: the
labels of an image edited since its last save, and the small review file.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError, in_words
from napari_unet.core.review.session import Review

__all__ = ["Writer", "rescue_folder"]


def rescue_folder(output) -> Path:
    """Where labels that could not be written into ``output`` are rescued.

    ``<temporary folder>/napari-unet-unsaved/<output folder name>/<hash of its path>``: two
    output folders of one name (the ``images-review`` of two ``images`` folders) get
    folders of their own (before, their rescued labels overwrote each other).
    """
    resolved = str(Path(output).absolute().resolve())
    key = hashlib.blake2b(resolved.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()
    return Path(tempfile.gettempdir()) / "napari-unet-unsaved" / Path(output).name / key


class Writer:
    """Writes a review's labels and review file in the background, in order.

    Parameters
    ----------
    review : Review
        Whose files are written.
    on_error : callable, optional
        Called (from the writing thread) with the exception of a failed write.

    A labels write that fails (a full disk, a share that went away) keeps its labels here:
    it is tried again before the next write of any file and at :meth:`close`, and
    :meth:`unsaved` hands them to whoever shows the image again meanwhile. A failed write
    of the review file is tried again the same way (:attr:`review_failed`), and
    :meth:`rescue` writes it elsewhere too: before, its failures were forgotten, and
    every verdict of a review whose output folder went away was lost at close.
    """

    def __init__(self, review: Review, on_error: Callable[[Exception], object] | None = None):
        self.review = review
        self.on_error = on_error
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="napari-unet save")
        self._last: Future | None = None
        self._lock = threading.Lock()
        self._latest: dict[str, np.ndarray] = {}  # labels asked for, not yet on disk
        self._failed: set[str] = set()  # of those, the ones whose write failed
        self._why: dict[str, str] = {}  # why each failed (its last error, in words)
        self._review_failed = False  # the last write of the review file failed
        self.writes = 0  # label files written (for tests and the status line)

    def save_labels(self, name: str, labels: np.ndarray, then_review: bool = True) -> Future:
        """Write ``labels`` (a copy the caller no longer changes) as the reviewed labels."""
        with self._lock:
            self._latest[name] = labels
            self._failed.discard(name)
        return self._submit(self._write_labels, name, labels, then_review)

    def unsaved(self, name: str) -> np.ndarray | None:
        """The labels of ``name`` asked for but not on disk yet (queued or failed), or None."""
        with self._lock:
            return self._latest.get(name)

    @property
    def failed(self) -> list[str]:
        """Images whose last labels write failed (their labels are kept for a retry)."""
        with self._lock:
            return sorted(self._failed)

    def why(self, name: str) -> str | None:
        """Why the last labels write of ``name`` failed (in words), or None if it did not."""
        with self._lock:
            return self._why.get(name) if name in self._failed else None

    def retry(self) -> None:
        """Try the failed writes again now (Export does, before it reads the labels files).

        :meth:`flush` waits for them; :attr:`failed` then names those that failed again.
        """
        self._retry()

    @property
    def review_failed(self) -> bool:
        """Whether the last write of the review file failed (it is tried again)."""
        with self._lock:
            return self._review_failed

    def save_review(self) -> Future:
        """Write the review file (statuses, times, the current image)."""
        return self._submit(self._write_review)

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every write asked for so far has ended; True if they did."""
        last = self._last
        if last is None:
            return True
        try:
            last.result(timeout)
        except FutureTimeout:
            return False
        except Exception:  # noqa: BLE001 - reported through on_error already
            return True
        return True

    def close(self, timeout: float | None = 60.0) -> bool:
        """Finish the writes asked for (failed ones tried once more), then stop the thread.

        Returns True when everything is on disk.
        """
        self._retry()
        done = self.flush(timeout)
        self._pool.shutdown(wait=done)
        return done and not self.failed and not self.review_failed

    def rescue(self, folder) -> list:
        """Write the labels (and review file) whose write failed into ``folder``; their paths.

        :func:`rescue_folder` gives a folder of the review's own. The review file is
        ``folder/review.json`` (the last path). Files of an earlier rescue into ``folder``
        are never written over: ``a_labels2.tif``, ``review2.json``...
        """
        from napari_unet.core.files import atomic_write
        from napari_unet.core.images.io import write_image
        from napari_unet.core.review.refit import free_name
        from napari_unet.core.review.session import REVIEW_FILE
        from napari_unet.core.review.stems import files_stem

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            failed = [(n, self._latest[n]) for n in sorted(self._failed)]
        paths = []
        for name, labels in failed:  # named as in the output folder (a.tif_labels.tif too)
            path = free_name(folder / f"{files_stem(self.review, name)}_labels.tif")
            paths.append(write_image(path, labels))
        if self.review_failed:
            path = free_name(folder / REVIEW_FILE)
            text = self.review.state_text()
            with atomic_write(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths

    def _retry(self, review: bool = True) -> None:
        with self._lock:
            again = [(n, self._latest[n]) for n in sorted(self._failed)]
            self._failed.clear()
            review = review and self._review_failed
        for name, labels in again:
            self._last = self._pool.submit(self._guarded, self._write_labels, name, labels, True)
        if review:
            self._last = self._pool.submit(self._guarded, self._write_review)

    def _submit(self, fn, *args) -> Future:
        self._retry(review=fn != self._write_review)
        future = self._pool.submit(self._guarded, fn, *args)
        self._last = future
        return future

    def _guarded(self, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise

    def _write_labels(self, name: str, labels: np.ndarray, then_review: bool):
        try:
            path = self.review.save_labels(name, labels)
        except InputError as exc:  # they no longer fit the image: no retry would help
            self._set_aside(name, labels, exc)
        except Exception as exc:
            with self._lock:
                if self._latest.get(name) is labels:  # not replaced by a newer save meanwhile
                    self._failed.add(name)
                    self._why[name] = in_words(exc)
            raise
        with self._lock:
            if self._latest.get(name) is labels:
                del self._latest[name]
                self._why.pop(name, None)
        self.writes += 1
        if then_review:
            self._write_review()
        return path

    def _set_aside(self, name: str, labels: np.ndarray, exc: InputError):
        """Labels that no longer fit their image (rewritten at another size): rescued, said.

        Before, they joined the failed writes: tried again at every save, said again each
        time, and Export refused for good with advice (free space...) that could not help.
        """
        from napari_unet.core.images.io import write_image
        from napari_unet.core.review.refit import free_name
        from napari_unet.core.review.stems import files_stem

        folder = rescue_folder(self.review.output)
        folder.mkdir(parents=True, exist_ok=True)
        kept = write_image(free_name(folder / f"{files_stem(self.review, name)}_labels.tif"),
                           labels)  # fmt: skip
        with self._lock:
            if self._latest.get(name) is labels:
                del self._latest[name]
        raise InputError(f"{exc}; the labels were not written there but kept in {kept}") from None

    def _write_review(self) -> Path:
        """Write the review file; a failure is remembered (tried again, rescued at close)."""
        try:
            path = self.review.save()
        except Exception:
            with self._lock:
                self._review_failed = True
            raise
        with self._lock:
            self._review_failed = False
        return path
