"""The Train dock's preview layer, ``"<image> preview"``: one per dock, painted in place.

A dock reuses its own preview run after run (Stop, Resume, a new run); another dock
training the same image makes its own beside it (napari suffixes the name).
"""

from __future__ import annotations

from napari_unet.widgets._made_layers import Holders, own_layers

#: The preview's outline width (data px) and opacity: the annotations stay readable.
PREVIEW_OPACITY, PREVIEW_FILL = 0.9, 0.35  # outlines; filled on large planes


def preview_layer(viewer, image_layer, labels_layer, shape: tuple, dock=None) -> tuple:
    """The run's preview layer, ``"<image> preview"``, placed as the labels: ``(layer, new)``.

    Only a layer the dock made is reused (of the run's shape, placed again and shown: the
    Predict dock hides it) or removed (of another shape); ``new`` is the layer made now, else
    None. A user's layer of that name is left alone: the preview is made beside it. Drawn as
    outlines (a fill hid the annotations), faintly filled on planes too large to outline.

    One per Train dock: ``dock`` (the one starting a run) reuses its own preview, else one
    no other dock still shows; another dock's is left alone and this one is made beside it
    (napari names it ``"<image> preview [1]"``). Before, two docks training one image shared
    a preview, each run painting its own model's output into it.
    """
    import numpy as np

    from napari_unet.widgets._made_layers import drawn_as, geometry, marked, place

    name = f"{image_layer.name} preview"
    placement = geometry(labels_layer)  # on the labels, of their shape
    layer = _HELD.first_free(own_layers(viewer, name, "preview"), name, dock)
    if layer is not None and layer.data.shape == tuple(shape):
        new = None
        place(layer, placement)
        layer.visible = True
    else:
        if layer is not None:  # from an image of another size
            viewer.layers.remove(layer)
        drawing = drawn_as(shape, PREVIEW_FILL)
        layer = new = viewer.add_labels(
            np.zeros(shape, np.int32), name=name, opacity=drawing.get("opacity", PREVIEW_OPACITY),
            metadata=marked("preview", name), **placement,
        )  # fmt: skip
        contour = drawing.get("contour", 0)
        if new.contour != contour:  # each set redraws the plane (0.17 s at 8192 x 8192)
            new.contour = contour
    _HELD.give(layer, dock)
    return layer, new


#: The Train dock each preview layer was given to (a second dock makes its own).
_HELD = Holders("_preview_layer")


def paint_preview(layer, ev) -> None:
    """Write a :class:`~napari_unet.core.training.events.Preview` into ``layer`` in place.

    Its origin is ``(y0, x0)`` or ``(y0, x0, plane)`` (the plane of a stack it shows).
    """
    y0, x0, *rest = ev.origin or (0, 0)
    plane = rest[0] if rest else 0
    h, w = ev.labels.shape
    target = layer.data[int(plane)] if layer.ndim == 3 else layer.data
    if y0 + h > target.shape[0] or x0 + w > target.shape[1]:
        return  # the layer was replaced by one of another size meanwhile
    target[:] = 0
    target[y0 : y0 + h, x0 : x0 + w] = ev.labels
    layer.refresh()


def drop_blank(viewer, preview) -> None:
    """Remove a run's new preview layer that nothing was painted in (a failed run)."""
    if preview is not None and preview in viewer.layers and not preview.data.any():
        viewer.layers.remove(preview)
