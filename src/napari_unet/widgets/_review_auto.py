"""The Review dock's ``auto`` model: each image predicted with the built-in model chosen for it.

A :class:`~napari_unet.core.review.prefetch.Prefetcher` predicts with one model;
:class:`AutoPrefetcher` holds every built-in model and, for each image it fetches, uses the
one ``auto`` chooses for that image's pixels
(:func:`~napari_unet.core.models.pretrained.choose_pretrained`: ``nuclei`` for a dark
background, ``nuclei-brightfield`` for a bright one). A prediction is cached under the key of
the model that made it, the key a review opened with that model alone uses too: a cached
prediction of one built-in model is never shown for an image ``auto`` gives the other, and a
review opened with ``nuclei`` before keeps the predictions ``auto`` would make the same.

Opening a folder with ``auto`` loads no model on the GUI thread (:data:`LATER`): the
prefetch thread loads the built-in models before its first image (before, 2 s of
``import torch`` and model files held the GUI thread even with every image labelled).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

from napari_unet.core.inference.scale import AUTO as SCALE_AUTO
from napari_unet.core.review.prefetch import Prefetcher, model_key

#: The name ``auto`` is shown by until an image is predicted (then the model's own name).
AUTO_NAME = "auto"
#: Each image's error when the built-in models did not load.
UNLOADABLE = "the built-in models could not be loaded"


class Member(NamedTuple):
    """The model ``auto`` predicts one kind of image with (a built-in model or a stand-in)."""

    model: object
    metadata: dict
    name: str  #: shown: the built-in model's name or the trained model's
    source: Path | str | None  #: its file, the built-in model's name, or None (not saved)


class _Later(dict):
    """No model yet: the built-in models, loaded by the prefetch thread (:data:`LATER`)."""


#: What ``auto`` opens a review with: an :class:`AutoPrefetcher` given it loads them itself.
LATER = _Later()


def builtin_models() -> dict[str, Member]:
    """Every built-in model, loaded: ``name -> Member``."""
    from napari_unet.core.models.pretrained import PRETRAINED, pretrained_path
    from napari_unet.widgets._exporting import load_model_file

    loaded = {name: load_model_file(pretrained_path(name)) for name in PRETRAINED}
    return {name: Member(model, metadata, name, name) for name, (model, metadata) in loaded.items()}


def stand_in(models: dict[str, Member], kinds, member: Member) -> dict[str, Member]:
    """``models`` with ``member`` predicting the images of ``kinds`` (built-in names)."""
    return {name: member if name in kinds else old for name, old in models.items()}


def shown_name(models: dict[str, Member]) -> str:
    """How a review predicting with ``models`` names its model."""
    changed = [m.name for name, m in models.items() if m.name != name]
    return AUTO_NAME if not changed else f"{AUTO_NAME} with {', '.join(changed)}"


def make_prefetcher(review, model, metadata, name: str, **kwargs) -> Prefetcher:
    """A prefetcher of one model, or of the built-in models by image (``model`` a dict)."""
    if isinstance(model, dict):
        return AutoPrefetcher(review, model, **kwargs)
    return Prefetcher(review, model, metadata, name, **kwargs)


class _Route(NamedTuple):
    """What predicting with one built-in model takes."""

    key: str
    predictor: object
    post: object
    metadata: dict
    name: str


class AutoPrefetcher(Prefetcher):
    """A :class:`Prefetcher` that predicts each image with the built-in model chosen for it.

    Parameters
    ----------
    review : Review
        As for :class:`Prefetcher`.
    models : dict
        ``name -> Member``: the model of each kind of image (:func:`builtin_models`, or with
        a stand-in, :func:`stand_in`).
    **kwargs
        The other keywords of :class:`Prefetcher` (``cache``, ``queue_all``, ...).
    """

    def __init__(self, review, models: dict[str, Member], **kwargs) -> None:
        self._options = kwargs.get("options") or {}
        self._chosen: dict[str, str] = {}  # image -> the model chosen when it was last read
        self._loaded, self._unloadable = threading.Event(), ""
        if isinstance(models, _Later) or not models:  # loaded in the thread, or none loaded
            self._models, self._routes, self._keys = None, {}, {}
            if not isinstance(models, _Later):  # before, StopIteration on the GUI thread
                self._unloadable, self._models = UNLOADABLE, {}
                self._loaded.set()  # the thread says so for each image
            super().__init__(review, None, None, AUTO_NAME, **kwargs)
            return
        self._use(models)  # set before the thread starts (the base class starts it)
        first = next(iter(models.values()))
        super().__init__(review, first.model, first.metadata, shown_name(models), **kwargs)

    @property
    def models(self) -> dict[str, Member]:
        """``name -> Member`` (waits for the thread to load the built-in models)."""
        self._loaded.wait()
        return self._models

    @models.setter
    def models(self, models: dict[str, Member]) -> None:
        self._models = dict(models)

    def _use(self, models: dict[str, Member]) -> None:
        """Predict with ``models``: each built-in model's predictor and key."""
        from napari_unet.core.inference.plan import Predictor
        from napari_unet.core.inference.postprocess import Postprocess

        options = self._options
        self._routes = {
            name: _Route(
                f"{model_key(model)}-{SCALE_AUTO}",  # the key a review of this model uses
                Predictor(model, metadata=metadata, **options),
                Postprocess.for_model(metadata), metadata, shown,
            )
            for name, (model, metadata, shown, _) in models.items()
        }  # fmt: skip
        self.models = models
        self._keys = {route.key: name for name, route in self._routes.items()}
        self._loaded.set()

    def _loop(self) -> None:
        """Load the built-in models first if not given (here, not on the GUI thread).

        Whatever the loading raises, :attr:`models` and :meth:`keys_of` stop waiting (before,
        a MemoryError left the GUI thread waiting on them for good).
        """
        if not self._loaded.is_set():
            try:
                self._use(builtin_models())
                self._route(next(iter(self._routes.values())))
            except Exception as exc:  # noqa: BLE001 - MemoryError too: said for each image
                self._unloadable = f"{UNLOADABLE}: {str(exc) or type(exc).__name__}"
            finally:
                if self._unloadable or self._models is None:
                    self._models, self._routes, self._keys = {}, {}, {}
                self._loaded.set()
        if self._unloadable:
            with self._cond:
                wanted = list(self._wanted[: self.cache_size])
            for name in wanted if self.on_error is not None else ():
                self.on_error(name, self._unloadable)  # every image fails: said once
            return None
        return super()._loop()

    def error(self, name: str) -> str | None:
        """As the base class; every image fails when the built-in models did not load."""
        return self._unloadable or super().error(name)

    def keys_of(self, kinds) -> set[str]:
        """The keys of the predictions made for the images of ``kinds``."""
        self._loaded.wait()
        return {route.key for name, route in self._routes.items() if name in kinds}

    def chosen(self, name: str) -> str | None:
        """The built-in model chosen for image ``name`` (None: not read yet)."""
        return self._chosen.get(name)

    def _needs(self, name: str) -> bool:
        """As the base class, with the predictions of either built-in model.

        An image not wanted now that a built-in model predicted is done when that model is
        the one chosen for it; until its file was read (which chooses) it is read, and one
        the other model predicted is predicted again. Before, an image not yet read counted
        as done, and "predict the whole folder ahead" kept the other model's predictions.
        """
        if not self._loaded.is_set() or self._unloadable:  # the thread loads them first
            return not self._unloadable
        later = name not in self._wanted[: self.cache_size] and name not in self._failed
        cached = self._keys.get(self.review.entries[name].predicted_with)
        if later and name not in self._done and cached is not None:
            if self.chosen(name) == cached or self._has_labels(name):
                self._done.add(name)
                return False
            return True  # to be read (the choice), or the other model's: predicted again
        return super()._needs(name)

    def _read(self, name: str, image) -> None:
        """Choose the model for the image just read (on its pixels: it is not read again)."""
        from napari_unet.widgets._auto_builtin import choose_for_array

        self._chosen[name] = chosen = choose_for_array(image)
        self._route(self._routes[chosen])

    def _route(self, route: _Route) -> None:
        with self._cond:  # only this thread predicts: the model for this image
            self.key, self.model_name = route.key, route.name
            self._predictor, self._post = route.predictor, route.post
            self._metadata = route.metadata
