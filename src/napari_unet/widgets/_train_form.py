"""The settings form of the Train dock: what to train on, from what, and how.

Layer pickers (the image's own labels are offered first), the training pairs, the start
model and the optimisation settings, with their defaults from
:class:`~napari_unet.core.training.config.TrainConfig` and their tooltips from the option
table. The dock (:mod:`napari_unet.widgets.train`) reads :meth:`TrainForm.config`,
:meth:`TrainForm.init_choice` and :meth:`TrainForm.pairs`; it runs the training.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)

from napari_unet.core.models.heads import DEFAULT_HEAD, HEADS
from napari_unet.core.options import describe
from napari_unet.core.training.augment import ROBUST, AugmentConfig
from napari_unet.core.training.config import (
    DEFAULT_PRESET,
    HOLDOUT_FRACTION,
    PRESETS,
    TrainConfig,
)
from napari_unet.widgets import _layers
from napari_unet.widgets._labels_default import LabelsDefault
from napari_unet.widgets._train_helpers import RegionDefault, foreign_pair, typed_path, val_text

#: Start from the built-in model chosen by the training images (``auto``).
BUILTIN = "built-in model (by the image)"
FILE = "model file (fine-tune)"
SCRATCH = "scratch (architecture below)"
START_FROM = (BUILTIN, FILE, SCRATCH)
HOLDOUT = f"hold out {HOLDOUT_FRACTION:.0%} (bottom rows)"
#: What the val annotations row says when no validation image is chosen (hold out, none).
VAL_NOTES = {None: "(held-out bottom rows of the annotations)", "none": "(no validation)"}
#: The learning-rate control's value that reads "auto" (the trainer chooses the rate).
AUTO = 0.0

#: The controls of the form, also attributes of the dock (``dock._steps`` ...).
CONTROLS = (
    "_image", "_labels_box", "_region", "_add_pair", "_clear_pairs", "_pairs_label", "_start_from",
    "_preset", "_head", "_init_file", "_steps", "_lr", "_batch", "_crop", "_val_image",
    "_val_labels", "_val_every", "_robust", "_device", "_save_path",
)  # fmt: skip


class TrainForm(Container):
    """The Train dock's settings.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers the pickers offer.
    """

    def __init__(self, viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer
        self._pairs: list[tuple[Any, Any, Any]] = []
        self.start_note = ""  # which built-in model the last start chose, and why
        self._idle_status, self._idle = None, ""  # the status line showing idle_text
        self._make_controls()
        # The image's "<image> annotations", then its ground truth, unless the user chose
        # labels for this image.
        self._labels_default = LabelsDefault(
            self._labels_box, lambda: self._image.value, viewer, per_image=True
        )
        # The Annotate dock's "<image> annotated region", unless the user chose a region.
        self._region_default = RegionDefault(self._region, lambda: self._image.value)
        # The validation image's own labels likewise: before, the picker stayed on the
        # training image's annotations, and validation scored another image against them.
        self._val_default = LabelsDefault(
            self._val_labels, lambda: _layer(self._val_image.value), viewer, per_image=True
        )
        pair_buttons = Container(widgets=[self._add_pair, self._clear_pairs], layout="horizontal")
        pair_buttons.margins = (0, 0, 0, 0)
        self.extend(
            [
                self._image, self._labels_box, self._region, pair_buttons, self._pairs_label,
                self._start_from, self._preset, self._head, self._init_file, self._steps,
                self._lr,
                self._batch, self._crop, self._val_image, self._val_row, self._val_every,
                self._robust, self._device, self._save_path,
            ]
        )  # fmt: skip
        # Choosing an architecture means training it from scratch; choosing a file means
        # fine-tuning that file. The built-in model for the training images is the default.
        self._preset.changed.connect(lambda _=None: setattr(self._start_from, "value", SCRATCH))
        self._head.changed.connect(lambda _=None: setattr(self._start_from, "value", SCRATCH))
        self._init_file.changed.connect(self._on_init_file)
        self._add_pair.changed.connect(self._on_add_pair)
        self._clear_pairs.changed.connect(self._on_clear_pairs)
        self._image.changed.connect(self.pair_labels)
        self._val_image.changed.connect(self._on_val_image)
        self._on_val_image()

    def _make_controls(self) -> None:
        d = TrainConfig
        self._image = ComboBox(label="image", choices=self._choices("Image"))
        self._labels_box = ComboBox(label="annotations", choices=self._choices("Labels"))
        self._region = ComboBox(label="annotated region", choices=self._region_choices)
        self._add_pair = PushButton(text="Add pair")
        self._clear_pairs = PushButton(text="Clear pairs")
        self._pairs_label = Label(value="pairs: the image/annotations above")
        _layers.message_label(self._pairs_label)
        self._preset = ComboBox(label="architecture", choices=list(PRESETS), value=DEFAULT_PRESET)
        self._head = ComboBox(label="head", choices=list(HEADS), value=DEFAULT_HEAD)
        self._start_from = ComboBox(label="start from", choices=list(START_FROM), value=BUILTIN)
        self._init_file = FileEdit(label="model file", mode="r", filter="*.safetensors")
        self._steps = SpinBox(label="steps", min=1, max=1_000_000, value=d.steps)
        # 0, the minimum, reads "auto": the trainer chooses (TrainConfig.lr None).
        self._lr = FloatSpinBox(label="learning rate", min=0.0, max=1.0, step=1e-4, value=AUTO)
        self._lr.native.setDecimals(6)
        self._lr.native.setSpecialValueText("auto")
        self._batch = SpinBox(label="batch size", min=1, max=256, value=d.batch_size)
        self._crop = SpinBox(label="crop size (px)", min=16, max=2048, value=d.crop_size)
        self._val_every = SpinBox(label="validate every", min=1, max=100_000, value=d.val_every)
        self._val_image = ComboBox(label="validation", choices=self._val_choices)
        self._val_labels = ComboBox(label="val annotations", choices=self._choices("Labels"))
        # Said in place of the val labels picker when no validation image is read.
        self._val_note = Label(value="", tooltip=describe("val_labels"))
        _wraps(self._val_note)  # never wider than the dock (it cut the dock's right edge off)
        self._val_row = Container(widgets=[self._val_labels, self._val_note], labels=False,
                                  layout="horizontal", label="val annotations")  # fmt: skip
        self._val_row.margins = (0, 0, 0, 0)
        self._robust = CheckBox(text="robust: also train for noise, blur, uneven light")
        self._device = ComboBox(label="device", choices=["auto", "cpu", "cuda", "mps"])
        self._save_path = FileEdit(label="save to", mode="w", filter="*.safetensors")
        for widget, key in (
            (self._image, "image"), (self._labels_box, "labels"), (self._region, "region"),
            (self._add_pair, "add_pair"), (self._clear_pairs, "clear_pairs"),
            (self._preset, "arch"), (self._head, "head"), (self._start_from, "start_from"),
            (self._init_file, "init_file"),
            (self._steps, "steps"), (self._lr, "lr"), (self._batch, "batch_size"),
            (self._crop, "crop_size"), (self._val_every, "val_every"),
            (self._val_image, "validation"), (self._val_labels, "val_labels"),
            (self._robust, "robust"), (self._device, "dock_device"), (self._save_path, "save_to"),
        ):  # fmt: skip
            widget.tooltip = describe(key)

    # -- layer choices ------------------------------------------------------------------
    def _choices(self, kind: str):
        return lambda _widget=None: _layers.layer_choices(self._viewer, kind)

    def _region_choices(self, _widget=None):
        layers = _layers.layer_choices(self._viewer, "Labels", "Shapes")
        return [("(whole image)", None), *layers]

    def _val_choices(self, _widget=None):
        return [(HOLDOUT, None), ("none", "none"), *self._choices("Image")()]

    def pair_labels(self, _value=None) -> None:
        """Offer the chosen image's own labels and annotated region.

        Its ``"<image> annotations"``, else its ground truth, its predictions last, unless
        the user chose a labels layer
        (:class:`~napari_unet.widgets._labels_default.LabelsDefault`); the Annotate dock's
        ``"<image> annotated region"`` unless the user chose a region
        (:class:`~napari_unet.widgets._train_helpers.RegionDefault`). The idle status line
        follows the picks.
        """
        self._labels_default.pick()
        self._region_default.pick()
        self._on_val_image()  # a removed validation image falls back without a signal
        self.show_idle()

    def _on_val_image(self, _value=None) -> None:
        """Show *val labels* only with a validation image: it is read only then.

        Otherwise the row says where validation comes from: before, a greyed picker still
        showed a labels layer, as if hold-out validated on it.
        """
        chosen = self._val_image.value
        image = chosen is not None and not isinstance(chosen, str)
        self._val_labels.enabled = image
        self._val_labels.visible, self._val_note.visible = image, not image
        self._val_note.value = "" if image else VAL_NOTES.get(chosen, "")
        if image and hasattr(self, "_val_default"):  # its own labels, unless the user chose
            self._val_default.pick()  # (also when the layers change: pair_labels)

    def validation(self) -> str:
        """What a run validates on, for its status line ("": nothing)."""
        chosen = self._val_image.value
        if chosen is None:
            return "the held-out bottom rows of the annotations"
        return "" if isinstance(chosen, str) else repr(chosen.name)

    def _val_text(self) -> str:
        """Which labels a validation image is scored against ("" without one)."""
        trained = [(self._image.value, self._labels_box.value)] + [p[:2] for p in self._pairs]
        return val_text(self._val_image.value, self._val_labels.value, trained, self._viewer)

    # -- the idle status line -------------------------------------------------------------
    def idle_text(self) -> str:
        """The status line before a run; not "Ready" for picks Train refuses (foreign_pair)."""
        picks = [p[:2] for p in self._pairs] or [(self._image.value, self._labels_box.value)]
        if (why := foreign_pair(picks)) is not None:  # Review labels of another image
            return f"Train refuses these picks: {why}."
        if self._pairs:
            return f"Ready: press Train on the {len(self._pairs)} added pairs.{self._val_text()}"
        if self._image.value is None or self._labels_box.value is None:
            return (
                "Choose an image and its annotations (Annotate > Start makes them), then press "
                "Train."
            )
        on, region = f"Ready: press Train on {self._labels_box.value.name!r}", self._region.value
        if region is not None:
            return (
                f"{on} inside {region.name!r}, where unpainted is background."
                f"{self._note()}{self._val_text()}"
            )
        return (
            f"{on}. All unpainted pixels are background; partly painted? Mark "
            f"the annotated region (the Annotate dock's rectangle).{self._note()}"
            f"{self._val_text()}"
        )

    def _note(self) -> str:
        """Says that planes napari shows on a slider are read as channels ("": none are).

        A short time series with the labels of one frame trained a model of as many
        channels, and nothing said so (the docs did).
        """
        from napari_unet.core.images.layout import extra_axis

        image, labels = self._image.value, self._labels_box.value
        shape = tuple(getattr(image.data[0] if image.multiscale else image.data, "shape", ()))
        axis = None if image.rgb else extra_axis(shape, tuple(labels.data.shape))
        if axis is None or axis == len(shape) - 1:  # channels last: not on a slider
            return ""
        return (
            f" Note: the {shape[axis]} planes of {image.name!r} on napari's slider are read as "
            "its channels (the annotations have no such axis); for a time series or a "
            "z-stack, annotate with labels of as many planes."
        )

    def keep_idle(self, status) -> None:
        """Show :meth:`idle_text` in ``status`` now and whenever the picks change.

        Only while it shows the idle text: a run's or an error's message stays.
        """
        self._idle_status = status
        status.value = self._idle = self.idle_text()
        for widget in (self._image, self._labels_box, self._region, self._add_pair,
                       self._clear_pairs, self._val_image, self._val_labels):  # fmt: skip
            widget.changed.connect(self.show_idle)

    def show_idle(self, _value=None) -> None:
        """Bring the idle status line up to date with the picks (if it shows one)."""
        status = self._idle_status
        if status is not None and status.value == self._idle:
            status.value = self._idle = self.idle_text()

    def _on_add_pair(self, _value=None) -> None:
        if self._image.value is None or self._labels_box.value is None:
            return
        pair = (self._image.value, self._labels_box.value, self._region.value)
        old = next((k for k, added in enumerate(self._pairs) if _same(pair, added)), None)
        if old is not None:  # once (a double click, another region): two copies trained the
            kept, self._pairs[old] = self._pairs[old], pair  # other's hold-out strip
            what = "is added already" if kept[2] is pair[2] else "takes the region now chosen"
            return self._show_pairs(f"{pair[0].name}+{pair[1].name} {what}")
        self._pairs.append(pair)
        self._show_pairs()

    def _show_pairs(self, note: str = "") -> None:
        names = ", ".join(f"{i.name}+{lb.name}" for i, lb, _ in self._pairs)
        text = f"pairs: {names}" if self._pairs else "pairs: the image/annotations above"
        self._pairs_label.value = text + (f" ({note})" if note else "")

    def _on_clear_pairs(self, _value=None) -> None:
        self._pairs.clear()
        self._show_pairs()

    def drop_missing(self) -> None:
        """Forget the added pairs whose image, labels or region layer left the viewer.

        Before, a pair deleted from the viewer was still trained on (its data kept alive
        by the list of pairs), and the pairs label still named it.
        """
        layers = list(self._viewer.layers)

        def present(pair) -> bool:
            return all(ly is None or any(ly is other for other in layers) for ly in pair)

        gone = [pair for pair in self._pairs if not present(pair)]
        if gone:
            self._pairs[:] = [pair for pair in self._pairs if present(pair)]
            names = ", ".join(f"{i.name}+{lb.name}" for i, lb, _ in gone)
            self._show_pairs(f"dropped {names}: a layer was removed")

    def set_pairs(self, pairs: list[tuple[Any, Any, Any]], note: str) -> None:
        """Train on these (image, labels, region) layers of another dock; ``note`` says what."""
        self._pairs[:] = pairs
        self._pairs_label.value = f"pairs: {note}"

    def added(self) -> list[tuple[Any, Any, Any]]:
        """The pairs added (or another dock's), without the image/labels chosen above."""
        return list(self._pairs)

    def start_from_model(self, init) -> None:
        """Fine-tune from ``init``: a built-in model name (``auto``: by the image) or a file."""
        from napari_unet.core.models.pretrained import AUTO, is_pretrained_name, pretrained_path

        if str(init) == AUTO and is_pretrained_name(init):
            self._start_from.value = BUILTIN
            return
        # A named built-in model is that one, whatever the images are.
        self._init_file.value = pretrained_path(str(init)) if is_pretrained_name(init) else init
        self._start_from.value = FILE

    def pairs(self) -> list[tuple[Any, Any, Any]]:
        """The (image, labels, region) layers to train on: the added pairs, else the chosen."""
        self.drop_missing()
        unique: list[tuple[Any, Any, Any]] = []
        for pair in self._pairs:  # each (image, labels, region) once (sent pairs too)
            if not any(_same(pair, kept) for kept in unique):
                unique.append(pair)
        return unique or [(self._image.value, self._labels_box.value, self._region.value)]

    # -- settings -----------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The settings as a :class:`TrainConfig` (raises InputError)."""
        model = {}  # fine-tuning keeps the model's own architecture and head
        if self._start_from.value == SCRATCH:
            model = {**PRESETS[self._preset.value], "head": self._head.value}
        return TrainConfig(
            model=model,
            steps=int(self._steps.value),
            lr=None if self._lr.value == AUTO else float(self._lr.value),
            batch_size=int(self._batch.value),
            crop_size=int(self._crop.value),
            val_every=int(self._val_every.value),
            device=str(self._device.value),
            val_fraction=HOLDOUT_FRACTION if self._val_image.value is None else 0.0,
            augment=AugmentConfig(**(ROBUST if self._robust.value else {})).to_dict(),
        )

    def _on_init_file(self, _value=None) -> None:
        if str(self._init_file.value) not in ("", "."):
            self._start_from.value = FILE

    def init_choice(self):
        """The model file to fine-tune from (None: from scratch); raises InputError.

        The built-in model is the one most of (up to eight of) the training images are
        chosen for (nuclei for a dark background, nuclei-brightfield for a bright one);
        :attr:`start_note` says which.
        """
        from napari_unet.core.errors import InputError
        from napari_unet.core.models.pretrained import pretrained_path

        self.start_note = ""
        if self._start_from.value == BUILTIN:
            from napari_unet.widgets._auto_builtin import choose_for_images, explain

            images = [image for image, _, _ in self.pairs() if image is not None]
            if not images:
                raise InputError("choose an Image layer: the built-in model is chosen by it")
            name = choose_for_images(images)
            self.start_note = f"fine-tuning {explain(name)}"
            return pretrained_path(name)
        if self._start_from.value == SCRATCH:
            return None
        init = typed_path(self._init_file.value)  # a typed ~/m.safetensors: the home folder's
        if init is None:
            raise InputError("choose a model file to fine-tune from, or start from scratch")
        return init


def _layer(choice):
    """The validation picker's image layer (None for hold-out and none)."""
    return None if choice is None or isinstance(choice, str) else choice


def _same(pair: tuple, other: tuple) -> bool:
    """Whether two (image, labels, region) triples hold the same image and labels (any region)."""
    return all(a is b for a, b in zip(pair[:2], other[:2], strict=True))


def _wraps(label) -> None:
    """Let ``label`` wrap its text within the dock's width rather than widen the dock.

    Not ``_layers.message_label``: that makes a label's tooltip its text, and this note's
    tooltip explains the row (an option of the table the tooltip test checks).
    """
    from qtpy.QtWidgets import QSizePolicy

    label.native.setWordWrap(True)
    label.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
