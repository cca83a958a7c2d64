"""The settings of the Predict dock: model, image, channel, object size, tiles, post-processing.

:class:`PredictForm` holds the controls and the chosen model (a file, a built-in model or
a model handed over by the Train dock) and turns them into the request the worker runs
(:meth:`PredictForm.request`, read on the GUI thread). The dock adds the buttons, progress
and results. The default choice, ``auto``, follows the selected image: the built-in model
chosen for it (:mod:`~napari_unet.widgets._auto_builtin`), with its recommended
post-processing shown whenever the choice changes. Which model writes a result, and the
recommendations of a model file rewritten on disk: :mod:`~napari_unet.widgets._predict_models`.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    RadioButtons,
    SpinBox,
)

from napari_unet.core.annotation.axes import check_named_planes, prediction_plan
from napari_unet.core.errors import InputError
from napari_unet.core.images.background import MODES
from napari_unet.core.images.photons import MODES as PHOTON_MODES
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.inference.scale import AUTO
from napari_unet.core.models.heads import head_of
from napari_unet.core.options import describe
from napari_unet.widgets import _layers
from napari_unet.widgets._auto_builtin import LayerChoice, model_label
from napari_unet.widgets._exporting import is_package, model_channels
from napari_unet.widgets._predict_boxes import make_boxes
from napari_unet.widgets._predict_display import PredictDisplay
from napari_unet.widgets._predict_models import (  # noqa: F401 - the form's names, as before
    AUTO_CHOICE,
    BUILTIN,
    BUILTINS,
    OTHER,
    ModelFiles,
)
from napari_unet.widgets._predict_models import stamp as _stamp
from napari_unet.widgets._view_region import SMALL_VIEW, view_region

if TYPE_CHECKING:
    import napari

WHOLE = "whole image"
VIEW = "current view/plane only"
#: What the object-size box shows at 0: no rescaling (the image's own scale).
SIZE_AUTO = "auto"


class PredictForm(ModelFiles, PredictDisplay, Container):
    """The Predict dock's settings and its model choice."""

    #: The controls the dock exposes under the same names.
    CONTROLS = (
        "_source", "_model_file", "_model_label", "_image", "_channel", "_size", "_estimate",
        "_size_note", "_tile", "_device", "_scope", "_threshold", "_min_size", "_split",
        "_seed_level", "_flips", "_background", "_denoise", "_probabilities",
    )  # fmt: skip

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer
        self.model, self.metadata, self.pending = None, {}, None
        self.model_name, self.saved = "", None
        self._handed: tuple | None = None  # (model, metadata, name, saved) from set_model
        self._loaded_from: tuple | None = None  # (file, its stamp) of the model in memory
        self._kept: dict = {}  # built-in model file -> (model, metadata) loaded by a run
        self._auto = LayerChoice()  # auto's choice for the selected image
        self._sizes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # image -> size
        self.model_changed = lambda: None  # the dock's callback
        self._make_controls()
        self.extend(
            [
                self._source, self._model_file, self._model_label, self._image, self._channel,
                _layers.row(self._size, self._estimate, label="object size (px)"),
                self._size_note, self._tile, self._device, self._scope, self._threshold,
                self._min_size, self._split, self._seed_level, self._flips, self._background,
                self._denoise, self._probabilities,
            ]
        )  # fmt: skip
        self._model_file.changed.connect(self._on_model_file)
        self._image.changed.connect(lambda _=None: self._channel.reset_choices())
        self._image.changed.connect(self._follow_image)
        self._channel.changed.connect(self._follow_image)  # judged on what the model reads
        self._image.changed.connect(self._restore_size)  # each image keeps its own size
        self._size.changed.connect(self._remember_size)
        self._source.changed.connect(self._on_source)
        self._source.value = AUTO_CHOICE  # the built-in models work before any training

    def _make_controls(self) -> None:
        post = Postprocess()
        self._source = ComboBox(label="model", choices=[*BUILTINS, OTHER], value=OTHER)
        self._model_file = FileEdit(
            label="model file", mode="r", filter="*.safetensors *.zip"
        )  # a model file, or a bioimage.io package napari-unet exported
        self._model_label = Label(value="model: none (choose a file or train one)")
        self._image = ComboBox(
            label="image", choices=lambda _w=None: _layers.layer_choices(self._viewer, "Image")
        )
        self._channel = ComboBox(label="channel", choices=self._channel_choices)
        self._size = FloatSpinBox(min=0.0, max=2000.0, step=1.0, value=0.0)
        self._size.native.setSpecialValueText(SIZE_AUTO)  # 0: estimated, as predict does
        self._estimate = PushButton(text="Estimate")
        self._size_note = Label(value="")
        self._tile = SpinBox(label="tile (px, 0 = auto)", min=0, max=16384, value=0)
        self._device = ComboBox(label="device", choices=["auto", "cpu", "cuda", "mps"])
        self._scope = RadioButtons(label="predict", choices=[WHOLE, VIEW], value=WHOLE)
        boxes = make_boxes(post)  # enough decimals and range for any model file's values
        self._threshold, self._min_size = boxes["threshold"], boxes["min_size"]
        self._split, self._seed_level = boxes["split"], boxes["seed_level"]
        for box in boxes.values():  # the model line's note on a value past its box
            box.changed.connect(lambda _=None: self.note_post())
        self._flips = CheckBox(text="test-time flips (4x slower)", value=False)
        self._background = ComboBox(label="uneven light", choices=MODES, value="auto")
        self._denoise = ComboBox(label="few photons", choices=PHOTON_MODES, value="auto")
        self._probabilities = CheckBox(text="also add probabilities", value=False)
        for widget in (self._model_label, self._size_note):
            _layers.message_label(widget)
        self.tooltips(
            model=self._source, model_file=self._model_file, image=self._image,
            channel=self._channel, object_size=self._size, estimate_size=self._estimate,
            tile=self._tile, dock_device=self._device, scope=self._scope,
            threshold=self._threshold, min_size=self._min_size, split=self._split,
            seed_level=self._seed_level, flips=self._flips, background=self._background,
            denoise=self._denoise, add_probabilities=self._probabilities,
        )  # fmt: skip

    @staticmethod
    def tooltips(**widgets) -> None:
        """Each widget's tooltip is its option's description (``key=widget``)."""
        for key, widget in widgets.items():
            widget.tooltip = describe(key)

    @property
    def probabilities(self) -> bool:
        """Whether the probabilities are added too."""
        return bool(self._probabilities.value)

    def _channel_choices(self, _widget=None) -> list[tuple[str, object]]:
        """auto, mean, and each colour channel of an RGB(A) layer (its alpha is never used)."""
        layer = self._image.value if hasattr(self, "_image") else None
        n = int(layer.data.shape[-1]) if getattr(layer, "rgb", False) else 0
        picks = [(f"channel {k}", k) for k in range(min(n, 3))]
        return [("auto", None), ("mean of the channels", "mean"), *picks]

    # -- the model ----------------------------------------------------------------------
    def _use(self, model, metadata, pending, name: str, saved=None, label: str = "") -> None:
        self.model, self.metadata, self.pending = model, dict(metadata or {}), pending
        self._loaded_from = self._shown_from = None
        self.model_name, self.saved = name, saved
        self._model_label.value = label or (f"model: {name}" if name else "model: none")
        self._size_note.value = self._learnt = ""  # the model's own: _show_model
        self.model_changed()

    def set_model(self, model, metadata: dict, name: str, saved: Path | None = None) -> None:
        """Use an in-memory model, saved to ``saved`` or not saved at all (None).

        The file box shows ``saved`` (else nothing), so that it shows what Predict uses and
        choosing a file there replaces the model; back to the file choice after a built-in
        model, this model is used again (before, it was lost, or the old file box kept it).
        """
        self._handed = (model, dict(metadata or {}), name, saved)
        with self._model_file.changed.blocked():
            if saved is None:  # empty (a FileEdit's own value "" is the working folder)
                self._model_file.line_edit.value = ""
            else:
                self._model_file.value = saved
        self._source.value = OTHER
        self._use_handed()

    def _use_handed(self) -> None:
        model, metadata, name, saved = self._handed
        note = "" if saved is not None else " (not saved: Save model... keeps it)"
        self._use(model, metadata, None, name, saved, f"model: {name}{note}")
        self._show_model(self.metadata, head_of(model))

    def _on_model_file(self, value=None) -> None:
        path = Path(str(self._model_file.value))
        if str(self._model_file.value) in ("", "."):
            return
        if not path.is_file():  # a typo: Predict refuses (before, the last model ran)
            self._source.value = OTHER  # an unsaved handed-over model is kept for later
            self._use(None, {}, path, path.stem, None, f"model: none ({missing(path)})")
            return
        self._handed = None  # a file chosen since: it replaces the handed-over model
        self._source.value = OTHER
        kind = "bioimage.io package, opened" if is_package(path) else "loaded"
        label = f"model: {path.name} ({kind} when you press Predict)"
        name = path.name.removesuffix(".safetensors").removesuffix(".zip")
        self._use(None, {}, path, name, path, label)
        self._show_recommendations(path)

    def _on_source(self, value=None) -> None:
        """A built-in model (auto: the one for the image), or back to the file / handed model."""
        name = BUILTINS.get(self._source.value)
        if name is None and self._handed is not None:  # the model the Train dock handed over
            self._use_handed()
        elif name is None:
            self._use(None, {}, None, "", None, "model: none (choose a file or train one)")
            self._on_model_file()
        elif name == "auto":
            self._follow_image(force=True)
        else:
            self._use_builtin(name)

    def _follow_image(self, _value=None, force: bool = False) -> None:
        """With auto: use the built-in model chosen for the selected image.

        Its recommended post-processing is shown when the choice changes (as when a model
        is chosen), not when another image gets the same model: edits are kept then.
        """
        if BUILTINS.get(self._source.value) != "auto":
            return
        try:
            name = self._auto(self._image.value, self._channel.value)
        except InputError as exc:  # not an image a model reads: Predict says why
            self._use(None, {}, None, "", None, f"model: auto could not choose ({exc})")
            return
        if name is None:
            self._use(None, {}, None, "", None, "model: auto (choose an image layer)")
        elif force or name != self.model_name or (self.model is None and self.pending is None):
            self._use_builtin(name)

    def _builtin_label(self, loaded: bool) -> str:
        return model_label(self.model_name, BUILTINS.get(self._source.value) == "auto", loaded)

    def _use_builtin(self, name: str) -> None:
        """Use built-in model ``name`` (kept in memory once a run loaded it)."""
        from napari_unet.core.models.pretrained import pretrained_path

        try:
            path = pretrained_path(name)
        except InputError as exc:  # a broken installation: say so, keep the file choice
            self._model_label.value = f"model: none ({exc})"
            self._source.value = OTHER
            return
        model, metadata = self._kept.get(path, (None, {}))
        self._use(model, metadata, None if model else path, name, path)
        if model is not None:
            self._loaded_from = (path, _stamp(path))
        self._model_label.value = self._builtin_label(model is not None)
        self._show_recommendations(path)

    def keep_loaded(self, out: dict, req: dict) -> None:
        """Keep the model a run loaded from the chosen file (if it is still the choice)."""
        if out["model"] is not None and self.model is None and self.pending == req["model_file"]:
            builtin = BUILTINS.get(self._source.value)
            self.model, self.metadata, self.pending = out["model"], out["metadata"], None
            self._loaded_from = (req["model_file"], req["stamp"])  # the file it was read from
            if builtin:  # not read again when it is chosen again (auto, another image)
                self._kept[req["model_file"]] = (self.model, self.metadata)
            name = Path(req["model_file"]).name
            self._model_label.value = self._builtin_label(True) if builtin else f"model: {name}"
            if out.get("kind") is not None:  # another tool's package, run by bioimageio.core
                self._model_label.value += f" ({self.model.summary})"
            self.note_post()  # a recommendation past its box, used still
            self.model_changed()

    def export_source(self) -> tuple:
        """``(model, name, suggested .zip path)`` for the Export button (GUI thread).

        A built-in model by name, the package the model was opened from (its name,
        authors and licence are carried; the path suggested is never the package itself),
        the in-memory model the dock predicts with (the one the Train dock handed over, or
        one loaded from its file, unless the file was rewritten since: then the file, as
        Predict reloads it), else the chosen file.
        """
        from napari_unet.widgets._exporting import is_foreign as out_of_reach
        from napari_unet.widgets._exporting import suggested_path

        builtin = BUILTINS.get(self._source.value)
        if builtin == "auto":  # the one chosen for the selected image
            builtin = self._auto(self._image.value, self._channel.value)
            if builtin is None:
                raise InputError(
                    "auto chooses the built-in model by the image: choose an image layer, "
                    "or choose nuclei or nuclei-brightfield to export"
                )
        if builtin is not None:
            return builtin, builtin, suggested_path(builtin)
        self._drop_replaced()  # what Predict would use now (before: the old weights)
        beside = self.saved if self.saved is not None and self.saved.is_file() else None
        name = self.model_name or "model"
        if out_of_reach(self.model):
            raise InputError(
                f"{name} is a bioimage.io package of another tool: share that package itself"
            )
        if beside is not None and is_package(beside):  # opened from a package: read again,
            return beside, name, suggested_path(name, beside)  # its authors and licence too
        if self.model is not None:
            return (self.model, self.metadata), name, suggested_path(name, beside)
        if self.pending is not None and not Path(self.pending).is_file():
            raise InputError(f"{Path(self.pending).name} is gone: choose the model file again")
        if self.pending is not None:
            return self.pending, name, suggested_path(name, beside)
        raise InputError("no model to export: choose a model file or train one")

    def _remember_size(self, _value=None) -> None:
        """Keep the object size typed (or estimated) for the selected image."""
        if self._image.value is not None and self._size.enabled:
            self._sizes[self._image.value] = float(self._size.value)

    def _restore_size(self, _value=None) -> None:
        """The size given for this image before, else auto; the note says the model's size.

        Before, the size given for one image was used for the next image chosen.
        """
        if self._size.enabled:
            self._size.value = self._sizes.get(self._image.value, 0.0)
            self.show_model_size()

    # -- the request --------------------------------------------------------------------
    def request(self, estimate: bool = False) -> dict:
        """Everything the worker needs, read on the GUI thread (raises InputError)."""
        layer = self._image.value
        if layer is None:
            raise InputError("no image layer: open an image first")
        self._follow_image()  # auto: the image's data may have been replaced
        self._drop_replaced()
        self.refresh_replaced()  # a file rewritten since it was chosen: its recommendations
        if self.model is None and self.pending is not None and not Path(self.pending).is_file():
            raise InputError(missing(Path(self.pending)))
        if self.model is None and self.pending is None:
            auto = BUILTINS.get(self._source.value) == "auto"  # the label says why
            raise InputError(self._model_label.value[7:] if auto else "no model: choose a "
                             "model file or train one in the Train dock")  # fmt: skip
        # Colour last, a short first axis as the model's channels if it has as many, else
        # planes (napari's slider), one prediction each: as the command line reads it.
        channels = model_channels(self.model, self.pending)
        data = _layers.image_data(layer, channels)  # full resolution; an RGB layer's alpha
        rgb, names = bool(getattr(layer, "rgb", False)), getattr(layer, "axis_labels", None)
        check_named_planes(data.shape, rgb, channels, names)  # z or t: planes, not channels
        plan, axis = prediction_plan(data.shape, rgb, channels, names)
        options = {
            "tile": self._tile.value or None,
            "device": self._device.value,
            **self.post_values(),  # the file's own values while the boxes show them
            "flips": bool(self._flips.value),
            "background": self._background.value,
            "denoise": self._denoise.value,
            "channel_axis": axis,
            "channel": self._channel.value,
            "object_size": float(self._size.value) if self._size.value > 0 else AUTO,
        }
        req = {"layer": layer, "data": data, "options": options, "plane": None, "region": None}
        req["shape"], req["model_file"] = plan.labels_shape, self.pending
        req["stamp"] = None if self.pending is None else _stamp(self.pending)  # before loading
        req["model_name"] = self.model_name or "model"
        req["model_id"], req["model_names"] = self.model_identity()  # two models of one name
        if self._scope.value == VIEW:
            if plan.is_stack:
                req["plane"] = _layers.plane_in_view(  # a side section, 3D: no plane on screen
                    self._viewer, layer, plan.labels_shape[0], image_plane=True
                )
            h, w = plan.labels_shape[-2:]
            side = self._tile.value or SMALL_VIEW  # zoomed in very far: one tile's box
            box = view_region(self._viewer, layer, (h, w), side)  # None: 3D, a side view
            if box is not None and (box[1] - box[0], box[3] - box[2]) != (h, w):
                req["region"] = ((box[0], box[1]), (box[2], box[3]))
        return req


def missing(path: Path) -> str:
    """What Predict says of a model file that is not there (a typo, or deleted since)."""
    return f"{path.name}: no such model file; choose it again in the model file box"
