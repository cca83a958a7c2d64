"""The Live dock's pickers: what they offer, and the annotations picked for the chosen image.

Before, the *annotations* picker stayed on the first Labels layer, often the image's
prediction (``"<image> segmentation (...)"``, which the Predict dock adds before the Annotate
dock's ``"<image> annotations"``): Start fine-tuned the model on its own output, and the
painted cells never reached the trainer. Now, as in the Train dock,
:class:`~napari_unet.widgets._labels_default.LabelsDefault` keeps it on the chosen image's
``"<image> annotations"``, else its ground truth, its predictions last, also when the
annotations layer is added after the dock opened (the Annotate dock's Start); a layer the
user (or a script) chose is kept until it leaves the viewer or another image is chosen.
Never while a run trains or a Start loads its model: the layer trained on stays (another
pick then stops the run, as the user's does).

The *annotated region* is picked per image too (:class:`LiveRegionDefault`): before, the
region chosen for one image stayed when another image was chosen, and Start trained the
unpainted part of that image inside the first image's shapes as background, while
neither the Ready nor the training status named the region. Now they do.
"""

from __future__ import annotations

import contextlib
import weakref

from napari_unet.widgets import _layers
from napari_unet.widgets._labels_default import LabelsDefault
from napari_unet.widgets._layer_hooks import follow_layers
from napari_unet.widgets._live_parts import idle_text
from napari_unet.widgets._train_helpers import RegionDefault

__all__ = [
    "LiveRegionDefault",
    "annotated_choices",
    "follow_picks",
    "name_region",
    "pick_annotations",
    "region_choices",
]


class LiveRegionDefault(RegionDefault):
    """The *annotated region* picker: *(painted cells only)* for each image chosen.

    A region the user (or a script) chose is kept while the same image stays chosen and
    its layer is in the viewer, as in the Train dock (:class:`RegionDefault`); another
    image starts without one again. Not the image's ``"<image> annotated region"``, as
    Train picks: the Annotate dock's rectangle covers the whole image at first, and live
    training would teach every pixel not yet painted as background.
    """

    def preferred(self, image, offered) -> None:
        """No region of its own: the painted cells (and their rings) only."""
        return None


def region_choices(dock) -> list:
    """*accept in*: the view, or a Shapes layer."""
    return [("(the view)", None), *_layers.layer_choices(dock._viewer, "Shapes")]


def annotated_choices(dock) -> list:
    """*annotated region*: none (painted cells only), or a Shapes or Labels layer.

    The annotations picked are left out (they are no region of themselves).
    """
    exclude = (dock._labels_box.value,) if hasattr(dock, "_labels_box") else ()
    layers = _layers.layer_choices(dock._viewer, "Shapes", "Labels", exclude=exclude)
    return [("(painted cells only)", None), *layers]


def follow_picks(dock) -> None:
    """Refresh the pickers when the layers change, and pick the image's annotations.

    ``dock._labels_default`` picks them now, when another image is chosen and when a
    layer is added, removed, moved or renamed.
    """
    dock._labels_default = LabelsDefault(
        dock._labels_box, lambda: dock._image_box.value, dock._viewer, per_image=True
    )
    dock._region_default = LiveRegionDefault(dock._annotated_box, lambda: dock._image_box.value)
    held = weakref.ref(dock)  # the viewer's events must not keep a closed dock

    def refresh(*_args) -> None:
        dock = held()
        if dock is not None:
            with contextlib.suppress(RuntimeError):  # (the dock deleted with napari)
                dock.reset_choices()  # each picker keeps its layer
                pick_annotations(dock)

    follow_layers(dock, refresh)  # held weakly: a closed dock leaves none connected
    dock._image_box.changed.connect(lambda *_: pick_annotations(dock))  # after _on_choice
    dock._labels_box.changed.connect(lambda *_: name_region(dock))  # after keep_idle's
    dock._annotated_box.native.currentIndexChanged.connect(lambda *_: name_region(dock))
    pick_annotations(dock)  # opened after the annotations were made


def pick_annotations(dock) -> None:
    """Pick the chosen image's annotations and region, unless the user chose, or a run uses them."""
    trainer = dock.trainer
    if dock._loading is not None or (trainer is not None and trainer.running):
        return  # the picks of the run (or of the Start loading its model) stay
    dock._labels_default.pick()
    dock._region_default.pick()  # its choices leave out the annotations picked
    name_region(dock)


def name_region(dock) -> None:
    """The Ready line names the annotated region Start would train with (none: unsaid)."""
    idle = getattr(dock, "_idle", None)
    if idle is None or dock._status.value != idle:
        return  # another message is shown (a run's, an error)
    text, region = idle_text(dock), dock._annotated_box.value
    if region is not None and text.startswith("Ready:"):
        text = (f"{text.removesuffix('.')}, in the annotated region {region.name!r} (its "
                "unpainted pixels train as background).")  # fmt: skip
    dock._idle = dock._status.value = text
