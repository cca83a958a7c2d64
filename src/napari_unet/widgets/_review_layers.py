"""The two layers the Review dock shows an image in, reused from image to image.

Swapping the data of the same layers keeps stepping fast (no layer is created or removed,
the layer list and the other docks' pickers stay still); a layer is replaced only when the
next image cannot be shown in it (grey after colour, a stack after a plane). Each image
shown is noted in the labels layer's metadata (:mod:`~napari_unet.widgets._review_shown`):
the Live and Train docks see that its labels are another image's now.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from napari_unet.core.images.layout import extra_axis
from napari_unet.core.review.prefetch import editable_labels
from napari_unet.core.review.session import stem_of
from napari_unet.widgets._held_layers import holders
from napari_unet.widgets._history import clear_history
from napari_unet.widgets._review_shown import mark_shown

#: Metadata key marking the layers the Review dock owns.
MARK = "napari_unet_review"
#: The labels under review are drawn as outlines (a filled 0.7 opacity hid the cells), or
#: filled at this opacity on planes too large to outline quickly (_made_layers.drawn_as).
OPACITY = 0.35


def _is_rgb(image: np.ndarray, labels: np.ndarray) -> bool:
    return image.ndim == labels.ndim + 1 and image.shape[-1] in (3, 4)


def _fits(layer, viewer, ndim: int, rgb: bool | None = None) -> bool:
    if layer is None or layer not in viewer.layers or layer.ndim != ndim:
        return False
    return rgb is None or bool(layer.rgb) == rgb


#: The widening rule lives with the prefetcher, which makes the copies in its thread.
_editable_labels = editable_labels
#: Elements compared at a time: small temporaries, and the first difference ends it.
BLOCK = 1 << 22


def same_labels(a, b) -> bool:
    """Whether two label arrays are equal, compared block by block along the first axis.

    ``np.array_equal`` of two 8192 x 8192 arrays allocates a 64 MB temporary (0.2 s the
    first time) and reads to the end even when the first rows differ.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.size <= BLOCK or a.ndim == 0:
        return bool(np.array_equal(a, b))
    step = max(1, BLOCK // (a.size // a.shape[0]))
    return all(np.array_equal(a[i : i + step], b[i : i + step]) for i in range(0, len(a), step))


class EditWatch:
    """Whether the labels layer differs from the labels loaded or last saved (the baseline).

    napari's undo and redo change the data without an event, and a stroke undone is no
    edit: the answer is a whole-array comparison. It is made again only when something
    could have changed since the last one: an edit event (:meth:`touch`), a change of the
    layer's undo or redo history (their lengths, the newest undo item), or new data.
    Otherwise the last answer holds (a comparison of an 8192 x 8192 image takes 0.3 s).
    Without napari's (private) history the comparison is made every time.
    """

    def __init__(self) -> None:
        self.layer = self.baseline = None
        #: The labels the image came with when shown, its file's stamp, and whether they
        #: were edits already (saved on an earlier visit).
        self.origin = self.stamp = None
        #: The image shown, as read (its channels not moved): what saves cache and measure.
        self.image = None
        self.edited_before = False
        self.baseline_changed: bool | None = False  # the baseline differs from the origin
        self.comparisons = 0  # whole-array comparisons made (for tests)
        self.touches = 0  # edit events seen (an autosave copy made meanwhile is dropped)
        self._seen: tuple | None = None  # the layer's state at the last comparison
        self._answer = False
        self._stale = True

    def reset(self, layer, baseline: np.ndarray, changed: bool | None = None) -> None:
        """``baseline`` (not copied: never to be changed) is what ``layer`` shows now.

        ``changed``: whether it differs from the origin, if known.
        """
        self.layer, self.baseline, self.baseline_changed = layer, baseline, changed
        self._seen, self._answer, self._stale = self._state(), False, False

    def start(self, layer, item, entry) -> None:
        """An image is shown: ``item``'s labels are the baseline and the origin.

        ``entry``: its review entry; labels corrected on an earlier visit stay a correction.
        """
        self.reset(layer, item.labels, changed=False)
        self.origin, self.stamp, self.image = item.labels, item.stamp, item.image
        self.edited_before = bool(entry.extra.get("edited")) or entry.status == "corrected"

    def saved_since_shown(self) -> bool:
        """Whether edits were saved since the image was shown (the baseline moved on)."""
        return self.baseline is not self.origin

    def changed(self, edited: bool) -> bool:
        """Whether the labels differ from those the image came with (a correction).

        ``edited``: the answer of :meth:`edited`. Compared with the origin only when edits
        were saved since the image was shown: a stroke saved by the autosave, then undone,
        is no correction (before, it made the image corrected).
        """
        if self.layer is None:
            return False
        if self.edited_before:
            return True
        if not self.saved_since_shown():
            return edited
        if not edited and self.baseline_changed is not None:
            return self.baseline_changed  # the layer shows the baseline: known
        self.comparisons += 1
        answer = not same_labels(self.layer.data, self.origin)
        if not edited:
            self.baseline_changed = answer
        return answer

    def touch(self, _event=None) -> None:
        """Something was painted: compare at the next :meth:`edited`."""
        self._stale = True
        self.touches += 1

    def settle(self, answer: bool) -> None:
        """The labels as they are now were compared elsewhere: ``answer`` holds until a change."""
        self._seen, self._answer, self._stale = self._state(), answer, False

    def _state(self) -> tuple | None:
        from napari_unet.widgets._history import undo_history

        history = undo_history(self.layer)
        if history is None:
            return None
        undo, redo = history
        try:
            data = weakref.ref(self.layer.data)  # not kept alive: replaced data goes
        except TypeError:
            return None
        return data, len(undo), len(redo), undo[-1] if undo else None

    def _unchanged(self, now: tuple | None) -> bool:
        if self._stale or now is None or self._seen is None:
            return False
        data, n_undo, n_redo, newest = self._seen
        return data() is self.layer.data and (n_undo, n_redo) == now[1:3] and newest is now[3]

    def edited(self) -> bool:
        """Whether the layer's labels differ from the baseline (compared only if needed)."""
        if self.layer is None:
            return False
        now = self._state()
        if self._unchanged(now):
            return self._answer
        self.comparisons += 1
        self._answer = not same_labels(self.layer.data, self.baseline)
        self._seen, self._stale = now, False
        return self._answer


def show_item(viewer, image_layers: dict, labels_layer, item):
    """Show ``item`` (a prefetched image and labels); returns the (image, labels) layers.

    ``image_layers`` maps ``(ndim, rgb)`` to the image layer of that kind (updated in
    place): a folder mixing grey and colour images keeps one layer of each kind and hides
    the other (``"<its image> (hidden until the next colour image)"``), since removing a
    layer from napari costs a quarter of a second. The labels
    layer gets a copy (one-byte ids widened): painting never changes the prefetcher's cache.
    The prefetcher's thread made that copy (``item.editable``) for the current and the next
    image; for others it is made here.
    """
    stem = stem_of(item.name)
    rgb = _is_rgb(item.image, item.labels)
    pixels = item.image
    axis = None if rgb else extra_axis(pixels.shape, item.labels.shape)
    if axis:  # channels first, on a slider of their own; the labels line up with the rest
        pixels = np.moveaxis(pixels, axis, 0)
    ndim = pixels.ndim - (1 if rgb else 0)
    old_shape = None if labels_layer is None else tuple(labels_layer.data.shape)
    image_layer = image_layers.get((ndim, rgb))
    reused = _fits(image_layer, viewer, ndim, rgb)
    if reused:
        image_layer.data = pixels
    else:
        image_layer = viewer.add_image(pixels, rgb=rgb, name=stem)
        image_layer.metadata[MARK] = True
        image_layers[(ndim, rgb)] = image_layer
        if labels_layer is not None and labels_layer in viewer.layers:  # labels on top
            viewer.layers.move(viewer.layers.index(labels_layer), len(viewer.layers))
    for (n, colour), other in image_layers.items():
        if other is not image_layer and other in viewer.layers:
            _show(other, False)
            kind = ("colour " if colour else "" if n > 2 else "grey ") + (f"{n}D " if n > 2 else "")
            hidden = f" (hidden until the next {kind}image)"  # named after the image it holds
            if not other.name.endswith(hidden):
                other.name += hidden
    _show(image_layer, True)
    if reused:
        # Colour too (0-255 for 8 bits, else the data's range): before, a 12-bit colour
        # image after an 8-bit one kept 0-255 and was shown saturated. Once visible: napari
        # reads the slice shown, not sliced again while the layer was hidden (a 16-bit image
        # after a colour one got the grey image's 0-255 before it).
        image_layer.reset_contrast_limits()
    image_layer.name = stem
    labels = item.editable if item.editable is not None else editable_labels(item.labels)
    if _fits(labels_layer, viewer, labels.ndim):
        mark_shown(labels_layer, image_layer, item.source)  # before its data: a new image
        labels_layer.data = labels  # napari keeps the undo history across new data, and
        clear_history(labels_layer)  # Ctrl+Z pasted the last image's pixels: cleared (also
        # while Evaluate holds the layer read-only, where toggling editable cleared nothing)
    else:
        old = labels_layer if labels_layer is not None and labels_layer in viewer.layers else None
        drawn = _drawing(old, labels)  # as the layer replaced (the user may have changed it)
        if old is not None:
            viewer.layers.remove(old)
        labels_layer = viewer.add_labels(labels, name=f"{stem} labels")
        labels_layer.metadata[MARK] = True
        mark_shown(labels_layer, image_layer, item.source)  # read by the Live and Train docks
        for key, value in drawn.items():
            setattr(labels_layer, key, value)
    labels_layer.name = f"{stem} labels"
    _show(labels_layer, True)
    if not holders(labels_layer):  # else Evaluate copies it: editable when it has
        labels_layer.editable = True
    top = item.top if item.top is not None else int(labels.max()) if labels.size else 0
    labels_layer.selected_label = top + 1
    if old_shape != tuple(labels.shape):
        viewer.reset_view()
    viewer.layers.selection.active = labels_layer
    return image_layer, labels_layer


def _drawing(old, labels: np.ndarray) -> dict:
    """How a new labels layer is drawn: as the layer ``old`` it replaces, if any.

    Else as outlines, or filled at a low opacity on planes too large to outline quickly.
    """
    from napari_unet.widgets._made_layers import drawn_as

    if old is not None:
        return {"contour": old.contour, "opacity": old.opacity}
    return drawn_as(labels.shape, OPACITY)


def _show(layer, visible: bool) -> None:
    """Show or hide ``layer``, only if it is not so already.

    napari redraws a layer set visible even when it was: 0.25 s for 8192 x 8192 labels, for
    every image shown.
    """
    if layer.visible != visible:
        layer.visible = visible


def pair_layers(viewer, pairs, progress=None) -> list[tuple]:
    """Hidden ``"<stem> (reviewed)"`` Image and Labels layers of ``(name, image, labels)``.

    Layers of these names already in the viewer (an earlier Train on corrected) get the new
    data instead of a twin. Returns ``(image layer, labels layer, None)`` triples.
    ``progress(done, total)`` is called before each pair (napari takes about 0.2 s to add a
    pair of 1024 x 1024 layers: see :func:`repaint_between`).
    """
    out = []
    for done, (name, image, labels) in enumerate(pairs):
        if progress is not None:
            progress(done, len(pairs))
        base = f"{stem_of(name)} (reviewed)"
        rgb = _is_rgb(image, labels)
        layers = []
        for layer_name, data, kind in (
            (base, image, "image"),
            (f"{base} labels", labels, "labels"),
        ):
            if layer_name in viewer.layers and viewer.layers[layer_name].data.ndim == data.ndim:
                layer = viewer.layers[layer_name]
                layer.data = data
            else:
                if layer_name in viewer.layers:
                    viewer.layers.remove(layer_name)
                if kind == "image":
                    layer = viewer.add_image(data, name=layer_name, rgb=rgb, visible=False)
                else:
                    layer = viewer.add_labels(data, name=layer_name, visible=False)
                layer.metadata[MARK] = True
            layers.append(layer)
        out.append((layers[0], layers[1], None))
    return out


def repaint_between(status) -> Callable[[int, int], None]:
    """A ``progress`` for :func:`pair_layers`: says how far it is, and lets napari repaint.

    Between two pairs the event loop runs without user input (clicks and keys wait until
    the pairs are in): 18 pairs of 1024 x 1024 held napari 3.3 s in one piece before.
    """
    from qtpy.QtCore import QEventLoop
    from qtpy.QtWidgets import QApplication

    def progress(done: int, total: int) -> None:
        status.value = f"Adding the pairs as layers: {done}/{total}..."
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    return progress
