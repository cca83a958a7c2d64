"""Helpers every dock shares: layer pickers, layer data, regions, errors, scrolling, closing.

One place decides which layers a picker offers (by napari layer class), how a layer's data
is copied for a worker, how an annotated-region layer becomes a mask, how a user mistake
is shown, and when a dock must stop its work because it or its window closes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtCore import QEvent, QObject

from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets._keep_picks import KeepsPicks, reset_keeping
from napari_unet.widgets._view_box import (  # the view's box: moved there, named here too
    camera,
    canvas_size,
    connect_view,
    pixels_in_view,
    shows_image_plane,
    view_extent,
    visible_box,
)

__all__ = [
    "ROLE",
    "CloseWatcher",
    "KeepsPicks",
    "camera",
    "image_data",
    "layer_array",
    "layer_choices",
    "message_label",
    "on_layers_changed",
    "region_array",
    "report_error",
    "reset_keeping",
    "row",
    "run_saving",
    "canvas_size",
    "connect_view",
    "pixels_in_view",
    "shows_image_plane",
    "view_extent",
    "visible_box",
]


#: Metadata key that marks a layer a dock made for looking only (the weight map, its
#: target): no dock offers such a layer as an input.
ROLE = "napari_unet_role"


def layer_choices(viewer, *kinds: str, exclude=()) -> list[tuple[str, object]]:
    """``(name, layer)`` of the viewer's layers of the napari classes named in ``kinds``.

    ``kinds`` are class names of ``napari.layers`` (``"Image"``, ``"Labels"``, ``"Shapes"``);
    layers in ``exclude``, and layers a dock made for display only (marked with
    :data:`ROLE` in their metadata), are left out.
    """
    import napari.layers

    classes = tuple(getattr(napari.layers, k) for k in kinds)
    return [
        (ly.name, ly)
        for ly in viewer.layers
        if isinstance(ly, classes) and ly not in exclude and ROLE not in ly.metadata
    ]


def layers_of(viewer, image, kind: str = "Labels", exclude=()) -> list:
    """The ``kind`` layers named after ``image``, in the viewer's order.

    ``"img1 annotations"``, ``"img1 segmentation"`` or ``"img1_labels"`` belong to the image
    ``img1``; ``"img10 annotations"`` does not, nor does a layer named after a longer image
    name of the viewer that starts the same (``"img_1 ..."`` with images ``img`` and
    ``img_1``). An OME-Zarr channel (``"cells DAPI"``) is also named after its store, as
    the reader records (``_reader_names.SOURCE_IMAGE``): the store's label images (``"cells
    nuc"``) belong to it too (before, none did), the other channels' (``"cells GFP ..."``) not.
    """
    from napari_unet._reader_names import SOURCE_IMAGE

    def after(name: str, base: str) -> bool:
        return name == base or name.startswith((f"{base} ", f"{base}_"))

    images = [n for n, _ in layer_choices(viewer, "Image")]
    source = getattr(image, "metadata", {}).get(SOURCE_IMAGE)
    bases = {image.name} | ({source} if isinstance(source, str) and source.strip() else set())

    def named_after(name: str, base: str) -> bool:
        longer = [n for n in images if len(n) > len(base)]
        return after(name, base) and not any(after(name, n) for n in longer)

    return [
        ly
        for name, ly in layer_choices(viewer, kind, exclude=exclude)
        if any(named_after(name, base) for base in bases)
    ]


def plane_in_view(viewer, layer, n_planes: int, image_plane: bool = False) -> int:
    """The plane of ``layer``'s stack on screen (its own leading axis, not the viewer's).

    Raises :class:`InputError` when the viewer's position lies outside the stack (a
    deeper or longer layer beside it moved the slider there). ``image_plane``: also when
    the view shows no plane of the stack (a side section after napari's transpose or roll
    dims, or the 3D view); before, the hidden position on the leading axis was taken.
    """
    from napari_unet.core.errors import InputError

    if image_plane and not shows_image_plane(viewer):
        raise InputError(
            f"the view shows no plane of {layer.name!r} (its axes on screen are not the "
            "image's last two: a side section, or the 3D view); show its planes again "
            "(napari's transpose or roll dims buttons, in the 2D view) and try again"
        )
    point = layer.world_to_data(viewer.dims.point)
    plane = int(np.round(point[0]))
    if not 0 <= plane < n_planes:
        raise InputError(
            f"the view is at plane {plane} of {layer.name!r}, which has {n_planes} planes; "
            "move the slider onto one of its planes"
        )
    return plane


def widen_labels(layer) -> bool:
    """Give one-byte ids (napari's *New labels*: 255 cells) int32, lazy data memory: True if so.

    A layer read lazily (dask, zarr: a reader-opened OME-Zarr label image) is never written
    back; accepts raised dask's NotImplementedError. The layer's undo history starts again.
    """
    dtype = np.dtype(layer.data.dtype)
    small = dtype.kind in "ui" and dtype.itemsize == 1
    if not small and isinstance(layer.data, np.ndarray):
        return False
    layer.data = np.asarray(layer.data).astype(np.int32) if small else np.asarray(layer.data)
    return True


def on_layers_changed(viewer, callback: Callable) -> None:
    """Call ``callback`` when a layer is added, removed, moved or renamed (to refresh pickers)."""
    events = viewer.layers.events
    for event in (events.inserted, events.removed, events.reordered, events.renamed):
        event.connect(callback)


def layer_array(layer) -> np.ndarray:
    """A copy of a layer's full-resolution data (painting meanwhile changes nothing)."""
    return np.array(image_data(layer))


def image_data(layer, in_channels: int | None = None):
    """Full-resolution data, not copied; ``in_channels``: see ``_auto_builtin.without_alpha``."""
    from napari_unet.widgets._auto_builtin import without_alpha

    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    return without_alpha(layer, data, in_channels)


def region_array(
    layer, shape: tuple[int, ...], allow_empty: bool = False, like=None, plane=None
) -> np.ndarray | None:
    """The annotated region of ``layer`` as a bool mask of the labels' ``shape``.

    A Shapes layer is rasterised (rectangles, polygons, ellipses; 2D shapes on a stack mark
    every plane) where it lies on the pixels of ``like``, the labels layer (its scale and
    translate; :mod:`~napari_unet.widgets._regions`); a Labels layer counts its non-zero
    pixels, a 2D one for every plane, and must lie on ``like``'s pixels.
    None gives None (the whole image is annotated). ``plane``: ``(image, index)`` when 2D
    labels annotate one plane of a stack (the Live dock; :func:`~._regions.shapes_in_pixels`).

    Raises
    ------
    InputError
        If a Shapes layer holds no shape, or the region does not fit ``shape``, or it marks
        no pixel (unless ``allow_empty``: a Labels region the user is about to paint).
    """
    from napari.layers import Shapes

    from napari_unet.core.annotation.regions import region_mask
    from napari_unet.widgets._regions import check_same_grid, shapes_in_pixels

    if layer is None:
        return None
    shape = tuple(shape)
    if isinstance(layer, Shapes):
        if len(layer.data) == 0:
            raise InputError(f"the Shapes layer {layer.name!r} has no shapes; draw the region")
        mask = region_mask(shapes_in_pixels(layer, like, plane), layer.shape_type, shape)
    else:
        check_same_grid(layer, like)
        mask = layer_array(layer) != 0
        if mask.ndim == len(shape) - 1 and mask.shape == shape[1:]:
            mask = np.broadcast_to(mask, shape)  # one region drawn for every plane of a stack
    if mask.shape != shape:
        raise InputError(
            f"the annotated region {layer.name!r} has shape {mask.shape}, but the labels "
            f"have shape {shape}; expected the same shape"
        )
    if not mask.any() and not allow_empty:
        raise InputError(f"the annotated region {layer.name!r} is empty; draw or paint it")
    return np.array(mask)


def message_label(label, lines: int = 0) -> None:
    """Make a magicgui Label show long messages without ever widening its dock.

    The text wraps at word boundaries within the dock's width. With ``lines`` the label is
    that many lines tall at least and grows, never shrinks, to a longer text up to 12 lines
    (a status set during training relayouts the form only for more lines; before, a fixed
    height cut a long message off); a new width fits it again. Its tooltip is the text.
    """
    from qtpy.QtWidgets import QSizePolicy

    native = label.native
    native.setWordWrap(True)
    vertical = QSizePolicy.Policy.Fixed if lines else QSizePolicy.Policy.Minimum
    native.setSizePolicy(QSizePolicy.Policy.Ignored, vertical)
    step = native.fontMetrics().lineSpacing()
    fit = _FitsText(native, lines * step + 4, max(lines, 12) * step + 4) if lines else None
    if fit is not None:
        native.setFixedHeight(fit.least)
        native.installEventFilter(fit)
    set_text = native.setText  # a QLabel signals no change: wrap the setter magicgui calls

    def set_text_and_tooltip(text: str) -> None:
        set_text(text)
        native.setToolTip(text)
        if fit is not None and native.isVisible():
            fit.fit(grow_only=True)

    native.setText = set_text_and_tooltip


class _FitsText(QObject):
    """Keeps a word-wrapped QLabel ``least`` to ``most`` px tall, as tall as its text."""

    def __init__(self, label, least: int, most: int) -> None:
        super().__init__(label)
        self._label, self.least, self._most = label, least, most

    def fit(self, grow_only: bool = False) -> None:
        """Grow to the text's height at the label's width (or fit it: ``grow_only`` False)."""
        label, low = self._label, self._label.minimumHeight()
        need = min(max(self.least, label.heightForWidth(max(label.width(), 1))), self._most)
        if need > low or (need < low and not grow_only):
            fixed = label.maximumHeight() == low  # a fixed height stays fixed, at the new one
            label.setMinimumHeight(need)
            if fixed or label.maximumHeight() < need:
                label.setMaximumHeight(need)

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        """Fit the text to a new width (and when shown)."""
        kind = event.type()
        if kind == QEvent.Type.Show or (
            kind == QEvent.Type.Resize and event.size().width() != event.oldSize().width()
        ):
            self.fit()
        return False


def report_error(status, message: str) -> None:
    """Show a user mistake as a napari notification and in the dock's status line."""
    from napari.utils.notifications import show_error

    show_error(message)
    status.value = f"Error: {message}"


def row(*widgets, label: str | None = None):
    """Widgets side by side, without margins (``label``: its name in a form)."""
    from magicgui.widgets import Container

    box = Container(widgets=list(widgets), layout="horizontal", label=label or "")
    box.margins = (0, 0, 0, 0)
    return box


def run_saving(status, save: Callable, *args, then: Callable | None = None):
    """Run ``save(*args)`` (which returns the path written) in a thread worker.

    The status line says "Saving..." and then where it went, and ``then(path)`` is called;
    a failure is reported as an error (the core's writers are atomic: nothing half-written
    is left). Returns the worker. napari keeps the worker for good: it lets go of ``args``
    (the data written), ``status`` and ``then`` once it ends (before, a dock closed after
    a save stayed alive, with its segmentation).
    """
    from napari.qt.threading import create_worker

    status.value = "Saving..."
    held = {"status": status, "then": then}  # emptied when the worker has finished
    job = [save, args]

    def run():
        call, given = job
        job.clear()
        return call(*given)

    def done(path):
        if "status" in held:
            held["status"].value = f"Saved {path}"
        if held.get("then") is not None:
            held["then"](path)

    def failed(exc):
        if "status" in held:
            report_error(held["status"], f"could not save: {in_words(exc)}")

    # finished is connected with the others, before the worker starts: connected after
    # (create_worker starts it), a quick save could finish first, and held was never cleared
    connect = {"returned": done, "errored": failed, "finished": held.clear}
    return create_worker(run, _connect=connect)


class CloseWatcher(QObject):
    """Calls ``callback`` when a watched window closes or a watched dock content is removed.

    Installed on the viewer's main window (closing napari flushes unsaved annotations and
    stops training) and on a dock's own widget (removing the dock stops its work).
    ``confirmed``: a Close counts once the window it closes hides (a close the window
    accepted; minimising hides it spontaneously, which does not count). Before, answering
    Cancel to napari's "close window?" question stopped training anyway and left the Train
    dock stuck as running.
    """

    def __init__(self, callback: Callable[[], object], confirmed: bool = False) -> None:
        super().__init__()
        self._callback, self._confirmed, self._asked = callback, confirmed, False

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        """Watch for Close, and for a change to no parent (the dock was removed)."""
        kind, types = event.type(), QEvent.Type
        if kind == types.ParentChange and obj.parent() is None:
            self._callback()
        elif kind == types.Close:
            self._asked = self._confirmed and obj.isVisible()  # hidden: no Hide will come
            if not self._asked:
                self._callback()
        elif kind == types.Hide and self._asked and not event.spontaneous():
            self._asked = False
            self._callback()
        elif kind in (types.Show, types.WindowActivate):  # the close was cancelled
            self._asked = False
        return False
