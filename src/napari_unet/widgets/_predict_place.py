"""Where the Predict dock puts a run's results: on the image, and never over a layer not its own.

:class:`Results` writes a segmentation (a Labels layer) and probabilities (an Image layer)
into the viewer with the image's geometry (scale, translate, rotation, shear and affine
transform of its last axes, :func:`placement`), so a result lies on a rotated or sheared
image as on a plain one. It remembers the layers it made: a layer of the name it would
use that it did not make (a probability map from another tool, a segmentation opened from
a file) is never removed or written over, nor is a Labels result the user painted into;
the new result goes to a new layer ``"<name> 2"`` and :attr:`Results.notes` says so. It
also remembers which model wrote each segmentation: another model of the same name (two
``model.safetensors`` in two folders) gets a layer of its own (:meth:`Results.name_for`),
as does another image of the same name; a view of a big image gets a layer of the view's
part of it (:mod:`~napari_unet.widgets._predict_region`).

Whether the user painted there is told without reading the whole layer on the GUI thread
where that would cost: napari's undo, redo and stroke history
(``_review_snapshot.history_token``) is noted when the dock writes, and a layer over
:data:`FINGERPRINT_BYTES` (64 MiB: 4096 x 4096 ids) is compared with what the dock wrote
only when that history moved since (a stroke undone is then no edit); a write into such a
layer that napari keeps no history of (``layer.data[...] = v`` from the console) is not
seen. Smaller layers are compared whole, as before. What the dock wrote is a copy made in
the worker (``kept``): before, a copy of the whole layer held the GUI thread for 2 s at
8192 x 8192, and each later run compared the whole layer (1 s). :class:`EditState` and
:func:`fingerprint` serve the Weight map dock too (an edit from a mere redraw).
"""

from __future__ import annotations

import zlib

import numpy as np

from napari_unet.widgets._history import clear_history, history_deques
from napari_unet.widgets._label_ids import shifted, widen_record, widened
from napari_unet.widgets._made_layers import own_layers, place
from napari_unet.widgets._predict_region import (
    at_box,
    box_of,
    grown,
    made_for,
    mark,
    pick,
    placement,
    top_outside,
)
from napari_unet.widgets._review_snapshot import history_token, same_token


class EditState:
    """A Labels layer, its array and its edit history (napari's undo, redo, stroke items).

    Equal to another while none of them moved (compared by identity, never by value): a
    paint, fill, undo, redo or new data makes it differ, a mere redraw does not.
    """

    def __init__(self, layer, data, token: tuple) -> None:
        self.parts = (layer, data, token)

    def __eq__(self, other) -> bool:
        a, b = self.parts, getattr(other, "parts", ())
        same = len(a) == len(b) == 3 and a[0] is b[0] and a[1] is b[1]
        return same and same_token(a[2], b[2])

    __hash__ = None


def edit_state(layer) -> EditState | None:
    """``layer``'s :class:`EditState` now; None for data not in memory, or no history."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    token = history_token(layer) if isinstance(data, np.ndarray) else None
    return None if token is None else EditState(layer, data, token)


#: Largest labels (bytes) checksummed where napari keeps no readable edit history.
FINGERPRINT_BYTES = 64 * 2**20


def fingerprint(layer) -> tuple | EditState | None:
    """A cheap summary of a layer's labels, to tell an edit from a mere redraw.

    napari's edit history of the array (:func:`edit_state`); where napari
    keeps none, a checksum. None when the labels are not held in memory (a dask or zarr
    array) or, without history, are over :data:`FINGERPRINT_BYTES`: only an edit event
    starts a run for them then (before, the checksum held the GUI thread at each Compute).
    """
    if (state := edit_state(layer)) is not None:
        return state
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    if not isinstance(data, np.ndarray) or data.nbytes > FINGERPRINT_BYTES:
        return None
    data = np.ascontiguousarray(data)
    return id(layer), data.shape, data.dtype.str, zlib.crc32(data.view(np.uint8).reshape(-1))


def result_name(image_name: str, model_name: str) -> str:
    """The name of the Labels layer a prediction with ``model_name`` of an image gets."""
    return f"{image_name} segmentation ({model_name})"


def probabilities_name(image_name: str, result: str) -> str:
    """``"<image> probabilities (<model>)"``: the probabilities beside result layer ``result``.

    The model's part is the segmentation's (:meth:`Results.name_for`), so each model's
    probabilities have a layer of their own, as its segmentation does (before, one
    ``"<image> probabilities"`` layer took the last model's map).
    """
    head = f"{image_name} segmentation"
    if result.startswith(head):
        return f"{image_name} probabilities{result[len(head) :]}"
    return f"{result} probabilities"


def next_free(layers, name: str) -> str:
    """``"<name> 2"`` (then 3...): the first such name no layer has."""
    k = 2
    while f"{name} {k}" in layers:
        k += 1
    return f"{name} {k}"


def _labels_of(layer, shape: tuple) -> bool:
    """True for a napari Labels layer of ``shape`` (integer ids: a copy can start a result).

    Another layer of a result's name (an Image of probabilities, say) is not copied: the
    new result starts from zeros (before, its floats made a traceback and no result).
    """
    from napari.layers import Labels

    data = layer.data
    return isinstance(layer, Labels) and data.shape == shape and data.dtype.kind in "iub"


class Results:
    """The dock's result layers: which it made, what it wrote there, where the next goes."""

    def __init__(self, viewer) -> None:
        self._viewer = viewer
        # Per result name: (its layer, the name given, what the dock last wrote there, and
        # the layer's edit history then).
        self._labels: dict[str, tuple] = {}
        self._images: dict[str, tuple] = {}  # per probabilities name: (its layer, name given)
        self._owners: dict[str, str] = {}  # per result name: the model that wrote it last
        self.notes: list[str] = []  # said after a run: a layer kept, and where the result went

    def name_for(self, image, models: list[str], owner: str) -> str:
        """The result name of a run of model ``owner`` on the image layer ``image``.

        ``models``: the names it may take. The name of the model's result layer of this
        image (updated in place), else the first that no other result layer has:
        ``"<image> segmentation (<models[0]> 2)"`` and on past another model's layers, and
        ``"<image> segmentation (<model>) 2"`` past this model's layer of another image of
        the same name (:func:`~._predict_region.made_for`). Before, a second model of the
        same name wrote into the first's layer, and a second image of the same name (day 2's
        ``cells``) into the first image's (or removed it).
        """
        layers = self._viewer.layers
        held = {key: (self._owners.get(key), made_for(layer, image))
                for key, (layer, given, *_) in self._labels.items()
                if layer in layers and layer.name == given}  # fmt: skip
        extra = [f"{models[0]} {k}" for k in range(2, len(held) + 3)]
        names = [result_name(image.name, model) for model in (*models, *extra)]
        for name in names:  # this model's layer of this image: "<name>" or "<name> 2"...
            mine = [key for key, of in held.items() if of == (owner, True)
                    and (key == name or key.startswith(f"{name} "))]  # fmt: skip
            if mine:
                return mine[0]
        for name in names:
            if name not in held:
                return name
            if held[name][0] == owner:  # this model's layer of another image of this name
                return next_free({*held, *(layer.name for layer in layers)}, name)
        return names[-1]  # not reached: there are more names than layers held

    def put(self, name: str, values: np.ndarray, full: tuple, index: list, kind: str, image,
            kept: np.ndarray | None = None, owner: str | None = None):  # fmt: skip
        """Write ``values`` at ``index`` of layer ``name`` (made, or remade, at ``full`` shape).

        The layer lies on ``image``; ``owner``: the model that wrote a segmentation. A
        result never overwrites what the dock did not write
        (:meth:`_target`, :meth:`_own_image`); a plane or a view written into a Labels layer
        gets ids past those already in it, so that ids stay unique over the layer (two
        cells of one id read as one object when measured). ``kept``: a copy of ``values``
        made off the GUI thread (what the dock wrote, remembered; else copied here).
        """
        key, own, framed = self._pick(name, kind, image, owner, full, index)
        full, index, box, fresh = framed  # a big image's view: its box
        name, start = key, None
        where = at_box(placement(image, len(full)), box)
        if box is not None and not fresh and box_of(own) not in (None, box):
            self._grow(key, own, box, where, image, kind)  # to hold this view too
        if fresh:  # far from the view in the dock's layer: a layer of its own
            target, name = None, next_free(self._viewer.layers, name)
            key = name  # recorded under its own name: the first layer stays the dock's
            if kind == "labels":
                self.notes.append(f"This view is far from {own.name!r}: its result is in {name!r}")
        elif kind == "labels":
            target, name, start = self._target(name, full, index)
        else:
            target, name = self._own_image(name, full)
        if kind == "labels" and index:  # a plane or a view: ids past those outside it
            held = target.data if target is not None else start
            top = 0 if held is None else top_outside(held, index)
            values = shifted(values, top)  # and the layer (or copy) widened to hold them
            if target is not None:  # before, a uint8 one wrapped ids past 255 round to 0, 1...
                self._labels[key] = widen_record(self._labels[key], values, edit_state)
            start = None if start is None else widened(start, values)
        if target is not None:
            place(target, where)  # as the image is now (only what changed: each redraws)
        if target is not None and index:
            if kind == "labels":
                write_part(target, tuple(index), values)  # one step of napari's undo
            else:
                target.data[tuple(index)] = values
            target.refresh()  # written in place: napari redraws once
            # and says so, as a new array does: Evaluate greys its tables, Weight map follows
            # (before, a view or plane written in place left their scores current)
            target.events.data(value=target.data)
        elif target is not None:
            target.data = values  # napari redraws a new array itself
            if kind == "labels":  # and keeps the undo history: Ctrl+Z pasted the older
                clear_history(target)  # prediction's (or strokes') pixels over this one
        else:  # a new layer: the new part in zeros (or in a copy of the edited layer)
            if index:
                kept = np.zeros(full, values.dtype) if start is None else None  # else copied
                start = np.zeros(full, values.dtype) if start is None else start
                start[tuple(index)] = values
            target = self._add(name, values if start is None else start, kind, where)
        mark(target, image, box)  # whose result, and where on it (a later image's: not here)
        self._owners[key] = owner
        if kind == "labels":
            self._wrote(key, target, values, index, kept)
            hide_preview(self._viewer, image)
        else:
            self._images[key] = (target, target.name)
        return target

    def _pick(self, name: str, kind: str, image, owner, full: tuple, index: list) -> tuple:
        """``(key, layer, frame)``: the dock's layer of result ``name`` this run goes into.

        A view goes to the first of the dock's layers of this image and model (``name``'s,
        then a far view's ``"<name> 2"``...) that holds it or can grow to (:func:`pick`).
        """
        made = self._labels if kind == "labels" else self._images
        mine = [k for k in made if k.startswith(f"{name} ") and self._owners.get(k) == owner]
        keys = [name, *mine]
        owns = [self._own(k, kind) for k in keys]
        ok = [i for i, own in enumerate(owns) if i == 0 or made_for(own, image)]
        i, framed = pick([owns[i] for i in ok], full, index)
        return keys[ok[i]], owns[ok[i]], framed

    def _own(self, key: str, kind: str):
        """The dock's layer of result ``key`` (None: none, or renamed since)."""
        made = self._labels if kind == "labels" else self._images
        layer, given, *_ = made.get(key, (None, None))
        return layer if layer in self._viewer.layers and layer.name == given else None

    def _grow(self, key: str, own, box: tuple, where: dict, image, kind: str) -> None:
        """Make the dock's layer ``own`` of a view's result cover ``box``, its pixels kept.

        What the dock wrote is grown alike, so an edit made before is still seen as one.
        """
        old = box_of(own)
        if kind == "labels":
            layer, given, wrote, token = self._labels[key]
            clean = token is not None and token == edit_state(own)
            own.data = grown(own.data, old, box)
            clear_history(own)  # the steps were of the smaller array
            self._labels[key] = (layer, given, grown(wrote, old, box),
                                 edit_state(own) if clean else None)  # fmt: skip
        else:
            own.data = grown(own.data, old, box)
        place(own, where)
        mark(own, image, box)

    def _wrote(self, key: str, target, values, index: list, kept=None) -> None:
        """Remember what the dock wrote into ``target`` and its history, to tell edits by.

        ``kept``: a copy of what ``target`` holds now outside ``index`` (zeros of a new
        layer, or ``values`` copied in the worker), else the layer is copied here.
        """
        _, _, wrote, token = self._labels.get(key, (None, None, None, None))
        data = target.data
        same = bool(index) and wrote is not None and self._labels[key][0] is target
        if not same:  # else only the part written below changed
            fits = kept is not None and kept.shape == data.shape and kept.dtype == data.dtype
            wrote = kept if fits and (index or data is values) else np.array(data)
        if index:
            wrote[tuple(index)] = values
        # The history now; None where the layer may differ from ``wrote`` (painted outside).
        token = None if same and token is None else edit_state(target)
        self._labels[key] = (target, target.name, wrote, token)

    def _target(self, name: str, full: tuple, index: list) -> tuple:
        """The Labels layer ``name``'s result goes into (None: a new one), its name, its start.

        The dock's own layer is updated in place when the part the result replaces is as
        the dock last wrote it. When the user painted there (or the layer ``name`` is not
        the dock's) the edited layer is kept and the result goes to a new layer
        ``"<name> 2"``, which starts as a copy of the edited layer when only a plane or a
        region is predicted; the status line says so.
        """
        layers = self._viewer.layers
        self._labels = {k: v for k, v in self._labels.items() if v[0] in layers}
        target, given, wrote, token = self._labels.get(name, (None, None, None, None))
        if target is not None and target.name == given:
            data = target.data
            part = tuple(index) if data.shape == full else ()
            # Not painted since the dock wrote (its history as then): not compared, for
            # layers too large to compare on the GUI thread. Smaller ones are compared
            # whole, so a write outside napari's history (a console line) is seen too.
            clean = data.shape == wrote.shape and wrote.nbytes > FINGERPRINT_BYTES
            clean = clean and token is not None and token == edit_state(target)
            if not clean and part:  # only the part compared: the rest may be painted
                self._labels[name] = (target, given, wrote, None)
            if clean or (
                data.shape == wrote.shape and np.array_equal(np.asarray(data[part]), wrote[part])
            ):
                if data.shape == full:
                    return target, given, None
                layers.remove(target)  # not edited, for an image now of another shape
                return None, given, None
        elif name in layers:  # not the dock's: the user's, or renamed to this name
            target = layers[name]
        else:
            return None, name, None
        new = next_free(layers, name)
        self.notes.append(f"Kept your edits in {target.name!r}; the new segmentation is in {new!r}")
        start = np.array(target.data) if index and _labels_of(target, full) else None
        return None, new, start

    def _own_image(self, name: str, full: tuple) -> tuple:
        """The Image layer ``name``'s probabilities go into (None: a new one), and its name.

        The dock's own layer (made by it, not renamed since) is updated in place, or
        replaced for an image now of another shape. A layer of that name the dock did not
        make (say, a probability map from another tool) is kept as it is: the result goes
        to a new layer ``"<name> 2"``, and the status line says so.
        """
        layers = self._viewer.layers
        self._images = {k: v for k, v in self._images.items() if v[0] in layers}
        own, given = self._images.get(name, (None, None))
        if own is not None and own.name == given:
            if own.data.shape == full:
                return own, given
            layers.remove(own)  # the dock's own, for an image now of another shape
        if name not in layers:
            return None, name
        new = next_free(layers, name)
        self.notes.append(f"Kept your layer {name!r}; the new probabilities are in {new!r}")
        return None, new

    def _add(self, name: str, values: np.ndarray, kind: str, where: dict):
        """A new result layer: Labels half transparent, an Image in magma, on the image."""
        if kind == "labels":
            return self._viewer.add_labels(values, name=name, opacity=0.5, **where)
        kw = {"colormap": "magma", "blending": "additive", **where}
        return self._viewer.add_image(values, name=name, **kw)


#: Most pixels a result written into part of its layer changes as one step of napari's undo
#: (napari keeps their indices, 8 bytes an axis each); more, and the undo history starts again.
UNDO_PIXELS = 4_000_000


def write_part(target, index: tuple, values: np.ndarray) -> None:
    """Write ``values`` at ``index`` (a plane's int, slices) of Labels ``target``, undoably.

    The pixels that change are one step of napari's undo (``data_setitem``): Ctrl+Z takes
    the result back. Over :data:`UNDO_PIXELS` of them (or without napari's history) the
    part is written as it is and the layer's undo history starts again. Before, the part
    was written outside napari's history, and Ctrl+Z pasted the pixels of the previous
    prediction (or of strokes made on it and undone since) over the new result.
    """
    changed = np.asarray(target.data[index]) != values
    count = int(np.count_nonzero(changed))
    if count == 0:
        return
    if count > UNDO_PIXELS or history_deques(target) is None:
        target.data[index] = values
        clear_history(target)
        return
    found, where = iter(np.nonzero(changed)), []
    for axis, part in enumerate(index):
        if isinstance(part, slice):
            start = part.indices(target.data.shape[axis])[0]
            where.append(next(found) + start)
        else:  # a plane: the same for every pixel
            where.append(np.full(count, int(part), dtype=np.intp))
    where += list(found)  # axes the index leaves whole
    target.data_setitem(tuple(where), values[changed], refresh=False)


def hide_preview(viewer, image) -> None:
    """Hide (not remove) the Train dock's ``"<image> preview"`` of ``image``.

    A segmentation of the image is now on top: before, the preview's labels stayed visible
    under it and their colours blended. The next training run shows it again.
    """
    for preview in own_layers(viewer, f"{image.name} preview", "preview"):  # every dock's
        preview.visible = False
