"""The Review dock's settings: the images, a labels folder, the output folder and the model."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label

from napari_unet.core.errors import InputError
from napari_unet.widgets._predict_form import BUILTINS

#: The dock's keys: key -> (method name, what it does).
KEYS = {
    "PageDown": ("next_image", "next image"),
    "PageUp": ("previous_image", "previous image"),
    "Alt-A": ("accept", "accept (corrected if edited) and go to the next image"),
    "Alt-W": ("needs_work", "mark as needs work and go to the next image"),
    "Alt-R": ("reject", "reject and go to the next image"),
    "Home": ("first_unreviewed", "first image not accepted or rejected"),
}
#: The model choice that is a model file.
FILE = "model file"
#: Suffix of the default output folder, beside the images' folder (never inside it).
OUTPUT_SUFFIX = "-review"


def _path(value) -> Path | None:
    return None if value is None or str(value) in ("", ".") else Path(value)


def default_output(images: Path) -> Path:
    """The output folder proposed for a folder of images: ``<folder>-review`` beside it."""
    folder = images if images.is_dir() else images.parent
    return folder.with_name(folder.name + OUTPUT_SUFFIX)


class ReviewForm(Container):
    """What to review, where to write, and with which model."""

    def __init__(self) -> None:
        super().__init__(labels=True)
        self.images = FileEdit(label="images", mode="d")
        self.files = FileEdit(label="or files", mode="rm")
        self.chosen = Label(label="to review", value="nothing chosen yet")
        self.labels_folder = FileEdit(label="labels folder", mode="d")
        self.output = FileEdit(label="output folder", mode="d")
        self.model = ComboBox(label="model", choices=[*BUILTINS, FILE], value=next(iter(BUILTINS)))
        self.model_file = FileEdit(label="model file", mode="r", filter="*.safetensors")
        self.queue_all = CheckBox(text="predict the whole folder ahead", value=False)
        self.trained: dict[str, tuple] = {}  # choice -> (model, metadata, saved path)
        self._proposed: Path | None = None  # the output folder last proposed, not chosen
        self.extend(
            [self.images, self.files, self.chosen, self.labels_folder, self.output, self.model,
             self.model_file, self.queue_all]
        )  # fmt: skip
        tips = {
            self.images: "the folder of images to review (TIFF, PNG, JPEG or Zarr); not changed",
            self.files: "or a list of image files to review (instead of a whole folder); the "
            "latest choice of the two is reviewed, the other is cleared",
            self.labels_folder: "optional: label files of an earlier run or another tool "
            "(<name>_labels.tif, <name>_masks.tif, <name>.tif ...), loaded instead of predicting",
            self.output: "where the review file, the reviewed labels and the exports go; "
            f"default: the images' folder name + '{OUTPUT_SUFFIX}' beside it",
            self.model: "the model that predicts images without labels: a built-in model (auto: "
            "for each image, nuclei when its background is dark, nuclei-brightfield when it is "
            "bright), a model file, or a model the Train dock handed over",
            self.model_file: "the model file (.safetensors) when 'model file' is chosen",
            self.queue_all: "after the next images, predict every image of the folder into "
            "the output folder (memory stays bounded: predictions go to disk)",
        }
        for widget, tip in tips.items():
            widget.tooltip = tip
        from napari_unet.widgets._layers import message_label

        message_label(self.chosen)  # a long path wraps, never widening the dock
        self.images.changed.connect(self._on_folder)
        self.files.changed.connect(self._on_files)
        self.model_file.changed.connect(lambda _=None: setattr(self.model, "value", FILE))

    def _files(self) -> list[Path]:
        value = self.files.value
        return [Path(p) for p in (value or ()) if str(p) not in ("", ".")]

    def _on_folder(self, _value=None) -> None:
        """A folder chosen: it is reviewed, the files chosen before are cleared.

        Before, files chosen earlier were reviewed instead, silently.
        """
        if _path(self.images.value) is not None and self._files():
            self.files.value = ()  # the latest choice wins
        self._on_images()

    def _on_files(self, _value=None) -> None:
        """Files chosen: they are reviewed, the folder chosen before is cleared."""
        if self._files() and _path(self.images.value) is not None:
            self.images.line_edit.value = ""  # (its value "" would be the working folder)
        self._on_images()

    def _on_images(self, _value=None) -> None:
        """Propose the output folder of the chosen images, unless the user chose one.

        A proposal follows the images (plate2 after plate1 gets ``plate2-review``, not
        plate1's review and its statuses and labels of images of the same names).
        """
        files, folder = self._files(), _path(self.images.value)
        images = files[0] if files else folder
        if files:
            names = ", ".join(p.name for p in files[:3]) + (", ..." if len(files) > 3 else "")
            self.chosen.value = f"{len(files)} file{'s' * (len(files) > 1)}: {names}"
        else:
            self.chosen.value = f"the folder {folder}" if folder else "nothing chosen yet"
        current = _path(self.output.value)
        if images is not None and (current is None or current == self._proposed):
            self._proposed = default_output(images)
            self.output.value = self._proposed

    def add_trained(self, model, metadata: dict, name: str, saved: Path | None) -> str:
        """Offer a model the Train dock handed over; returns its choice.

        ``model`` may be ``auto``'s models by kind (a dict; ``metadata`` None).
        """
        choice = f"trained: {name}"
        self.trained[choice] = (model, None if metadata is None else dict(metadata), saved)
        self.model.choices = [*BUILTINS, FILE, *self.trained]
        return choice

    def request(self) -> dict:
        """The chosen folders and model (raises InputError for a missing choice)."""
        files = self._files()
        images = files or _path(self.images.value)
        if not images:
            raise InputError("choose the folder of images to review (or image files)")
        output = _path(self.output.value) or default_output(files[0] if files else images)
        out = {
            "images": images,
            "labels_folder": _path(self.labels_folder.value),
            "output": output,
            "queue_all": bool(self.queue_all.value),
        }
        choice = self.model.value
        if choice in BUILTINS:
            out.update(
                model=None, metadata=None, model_path=BUILTINS[choice], name=BUILTINS[choice]
            )
        elif choice == FILE:
            path = _path(self.model_file.value)
            if path is None:
                raise InputError("choose a model file (.safetensors), or a built-in model")
            out.update(model=None, metadata=None, model_path=path, name=path.name.split(".")[0])
        else:
            model, metadata, saved = self.trained[choice]
            out.update(model=model, metadata=metadata, model_path=saved, name=choice[9:])
        return out


def build_controls(dock) -> None:
    """The Review dock's buttons, status lines and tables, laid out and connected."""
    from magicgui.widgets import Label, PushButton

    from napari_unet.widgets import _layers
    from napari_unet.widgets._docking import scroll_panel
    from napari_unet.widgets._review_table import ObjectTable, SummaryTable

    dock._open = PushButton(text="Open folder")
    dock._open.tooltip = (
        "open the chosen images and show the first not yet reviewed; a review already in "
        "the output folder resumes where it stopped"
    )
    dock._prev = PushButton(text="< Previous")
    dock._next = PushButton(text="Next >")
    dock._first = PushButton(text="First unreviewed")
    dock._accept_btn = PushButton(text="Accept")
    dock._needs_btn = PushButton(text="Needs work")
    dock._reject_btn = PushButton(text="Reject")
    dock._export = PushButton(text="Export")
    dock._train = PushButton(text="Train on corrected")
    dock._status = Label(value="Choose a folder of images and press Open folder.")
    dock._progress = Label(value="")
    dock._report = Label(value="")
    for label in (dock._status, dock._progress, dock._report):
        _layers.message_label(label)
    dock._table = ObjectTable()
    dock._summary = SummaryTable(dock.go_to)
    tips = {name: f"{what} ({key.replace('-', '+')})" for key, (name, what) in KEYS.items()}
    for button, name in (
        (dock._prev, "previous_image"), (dock._next, "next_image"),
        (dock._first, "first_unreviewed"), (dock._accept_btn, "accept"),
        (dock._needs_btn, "needs_work"), (dock._reject_btn, "reject"),
    ):  # fmt: skip
        button.tooltip = tips[name]
        button.changed.connect(lambda _=None, n=name: getattr(dock, n)())
    dock._export.tooltip = (
        "write the accepted and corrected labels, a measurement CSV per image and one "
        "summary CSV into OUTPUT/export"
    )
    dock._train.tooltip = "send the corrected images to the Train dock (fine-tune the model)"
    dock._open.changed.connect(dock.open)
    dock._export.changed.connect(dock.export)
    dock._train.changed.connect(dock.train_on_corrected)
    table = Container(widgets=[], labels=False)
    table.native.layout().addWidget(dock._table)
    summary = Container(widgets=[], labels=False)
    summary.native.layout().addWidget(dock._summary)
    # In a scroll area, as the Predict dock: the dock, not the window, gets short on a laptop.
    dock._body = Container(
        widgets=[
            dock._form, dock._open,
            _layers.row(dock._prev, dock._next, dock._first),
            _layers.row(dock._accept_btn, dock._needs_btn, dock._reject_btn),
            dock._status, dock._progress, table, _layers.row(dock._export, dock._train),
            dock._report, summary,
        ],
        labels=False,
    )  # fmt: skip
    dock._scroll = scroll_panel(dock._body.native)
    dock.native.layout().addWidget(dock._scroll)
