"""Where the Predict dock puts a run's results: on the image, and never over a layer not its own.

:class:`Results` writes a segmentation (a Labels layer) and probabilities (an Image layer)
into the viewer with the image's geometry (scale, translate, rotation, shear and affine
transform of its last axes, :func:`placement`), so a result lies on a rotated or sheared
image as on a plain one. It remembers the layers it made: a layer of the name it would
use that it did not make (a probability map from another tool, a segmentation opened from
a file) is never removed or written over, nor is a Labels result the user painted into;
the new result goes to a new layer ``"<name> 2"`` and :attr:`Results.notes` says so.
"""

from __future__ import annotations

import numpy as np

from napari_unet.widgets._made_layers import own_layer, place, shear_matrix


def placement(layer, k: int) -> dict:
    """The geometry of the last ``k`` axes of ``layer``, as napari's layer arguments.

    Scale and translate, and the rotation, shear and affine matrices restricted to those
    axes: a result of a channels-first image (the channels left out) lies on its pixels.
    """
    n = layer.ndim
    if k > n:  # more axes than the image (a package's probability channels first)
        return _leading(placement(layer, n), k - n)
    last = list(range(n - k, n))
    return {
        "scale": np.asarray(layer.scale, dtype=float)[-k:],
        "translate": np.asarray(layer.translate, dtype=float)[-k:],
        "rotate": np.asarray(layer.rotate, dtype=float)[np.ix_(last, last)],
        "shear": shear_matrix(layer.shear, n)[np.ix_(last, last)],
        "affine": np.asarray(layer.affine.set_slice(last).affine_matrix, dtype=float),
    }


def _leading(where: dict, extra: int) -> dict:
    """``where`` with ``extra`` leading axes left as they are (scale 1, no move)."""

    def grown(matrix: np.ndarray) -> np.ndarray:
        out = np.eye(len(matrix) + extra)
        out[extra:, extra:] = matrix
        return out

    return {
        "scale": np.r_[np.ones(extra), where["scale"]],
        "translate": np.r_[np.zeros(extra), where["translate"]],
        **{key: grown(where[key]) for key in ("rotate", "shear", "affine")},
    }


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
        # Per result name: (its layer, the name given, the array the dock last wrote there).
        self._labels: dict[str, tuple] = {}
        self._images: dict[str, tuple] = {}  # per probabilities name: (its layer, name given)
        self.notes: list[str] = []  # said after a run: a layer kept, and where the result went

    def put(self, name: str, values: np.ndarray, full: tuple, index: list, kind: str, image):
        """Write ``values`` at ``index`` of layer ``name`` (made, or remade, at ``full`` shape).

        The layer lies on ``image``. A result never overwrites what the dock did not write
        (:meth:`_target`, :meth:`_own_image`); a plane or a view written into a Labels layer
        gets ids past those already in it, so that ids stay unique over the layer (two
        cells of one id read as one object when measured).
        """
        key, start, where = name, None, placement(image, len(full))
        if kind == "labels":
            target, name, start = self._target(name, full, index)
        else:
            target, name = self._own_image(name, full)
        if kind == "labels" and index:  # a plane or a view: ids past those already there
            held = target.data if target is not None else start
            top = 0 if held is None else int(np.max(held))
            values = np.where(values > 0, values + top, 0).astype(values.dtype)
        if target is not None:
            place(target, where)  # as the image is now (only what changed: each redraws)
        if target is not None and index:
            target.data[tuple(index)] = values
            target.refresh()  # written in place: napari redraws once
        elif target is not None:
            target.data = values  # napari redraws a new array itself
        else:  # a new layer: the new part in zeros (or in a copy of the edited layer)
            if index:
                start = np.zeros(full, values.dtype) if start is None else start
                start[tuple(index)] = values
            target = self._add(name, values if start is None else start, kind, where)
        if kind == "labels":
            self._wrote(key, target, values, index)
            hide_preview(self._viewer, image)
        else:
            self._images[key] = (target, target.name)
        return target

    def _wrote(self, key: str, target, values: np.ndarray, index: list) -> None:
        """Remember what the dock wrote into ``target``, to tell the user's edits by."""
        wrote = self._labels.get(key, (None, None, None))[2]
        if index and wrote is not None and self._labels[key][0] is target:
            wrote[tuple(index)] = values
        else:
            wrote = np.array(target.data)
        self._labels[key] = (target, target.name, wrote)

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
        target, given, wrote = self._labels.get(name, (None, None, None))
        if target is not None and target.name == given:
            data = target.data
            part = tuple(index) if data.shape == full else ()
            if data.shape == wrote.shape and np.array_equal(np.asarray(data[part]), wrote[part]):
                if data.shape == full:
                    return target, given, None
                layers.remove(target)  # not edited, for an image now of another shape
                return None, given, None
        elif name in layers:  # not the dock's: the user's, or renamed to this name
            target = layers[name]
        else:
            return None, name, None
        new = next_free(layers, name)
        self.notes.append(f"Kept your edits in {target.name!r}; the new result is in {new!r}")
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


def hide_preview(viewer, image) -> None:
    """Hide (not remove) the Train dock's ``"<image> preview"`` of ``image``.

    A segmentation of the image is now on top: before, the preview's labels stayed visible
    under it and their colours blended. The next training run shows it again.
    """
    preview = own_layer(viewer, f"{image.name} preview", "preview")
    if preview is not None:
        preview.visible = False
