"""What the Predict dock shows of a model and a run: post-processing, object size, background.

:class:`PredictDisplay` is the part of :class:`~napari_unet.widgets._predict_form.PredictForm`
that writes into its controls after a model is chosen or a run ends (a mixin: it uses the
form's ``_threshold``, ``_min_size``, ``_split``, ``_seed_level``, ``_size``, ``_estimate``,
``_size_note``, ``_image`` and ``_sizes``).
"""

from __future__ import annotations

import math

from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.models.heads import DEFAULT_HEAD, head_of


class PredictDisplay:
    """Shows a model's recommendations and what a run used in the form's controls."""

    def _show_model(
        self, metadata: dict | None, head: str | None = None, keep_edits: bool = False
    ) -> None:
        self.show_postprocess(metadata, head, keep_edits)
        size = (metadata or {}).get("object_size")
        ok = isinstance(size, int | float) and math.isfinite(size) and size > 0
        self._size.enabled = self._estimate.enabled = ok
        if not ok:
            self._size.value = 0.0
        self._size_note.value = self._learnt = (
            f"the model learnt objects of about {size:.3g} px"
            if ok
            else "this model records no object size: the image is used at its own scale"
        )

    def show_model_size(self) -> None:
        """The size note says only what the model learnt (another image's run is dropped)."""
        self._size_note.value = getattr(self, "_learnt", "")

    def show_own_scale(self) -> None:
        """Say that the last run used the image at its own scale."""
        if self._size.enabled:  # else the model's note says so already
            note = self._size_note.value.split(";")[0]
            if not note.startswith("the model learnt"):
                size = (self.metadata or {}).get("object_size")
                note = f"the model learnt objects of about {size:.3g} px" if size else "no size"
            self._size_note.value = f"{note}; this run used the image at its own scale"

    def show_postprocess(
        self, metadata: dict | None, head: str | None = None, keep_edits: bool = False
    ) -> None:
        """The post-processing as the model would use it (else the defaults).

        The split of joined cells applies to the paper's head, the seed level to the seeded
        heads (3class, distance); the other one is disabled. ``head``: the model's (else
        the one its file's config records). ``keep_edits`` (the model file was rewritten):
        a box the user changed from the value shown last keeps the user's value.
        """
        try:
            post = Postprocess.for_model(metadata)
        except InputError as exc:  # a damaged or hand-edited file: say so, show the defaults
            from napari.utils.notifications import show_error

            show_error(f"the model's post-processing is invalid: {exc}")
            post = Postprocess()
        boxes = {self._threshold: post.threshold, self._min_size: post.min_size,
                 self._split: post.split, self._seed_level: post.seed_level}  # fmt: skip
        shown, now = getattr(self, "_shown_post", {}), {}  # box -> the value shown last
        for box, value in boxes.items():
            if not keep_edits or box not in shown or box.value == shown[box]:
                box.value = value
                value = box.value  # as the box shows it (rounded)
            now[box] = value
        self._shown_post = now
        head = head or head_of((metadata or {}).get("config") or {})
        seeded = head != DEFAULT_HEAD
        self._split.enabled, self._seed_level.enabled = not seeded, seeded

    # -- object size --------------------------------------------------------------------
    def show_size(self, size) -> None:
        """Show the object size a run used (an ObjectSize)."""
        self._size_note.value = size.describe()

    def use_estimate(self, size, layer=None) -> str:
        """Fill in an estimated object size (unless there was nothing to measure).

        Within the sizes the model was trained on, the box goes back to auto: the image's
        own scale is what ``"estimate"`` (and auto) predict at then. ``layer``: the image
        measured (else the selected one). Another image selected since keeps its own size:
        the estimate is remembered for ``layer`` and shown when it is selected again
        (before, it was written into the box and used for the image selected now). Returns
        the status line, which names the image.
        """
        from napari_unet.core.inference.scale import WITHIN_TRAINED

        value = None
        if size.diameter is not None and not size.note:  # measured (enough objects)
            value = round(float(size.diameter), 1)
        elif size.note.startswith(WITHIN_TRAINED):
            value = 0.0
        layer = self._image.value if layer is None else layer
        if layer is self._image.value:
            if value is not None:
                self._size.value = value  # remembered for the image (_remember_size)
            self._size_note.value = size.describe()
        elif value is not None and self._size.enabled:
            self._sizes[layer] = value
        return f"Object size of {getattr(layer, 'name', 'the image')!r}: {size.describe()}"
