"""Predictions computed ahead of the reviewer, in one background thread.

The reviewer looks at one image; the :class:`Prefetcher` reads the next few images, finds
their labels (reviewed, another tool's file, a cached prediction: see
:meth:`~napari_unet.core.review.session.Review.stored_labels`) or predicts them with the
tiled predictor and the model's own post-processing (as ``napari-unet predict`` does), and
keeps them ready in a small cache, so stepping to the next image only swaps arrays. The
cache holds the labels read-only (painting can never change them); the thread also makes
the editable copy the viewer paints on for the current and the next image (a *spare*, see
:meth:`Prefetcher.get`), so a big image's copy is not made on the GUI thread. With
``queue_all`` it goes on through the whole folder, writing each prediction to the output
folder without keeping it in memory: memory holds ``cache`` images, not the folder. The
out-of-domain warnings of a prediction kept (a grey model averaged the image's channels:
:mod:`~napari_unet.core.review.domain_notes`) are found here too and go with its item.

Plain threads, no Qt: ``on_ready(name)`` and ``on_error(name, message)`` are called from the
prediction thread; a GUI marshals them to its own thread.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image
from napari_unet.core.images.named import check_planes
from napari_unet.core.inference.scale import AUTO
from napari_unet.core.review.domain_notes import Stopped, cached_notes, predict_noted
from napari_unet.core.review.items import (
    Item,
    editable_labels,
    failure_stamp,
    file_stamp,
    model_key,
    read_only,
)
from napari_unet.core.review.predictor_setup import LoadLater, build_or_why
from napari_unet.core.review.refit import refit
from napari_unet.core.review.session import Review
from napari_unet.core.review.stale import stale

__all__ = ["Item", "LoadLater", "Prefetcher", "editable_labels", "model_key"]

#: How many of the wanted images (the current one, the next) get a spare editable copy.
SPARES = 2


class Prefetcher:
    """Keeps the images the reviewer will see next ready, predicting them when needed.

    Parameters
    ----------
    review : Review
        The review whose images, output folder and review file are used.
    model : torch.nn.Module, LoadLater or None
        The network (the predictor moves it to its device) or a
        :class:`~napari_unet.core.review.predictor_setup.LoadLater` reading its file: the
        thread builds the predictor before its first image, never the GUI thread (a failure
        fails every image). None: a subclass's thread sets the predictor (and ``key``).
    metadata : dict
        Its model-file metadata (normalisation, head, post-processing); unused with LoadLater.
    model_name : str
        How the source of predictions is named (``"prediction (nuclei)"``).
    options : dict, optional
        Keywords of :class:`~napari_unet.core.inference.plan.Predictor` (``channel``,
        ``tile``, ``device``...).
    cache : int
        How many images (pixels and labels) are kept in memory.
    queue_all : bool
        After the wanted images, predict every other image of the folder to disk.
    unsaved : callable, optional
        ``unsaved(name)``: labels of ``name`` the reviewer saved that are not on disk yet
        (:meth:`~napari_unet.core.review.writer.Writer.unsaved`); they win over any file.
    on_warning : callable, optional
        ``on_warning(message)``: a prediction could not be cached (said once; the image is
        shown all the same). Without it, a :class:`RuntimeWarning`.
    """

    def __init__(
        self,
        review: Review,
        model,
        metadata: dict,
        model_name: str,
        options: dict | None = None,
        cache: int = 3,
        queue_all: bool = False,
        on_ready: Callable[[str], object] | None = None,
        on_error: Callable[[str, str], object] | None = None,
        unsaved: Callable[[str], np.ndarray | None] | None = None,
        on_warning: Callable[[str], object] | None = None,
    ) -> None:
        self.review = review
        self.model_name = model_name
        # Predicted as the predict command does: the object size estimated where the model
        # records its own ("auto"); predictions cached at the image's scale are stale. The
        # thread builds the predictor (before, ``import torch`` held the GUI thread).
        self.key, self._predictor, self._post = "", None, None  # no model yet: no prediction
        if model is not None and not isinstance(model, LoadLater):
            self.key = f"{model_key(model)}-{AUTO}"
        self._model, self._options, self._metadata = model, dict(options or {}), metadata
        self._broken = ""  # why the model could not be loaded: every image's error
        self.cache_size = max(1, int(cache))
        self.queue_all = queue_all
        self.on_ready, self.on_error, self.unsaved = on_ready, on_error, unsaved
        self.on_warning, self._cache_failed = on_warning, False
        self._cache: OrderedDict[str, Item] = OrderedDict()
        # Names that need no prediction (labels on disk, or predicted with this model):
        # found once, so a folder of thousands is not searched again for every image.
        self._done: set[str] = set()
        self._wanted: list[str] = []
        self._failed: dict[str, tuple[str, tuple | None]] = {}  # why, and the file's stamp
        self._spares: dict[str, tuple[np.ndarray, int]] = {}  # editable copy, largest id
        self._handed: set[str] = set()  # spares taken since the last want(): not made again
        self._busy: str | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="napari-unet review", daemon=True)
        self._thread.start()

    # -- called by the reviewer (GUI thread) ------------------------------------------------
    def want(self, names: list[str]) -> None:
        """The images the reviewer will see, most urgent first (the current one first)."""
        with self._cond:
            self._wanted = [n for n in names if n in self.review.entries]
            keep = set(self._wanted[: self.cache_size])
            self._forget_rewritten(keep)
            for name in [n for n in self._cache if n not in keep]:
                if len(self._cache) > self.cache_size:
                    self._drop(name)
            self._handed.clear()
            for name in [n for n in self._spares if n not in self._wanted[:SPARES]]:
                del self._spares[name]  # only the current and the next image keep a spare
            self._cond.notify_all()

    def _drop(self, name: str) -> None:
        self._cache.pop(name, None)
        self._spares.pop(name, None)

    def _forget_rewritten(self, names) -> None:
        """Drop what is kept of images whose file changed since it was read (or failed).

        Before, a rewritten image was shown from memory with its old pixels and no
        "changed" warning, and one that failed to read (a file still being copied) stayed
        failed for the whole session. Reviewed labels whose file is gone: :func:`stale`.
        """
        for name in names:
            item = self._cache.get(name)
            if item is not None and stale(self.review, item, self.unsaved):
                self._drop(name)
            if name in self._failed and self._failed[name][1] != failure_stamp(self.review, name):
                del self._failed[name]

    def get(self, name: str) -> Item | None:
        """The image and labels of ``name`` if they are ready, else None.

        ``labels`` is the cache's read-only array; ``editable`` a writable copy made by the
        thread (handed out once: a later ``get`` of the same image has none until the
        thread made another, and then the caller copies).
        """
        with self._cond:
            item = self._cache.get(name)
            if item is None:
                return None
            self._cache.move_to_end(name)
            spare = self._spares.pop(name, None)
            self._handed.add(name)
            self._cond.notify_all()  # the thread makes the next image's spare
            if spare is None:
                return item
            return replace(item, editable=spare[0], top=spare[1])

    def error(self, name: str) -> str | None:
        """Why ``name`` could not be read or predicted (None: no failure)."""
        with self._cond:
            failed = self._failed.get(name)
            return self._broken or (None if failed is None else failed[0])

    def put(self, item: Item) -> None:
        """Replace what the cache holds of an image (the reviewer saved edits).

        The item's labels become read-only: the caller hands over a copy it no longer changes.
        An item without the stamp of its image file takes the stamp of the one it replaces
        (its pixels are the same): a file rewritten since is still read again.
        """
        read_only(item.labels)
        with self._cond:
            old = self._cache.get(item.name)
            if item.stamp is None and old is not None:
                item = replace(item, stamp=old.stamp)
            self._spares.pop(item.name, None)
            self._cache[item.name] = replace(item, editable=None)
            self._cache.move_to_end(item.name)
            while len(self._cache) > self.cache_size:
                self._drop(next(iter(self._cache)))

    @property
    def busy(self) -> str | None:
        """The image being read or predicted now (None: idle)."""
        return self._busy

    def pending(self) -> int:
        """How many images still need a prediction (queue_all) or a read (wanted ones)."""
        with self._cond:
            return sum(1 for n in self._order() if self._needs(n))

    def close(self, timeout: float = 30.0) -> bool:
        """Stop the thread (a prediction in progress ends at its next tile); True if it ended."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self.queue_all:
            self.review.save()  # the predictions' entries (saved only now and then meanwhile)
        return not self._thread.is_alive()

    # -- the prediction thread --------------------------------------------------------------
    def _order(self) -> list[str]:
        rest = [n for n in self.review.names if n not in self._wanted] if self.queue_all else []
        return self._wanted + rest

    def _needs(self, name: str) -> bool:
        if name in self._failed:
            return False
        if name in self._wanted[: self.cache_size]:
            return name not in self._cache
        if name in self._done:
            return False
        if self.review.entries[name].predicted_with == self.key or self._has_labels(name):
            self._done.add(name)
            return False
        return True

    def _has_labels(self, name: str) -> bool:
        reviewed = self.review.labels_path(name).exists()
        return reviewed or self.review.existing_labels(name) is not None

    def _spare_wanted(self) -> str | None:
        """A cached image among the current and the next one that needs a spare copy."""
        for name in self._wanted[:SPARES]:
            if name in self._cache and name not in self._spares and name not in self._handed:
                return name
        return None

    def _next(self) -> tuple[str, str] | None:
        """The next job: ``("fetch", name)`` or ``("spare", name)``; None once closed.

        The current and the next image are fetched first, then their spares are made, then
        the rest is fetched.
        """
        with self._cond:
            while not self._closed:
                todo = [n for n in self._order() if self._needs(n)]
                spare = self._spare_wanted()
                if todo and (spare is None or todo[0] in self._wanted[:SPARES]):
                    self._busy = todo[0]
                    return "fetch", todo[0]
                self._busy = None
                if spare is not None:
                    return "spare", spare
                self._cond.wait()
            return None

    def _make_spare(self, name: str) -> None:
        """Copy a cached image's labels for the viewer (outside the lock: a big copy)."""
        with self._cond:
            item = self._cache.get(name)
        if item is None:
            return
        labels = item.labels
        try:
            spare = (editable_labels(labels), int(labels.max()) if labels.size else 0)
        except MemoryError:  # the viewer copies instead
            return
        with self._cond:  # kept unless the cache changed meanwhile (a save, an eviction)
            if self._cache.get(name) is item and name not in self._handed:
                self._spares[name] = spare

    def _prepare(self) -> bool:
        """Build the predictor (a :class:`LoadLater` model loaded first); False: it failed."""
        built = build_or_why(self._model, self._metadata, self._options)
        with self._cond:  # a failure: the images wanted from now on hear it from error()
            if isinstance(built, str):
                self._broken, wanted = built, list(self._wanted[: self.cache_size])
            else:
                self.key, self._predictor, self._post, self._metadata = built
                self._model, wanted = None, []  # the predictor holds the model
        for name in wanted if self.on_error is not None and not self._closed else ():
            self.on_error(name, self._broken)
        return not self._broken

    def _loop(self) -> None:
        if self._model is not None and not self._prepare():  # None: a subclass sets it
            return
        while (job := self._next()) is not None:
            kind, name = job
            if kind == "spare":
                self._make_spare(name)
                continue
            stamp, files = file_stamp(self.review.path(name)), failure_stamp(self.review, name)
            try:
                item = replace(self._fetch(name), stamp=stamp)
            except Stopped:
                break
            except (InputError, OSError, ValueError, RuntimeError, MemoryError) as exc:
                with self._cond:  # the files as before the read: a copy ending meanwhile
                    self._failed[name] = (str(exc), files)
                if self.on_error is not None:
                    self.on_error(name, str(exc))
                continue
            read_only(item.labels)
            with self._cond:
                if name in self._wanted[: self.cache_size]:
                    self._cache[name] = item
                    self._cache.move_to_end(name)
                    self._spares.pop(name, None)
                self._busy = None
            if name in self._wanted[:SPARES]:
                self._make_spare(name)  # before the viewer hears of it
            if self.on_ready is not None:
                self.on_ready(name)
        self._busy = None

    def _fetch(self, name: str) -> Item:
        image = np.asarray(read_image(self.review.path(name)))
        if self._predictor is not None:  # a z-stack the file names is not 2-4 channels
            check_planes(self.review.path(name), image, self._predictor.in_channels)
        self._read(name, image)
        was = self.review.entries[name].hash
        warning = self.review.check_hash(name)
        changed = was not in (None, self.review.entries[name].hash)
        pending = None if self.unsaved is None else self.unsaved(name)
        if pending is not None:  # saved by the reviewer, still on its way to the disk
            return Item(name, image, pending, "reviewed", warning)
        stored = self._stored(name, image, changed)
        warning = self.review.entries[name].extra.get("changed", warning)  # labels set aside
        if stored is not None:  # a cached prediction averaged the channels too
            cached = str(stored[1]).startswith("prediction")
            notes = cached_notes(image, self._metadata, self._predictor) if cached else ()
            return Item(name, image, *stored, warning, notes=notes)
        with self._cond:  # its warnings, when it is kept (not for one predicted to disk)
            noted = name in self._wanted[: self.cache_size]
        labels, notes = self._predict(image, noted)
        self._cache_prediction(name, labels)
        self._done.add(name)
        source = f"prediction ({self.model_name})"
        return Item(name, image, labels, source, warning, notes=notes)

    def _stored(self, name: str, image: np.ndarray, changed: bool) -> tuple | None:
        """``(labels, source)`` on disk for ``name`` that fit ``image``; None: predict it.

        Reviewed labels that no longer fit an image whose file ``changed`` are moved aside
        (:func:`~napari_unet.core.review.refit.refit`); others that do not fit are an error.
        """
        stored = self.review.stored_labels(name, self.key)
        shape = self._plane_shape(image)
        if stored is None or stored[0].shape == shape:
            return stored
        refit(self.review, name, stored, shape, image.shape, changed)  # raises unless aside
        return self._stored(name, image, changed=False)

    def _cache_prediction(self, name: str, labels: np.ndarray) -> None:
        """Write a prediction to the cache; a failed write is said once, the image is shown.

        Before, a cache folder deleted meanwhile, or a full disk, made the image fail.
        """
        try:
            self.review.save_prediction(name, labels, self.key, self.model_name)
        except OSError as exc:
            if self._cache_failed:
                return
            self._cache_failed = True
            message = (
                f"predictions could not be cached in {self.review.output} ({exc}); they are "
                "shown, and made again when the folder is next opened"
            )
            if self.on_warning is not None:
                self.on_warning(message)
            else:
                warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _read(self, name: str, image: np.ndarray) -> None:
        """Called with each image as it is read, before its labels are looked up (a hook)."""

    def _plane_shape(self, image: np.ndarray) -> tuple[int, ...]:
        """The shape labels of ``image`` have: the stack and the plane, without channels."""
        lay = self._predictor.layout(image)
        return (*lay.stack_shape, *lay.planes.shape[-2:])

    def _predict(self, image: np.ndarray, noted: bool = True) -> tuple[np.ndarray, tuple]:
        """``(labels, out-of-domain warnings)`` of ``image`` (:func:`predict_noted`)."""
        stopped = lambda: self._closed  # noqa: E731
        return predict_noted(self._predictor, self._post, image, self._metadata, stopped, noted)
