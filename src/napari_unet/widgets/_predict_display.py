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
from napari_unet.widgets._predict_boxes import BOXES, past_note, same, shown_as


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
        shown, now, exact = getattr(self, "_shown_post", {}), {}, {}  # box -> shown, file's
        for key in BOXES:
            box, value = getattr(self, f"_{key}"), getattr(post, key)
            exact[box] = value  # sent while the box shows it (not its rounding)
            if not keep_edits or box not in shown or same(box.value, shown[box]):
                box.value = shown_as(box, value)  # never past its range: magicgui raised
                now[box] = box.value  # as the box shows it (rounded)
            else:
                now[box] = shown_as(box, value)
        self._shown_post, self._exact_post = now, exact
        head = head or head_of((metadata or {}).get("config") or {})
        seeded = head != DEFAULT_HEAD
        self._split.enabled, self._seed_level.enabled = not seeded, seeded
        self.note_post()

    def post_values(self) -> dict:
        """Threshold, min area, split and seed level for a run.

        A box that still shows the model's recommendation gives the recommendation itself
        (before, its rounding: 0.42 for a file's 0.425, another segmentation than
        ``napari-unet predict``'s with the same file); one the user changed, its value.
        """
        shown, exact = getattr(self, "_shown_post", {}), getattr(self, "_exact_post", {})
        values = {}
        for key in BOXES:
            box = getattr(self, f"_{key}")
            same_shown = box in exact and same(box.value, shown[box])
            values[key] = exact[box] if same_shown else box.value
        values["min_size"] = int(values["min_size"])
        for key in ("threshold", "split", "seed_level"):
            values[key] = float(values[key])
        return values

    def post_note(self) -> str:
        """The model line's note on recommendations past their box, still shown."""
        shown, exact = getattr(self, "_shown_post", {}), getattr(self, "_exact_post", {})
        past = {}
        for key, (label, *_) in BOXES.items():
            box = getattr(self, f"_{key}")
            if box in exact and box.enabled and not box.min <= exact[box] <= box.max:
                if same(box.value, shown[box]):
                    past[label] = exact[box]
        return past_note(past)

    def note_post(self) -> None:
        """The model line ends with :meth:`post_note` (the note shown before is replaced)."""
        text, old = self._model_label.value, getattr(self, "_post_noted", "")
        if old and text.endswith(old):
            text = text[: -len(old)]
        self._post_noted = self.post_note()
        self._model_label.value = text + self._post_noted

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
