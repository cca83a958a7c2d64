"""The two layers the Review dock shows an image in, reused from image to image.

Swapping the data of the same layers keeps stepping fast (no layer is created or removed,
the layer list and the other docks' pickers stay still); a layer is replaced only when the
next image cannot be shown in it (grey after colour, a stack after a plane).
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.images.layout import extra_axis
from napari_unet.core.review.session import stem_of

#: Metadata key marking the layers the Review dock owns.
MARK = "napari_unet_review"


def _is_rgb(image: np.ndarray, labels: np.ndarray) -> bool:
    return image.ndim == labels.ndim + 1 and image.shape[-1] in (3, 4)


def _fits(layer, viewer, ndim: int, rgb: bool | None = None) -> bool:
    if layer is None or layer not in viewer.layers or layer.ndim != ndim:
        return False
    return rgb is None or bool(layer.rgb) == rgb


def _editable_labels(labels: np.ndarray) -> np.ndarray:
    """A copy of ``labels`` with room for a new id (napari's ``selected_label``: max + 1).

    One-byte ids (a 0/255 mask, a label file of ``uint8``) become int32, as a *New labels*
    layer does when it is picked (:func:`napari_unet.widgets._layers.widen_labels`); before,
    a file holding id 255 could not be shown at all. Wider ids are widened only when full.
    """
    dtype = np.dtype(labels.dtype)
    if dtype.kind in "ui" and dtype.itemsize == 1:
        return labels.astype(np.int32)
    full = dtype.kind in "ui" and labels.size and int(labels.max()) >= np.iinfo(dtype).max
    if full and dtype.itemsize < 8:
        return labels.astype(np.int64)
    return np.array(labels, copy=True)


def show_item(viewer, image_layers: dict, labels_layer, item):
    """Show ``item`` (a prefetched image and labels); returns the (image, labels) layers.

    ``image_layers`` maps ``(ndim, rgb)`` to the image layer of that kind (updated in
    place): a folder mixing grey and colour images keeps one layer of each kind and hides
    the other, since removing a layer from napari costs a quarter of a second. The labels
    layer gets a copy (one-byte ids widened): painting never changes the prefetcher's cache.
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
    if _fits(image_layer, viewer, ndim, rgb):
        image_layer.data = pixels
        if not rgb:
            image_layer.reset_contrast_limits()
    else:
        image_layer = viewer.add_image(pixels, rgb=rgb, name=stem)
        image_layer.metadata[MARK] = True
        image_layers[(ndim, rgb)] = image_layer
        if labels_layer is not None and labels_layer in viewer.layers:  # labels on top
            viewer.layers.move(viewer.layers.index(labels_layer), len(viewer.layers))
    for other in image_layers.values():
        if other is not image_layer and other in viewer.layers:
            other.visible = False
            other.name = "review (other kind of image)"
    image_layer.visible = True
    image_layer.name = stem
    labels = _editable_labels(item.labels)
    if _fits(labels_layer, viewer, labels.ndim):
        mode = labels_layer.mode  # napari keeps the undo history across new data, so
        labels_layer.editable = False  # Ctrl+Z pasted the last image's pixels: this clears it
        labels_layer.data = labels
        labels_layer.editable, labels_layer.mode = True, mode
    else:
        if labels_layer is not None and labels_layer in viewer.layers:
            viewer.layers.remove(labels_layer)
        labels_layer = viewer.add_labels(labels, name=f"{stem} labels")
        labels_layer.metadata[MARK] = True
    labels_layer.name = f"{stem} labels"
    labels_layer.visible = labels_layer.editable = True
    labels_layer.selected_label = int(labels.max()) + 1 if labels.size else 1
    if old_shape != tuple(labels.shape):
        viewer.reset_view()
    viewer.layers.selection.active = labels_layer
    return image_layer, labels_layer


def pair_layers(viewer, pairs) -> list[tuple]:
    """Hidden ``"<stem> (reviewed)"`` Image and Labels layers of ``(name, image, labels)``.

    Layers of these names already in the viewer (an earlier Train on corrected) get the new
    data instead of a twin. Returns ``(image layer, labels layer, None)`` triples.
    """
    out = []
    for name, image, labels in pairs:
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
