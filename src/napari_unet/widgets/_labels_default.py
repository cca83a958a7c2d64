"""The labels layer the Train and Weight map docks pick by themselves.

:class:`LabelsDefault` keeps a labels picker on the chosen image's ``"<image> annotations"``
(the Annotate dock's layer, with the user's corrections), else on the image's other labels
(its ground truth), its predictions (``"<image> segmentation (...)"``) last. Before, the
picker stayed on the first Labels layer, often the image's prediction: the Train dock then
fine-tuned the model on its own output, and the corrections were never trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from napari_unet.widgets._keep_picks import announcing
from napari_unet.widgets._layers import layers_of, reset_keeping
from napari_unet.widgets._review_shown import foreign_labels

__all__ = ["LabelsDefault", "preferred_labels"]

#: :attr:`LabelsDefault.user` when the user chose nothing (the picks are automatic).
AUTO = object()


def preferred_labels(viewer, image, offered) -> object | None:
    """The labels of ``offered`` best to train on for ``image`` (None: none of its own).

    ``"<image> annotations"``, then another layer ending in ``annotations``, then the
    image's other labels (its ground truth), then its predictions; the viewer's order
    among equals. Never the Review dock's labels once they are another image's
    (:func:`~napari_unet.widgets._review_shown.foreign_labels`).
    """
    if image is None:
        return None
    mine = [ly for ly in layers_of(viewer, image) if any(ly is o for o in offered)
            and foreign_labels(image, ly) is None]  # fmt: skip

    def rank(layer) -> int:
        if layer.name == f"{image.name} annotations":
            return 0
        if layer.name.endswith("annotations"):
            return 1
        return 3 if layer.name.startswith(f"{image.name} segmentation") else 2

    return min(mine, key=rank, default=None)


class LabelsDefault:
    """Keeps a labels picker on :func:`preferred_labels` for ``image_of()``, until the user picks.

    Call :meth:`pick` when the image or the viewer's layers change (added, removed,
    renamed). A layer the user (or a script) chose in the picker is kept until it leaves
    the viewer (or, with ``per_image``, until another image is chosen); the picks are
    automatic again then. A change the picker makes itself (its choices refreshed, a layer
    gone) is not the user's. A subclass picks otherwise with :meth:`preferred` and
    :meth:`_keeps`; with ``none_is_a_choice`` the picker's None entry is a choice too.
    """

    #: Whether the user can choose the picker's None entry (else None is no choice).
    none_is_a_choice = False

    def __init__(
        self, picker, image_of: Callable[[], object], viewer, per_image: bool = False
    ) -> None:
        self.picker, self.image_of, self.viewer = picker, image_of, viewer
        self.per_image, self._image = per_image, image_of()
        self.auto = picker.value  # the layer chosen here last (at first, the picker's own)
        self.user = AUTO  # the layer the user chose (AUTO: the picks are automatic)
        self._quiet = False  # a change now is not the user's (a refresh, a pick made here)
        self._annotations, self._picked_for = False, None  # auto: annotations, for that image
        refresh = picker.reset_choices

        def reset_choices(*args) -> None:
            with self._not_the_user():
                refresh(*args)

        picker.reset_choices = reset_choices  # what Container.reset_choices calls
        picker.changed.connect(self._on_changed)
        native = getattr(picker, "native", None)
        if hasattr(native, "activated"):  # chosen in the list, even the layer shown already
            native.activated.connect(lambda _index: self._chosen(picker.value))

    @contextmanager
    def _not_the_user(self):
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def _on_changed(self, value) -> None:
        # Back to the layer picked here is the user's choice too when another was chosen:
        # before, a script's ``picker.value = auto`` went unheard and the earlier choice
        # came back at the next layer added (a mouse's choice is heard by ``activated``).
        if self._quiet or (value is self.auto and (self.user is AUTO or value is self.user)):
            return
        self._chosen(value)

    def _chosen(self, value) -> None:
        if self._quiet or announcing(self.picker):  # a refresh's change (a layer gone)
            return
        if value is not None or self.none_is_a_choice:
            self.user = value

    def pick(self, _value=None) -> None:
        """Choose the image's preferred labels, unless the user chose a labels layer."""
        picker = self.picker
        reset_keeping(picker.reset_choices, picker)  # the layers offered now
        offered = [layer for layer in picker.choices if layer is not None]
        image = self.image_of()
        if self.per_image and image is not self._image:  # chosen for another image
            self.user = AUTO
        self._image = image
        user = self.user
        if user is not AUTO and (user is None or any(user is ly for ly in offered)):
            if picker.value is not user:
                self._set(user)
            return
        self.user = AUTO  # never chosen, or its layer left the viewer
        best = self.preferred(image, offered)
        if self._keeps(image, best, offered):
            self._set(self.auto)
            return
        self._set(self._fallback(image, offered) if best is None else best)
        self._annotations = best is not None and best.name.endswith("annotations")
        self._picked_for = image

    def _fallback(self, image, offered) -> object | None:
        """The pick when ``image`` has no labels of its own: the picker's, if not another's.

        The Review dock's labels of its next image are not kept for the image it hid: the
        first other layer instead, if any (the Train dock refuses the pair at Start).
        """
        if self.none_is_a_choice:
            return None
        value = self.picker.value
        if foreign_labels(image, value) is None:
            return value
        return next((ly for ly in offered if foreign_labels(image, ly) is None), value)

    def preferred(self, image, offered) -> object | None:
        """The layer of ``offered`` to pick for ``image`` (None: none of its own)."""
        return preferred_labels(self.viewer, image, offered)

    def _keeps(self, image, best, offered) -> bool:
        """Whether the annotations picked for ``image`` stay (not its prediction instead).

        After the image was renamed its annotations keep their old name: picked by name,
        its prediction (``"<image> segmentation (...)"``) came first, and the Train dock
        fine-tuned the model on its own output. The annotations stay while in the viewer.
        """
        if not self._annotations or image is not self._picked_for or image is None:
            return False
        if not any(self.auto is ly for ly in offered):
            return False
        return best is None or best.name.startswith(f"{image.name} segmentation")

    def _set(self, layer) -> None:
        self._annotations = self._annotations and layer is self.auto
        self.auto = layer
        if self.picker.value is not layer:
            with self._not_the_user():
                self.picker.value = layer
