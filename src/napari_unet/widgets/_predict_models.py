"""Which model the Predict dock runs: its identity, its file's stamp and recommendations.

:class:`ModelFiles` is a mixin of :class:`~napari_unet.widgets._predict_form.PredictForm`
(it uses the form's ``pending``, ``saved``, ``model_name``, ``_source`` and the display's
``_show_model``). Two models may share a name (``runA/model.safetensors`` and
``runB/model.safetensors``, or the built-in ``nuclei`` and a ``nuclei.safetensors``):
:meth:`ModelFiles.model_identity` tells them apart, so that one's result never replaces
the other's. A model file rewritten on disk (retrained) is read again by Predict, and so
are its recommendations (:meth:`ModelFiles.refresh_replaced`): before, the dock kept the
old file's threshold, min area and split, and the same file segmented differently in the
dock and with ``napari-unet predict``.
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_unet.core.errors import InputError
from napari_unet.widgets._exporting import is_package, package_header

BUILTIN = "nuclei (built-in)"
#: The default choice: the built-in model chosen by the image (``"auto"``).
AUTO_CHOICE = "auto (built-in, by the image)"
#: The model choices that are built-in models, and their names (core.models.pretrained).
BUILTINS = {
    AUTO_CHOICE: "auto",
    BUILTIN: "nuclei",
    "nuclei-brightfield (built-in)": "nuclei-brightfield",
}
OTHER = "model file / trained model"


def stamp(path) -> tuple | None:
    """When and how large ``path`` was last written (None: it is gone)."""
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class ModelFiles:
    """The form's model file: who writes a result, and recommendations kept up to date."""

    _shown_from: tuple | None = None  # (file, its stamp) whose recommendations are shown

    def model_identity(self) -> tuple[str, list[str]]:
        """The model that writes a result, and the names its result layer may take.

        A model file (a built-in model's too) is its resolved path: the same file chosen
        again, or rewritten, is the same model and updates its layer in place. A model the
        Train dock handed over unsaved is its name. The names: the model's name, then one
        that tells it from another model of that name (its folder, ``runB/model``, or
        ``built-in nuclei``); the dock numbers them past that.
        """
        name = self.model_name or "model"
        if self.saved is None:
            return f"in memory: {name}", [name]
        if BUILTINS.get(self._source.value) is not None:
            return os.path.realpath(self.saved), [name, f"built-in {name}"]
        folder = Path(os.path.realpath(self.saved)).parent.name
        return os.path.realpath(self.saved), [name, *([f"{folder}/{name}"] if folder else [])]

    def _show_recommendations(self, path: Path, keep_edits: bool = False) -> None:
        """Show what a model file recommends (its header only: no torch).

        ``keep_edits``: a value changed by hand since the last recommendations stays.
        """
        from napari.utils.notifications import show_error

        from napari_unet.core.models.modelfile import ModelFileError, read_metadata

        shown = (path, stamp(path))
        try:
            metadata = package_header(path) if is_package(path) else read_metadata(path)
        except ModelFileError as exc:  # a damaged or hand-edited file: said now, not later
            show_error(f"{path.name} cannot be used as a model: {exc}")
            return
        except (InputError, OSError):
            return  # not a model file: Predict will say so
        self._shown_from = shown
        if metadata is not None:  # None: not a package napari-unet wrote; Predict says so
            self._show_model(metadata, keep_edits=keep_edits)

    def _drop_replaced(self) -> None:
        """Forget the model in memory if its file was rewritten since (retrained): reloaded."""
        if self._loaded_from is not None and stamp(self._loaded_from[0]) != self._loaded_from[1]:
            self.model, self.metadata = None, {}
            self.pending = self._loaded_from[0]
            self._loaded_from = None

    def refresh_replaced(self) -> None:
        """The file to load was rewritten since its recommendations were shown: show the new.

        Threshold, min area, split and seed level follow the new file as the command line
        does, but a value the user changed from the old file's recommendation stays; the
        object-size note and which of split and seed level applies follow it too.
        """
        shown, path = self._shown_from, self.pending
        if path is None or shown is None or str(shown[0]) != str(path):
            return
        now = stamp(path)
        if now is not None and now != shown[1]:  # gone: Predict says so when it loads
            self._show_recommendations(Path(path), keep_edits=True)
