"""Which axes of an image layer are annotated: 2D, RGB, a stack of planes, or channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from napari_unet.core.errors import InputError

#: How the leading (non-spatial) axes of an image are read.
AXES_CHOICES = ("auto", "2D", "stack", "channels")

#: A first axis this short, on a 3D non-RGB image, is read as channels by ``"auto"``.
MAX_CHANNELS = 4


@dataclass(frozen=True)
class AxesPlan:
    """How an image layer's axes map onto its annotation labels.

    Attributes
    ----------
    kind : str
        ``"2D"``, ``"rgb"``, ``"stack"`` or ``"channels"``.
    labels_shape : tuple of int
        Shape of the labels array: the spatial axes (planes of a stack included).
    n_leading : int
        Number of leading image axes not present in the labels (channels).
    """

    kind: str
    labels_shape: tuple[int, ...]
    n_leading: int

    @property
    def is_stack(self) -> bool:
        """True when the labels have a plane axis before the two image axes."""
        return len(self.labels_shape) == 3


def plan_axes(
    shape: Sequence[int], rgb=False, axes="auto", verb="annotate", names=None
) -> AxesPlan:
    """Decide which axes of an image are annotated.

    RGB(A) images: the last axis is colour, the labels take the two before it. 2D images:
    the labels have the image's shape. 3D images are ambiguous: a stack of planes
    (labels of the same shape, annotated plane by plane) or channels first (labels of
    the last two axes). ``"auto"`` reads a first axis of at most :data:`MAX_CHANNELS`
    as channels and anything longer as planes, except that a last axis that short
    (channels last, which napari would show as narrow planes) is refused with a message.
    Labels of a channels-first image have two axes; napari lines layers up by their last
    axes, so they overlay every channel. Where the file names the first axis (``names``,
    napari's ``axis_labels``: the reader passes an OME-Zarr image's ``z``, ``t``, ``c``),
    ``"auto"`` follows the name: a z-stack of 3 planes is planes, not channels.

    Parameters
    ----------
    shape : sequence of int
        The image layer's data shape.
    rgb : bool
        Whether the layer is RGB(A) (napari's ``layer.rgb``).
    axes : str
        One of :data:`AXES_CHOICES`.
    verb : str
        What the refusals say is refused (``"annotate"``, ``"predict"``); the Annotate
        dock's own choice of reading (*Leading axis*) is offered only to annotate.
    names : sequence of str, optional
        The axes' names (a layer's ``axis_labels``); napari's unnamed ``"-3"`` are ignored.

    Returns
    -------
    AxesPlan

    Raises
    ------
    InputError
        If the image has too few or too many axes for the requested reading.
    """
    shape = tuple(int(s) for s in shape)
    if axes not in AXES_CHOICES:
        raise InputError(f"axes must be one of {', '.join(AXES_CHOICES)}; got {axes!r}")
    if rgb:
        if len(shape) != 3:
            raise InputError(
                f"an RGB image must be Y x X x colour to {verb}; got shape {shape}. "
                "Stacks of RGB images are not supported here: open one plane."
            )
        return AxesPlan("rgb", shape[:2], 0)
    ndim = len(shape)
    if ndim == 2:
        if axes in ("stack", "channels"):
            raise InputError(f"a 2D image {shape} has no {axes} axis; choose 'auto' or '2D'")
        return AxesPlan("2D", shape, 0)
    if ndim == 3:
        axes = named_reading(names) if axes == "auto" else axes
        if axes == "2D":
            raise InputError(
                f"image of shape {shape} is 3D; choose 'stack' (planes first) or "
                "'channels' (channels first)"
            )
        if axes == "channels" or (axes == "auto" and shape[0] <= MAX_CHANNELS):
            return AxesPlan("channels", shape[1:], 1)
        if axes == "auto" and shape[-1] <= MAX_CHANNELS:
            raise InputError(
                f"image of shape {shape} looks like Y x X x {shape[-1]} channels (channels "
                f"last), which napari shows as {shape[0]} planes of {shape[1]} x {shape[2]} "
                "pixels. Open it with one layer per channel (napari's channel_axis) or with "
                "the channels first"
                + ("; choose 'stack' if it really is a stack of planes" if verb == "annotate"
                   else "")
            )
        return AxesPlan("stack", shape, 0)
    raise InputError(
        f"cannot {verb} an image of shape {shape} read as {axes!r}: expected Y x X, "
        "Y x X x RGB, planes x Y x X or channels x Y x X. For more axes open the image "
        "with a channel axis (one layer per channel) or take one time point."
    )


def named_reading(names: Sequence[str] | None) -> str:
    """``"stack"`` when the first of three named axes is z or t, ``"channels"`` for c.

    Else ``"auto"`` (unnamed axes: napari's ``"-3"``, ``"axis 0"``).
    """
    if names is None or len(names) != 3:
        return "auto"
    first = str(names[0]).strip().lower()
    return {"z": "stack", "t": "stack", "c": "channels"}.get(first, "auto")


def prediction_plan(
    shape: Sequence[int], rgb: bool, in_channels: int, names: Sequence[str] | None = None
) -> tuple[AxesPlan, object]:
    """How an image layer is predicted by a model of ``in_channels`` inputs.

    Returns ``(plan, channel_axis)``. Colour last for an RGB(A) layer (a stack of them too:
    ``(Z, H, W, colour)``); a first axis of at most :data:`MAX_CHANNELS` is read as the
    model's channels when it has exactly as many inputs (more than one), as the command line
    and the Review dock read it (:func:`~napari_unet.core.images.layout.layout`): a model
    trained on such an image predicts it; else each of its planes is predicted on its own,
    as napari's slider shows them. A first axis the file names z or t (``names``) is planes.
    """
    shape = tuple(int(s) for s in shape)
    if rgb and len(shape) == 4:
        return AxesPlan("rgb", shape[:3], 0), -1
    if len(shape) == 4:  # (Z, C, Y, X): the labels would follow the channel slider
        raise InputError(
            f"cannot predict a 4D layer of shape {shape} (planes x channels x Y x X) in the "
            "dock: napari lines the labels (planes x Y x X) up with the layer's last axes, "
            "so they would follow its channel slider. Open the image with one layer per "
            "channel (viewer.open(path, channel_axis=1)) and predict the nuclear channel's "
            "layer with a grey model; a model of several channels predicts the file with "
            "`napari-unet predict MODEL FILE` (its labels open as a planes x Y x X layer)"
        )
    plan = plan_axes(shape, rgb=rgb, verb="predict", names=names)
    if plan.kind == "rgb":
        return plan, -1
    if plan.kind == "channels":
        if in_channels > 1 and in_channels == shape[0]:
            return plan, 0
        plan = plan_axes(shape, axes="stack", verb="predict")
    return plan, "none"


def _named_plane(shape: tuple, rgb: bool, names: Sequence[str] | None) -> str | None:
    """The letter (Z or T) a grey ``(P, Y, X)`` layer's names give its planes, or None."""
    if rgb or len(shape) != 3 or named_reading(names) != "stack":
        return None
    return str(names[0]).strip().upper()


def check_named_planes(
    shape: Sequence[int], rgb: bool, in_channels: int, names: Sequence[str] | None
) -> None:
    """Refuse planes a layer's axis names call z or t for a model of several channels.

    As ``napari-unet predict`` refuses such a file
    (:func:`~napari_unet.core.images.named.check_planes`): before, the Predict dock gave a
    3-channel model each z-plane as grey RGB, where the docs and the command line refuse it.
    """
    shape = tuple(int(s) for s in shape)
    letter = _named_plane(shape, rgb, names)
    if letter is None or in_channels <= 1:
        return
    from napari_unet.core.images.planeaxes import planes_not_channels

    raise InputError(planes_not_channels(letter, shape[0], in_channels, "the layer"))


def check_labelled_named_planes(
    shape: Sequence[int], rgb: bool, names: Sequence[str] | None, label_shape: Sequence[int]
) -> None:
    """Refuse for training planes a layer's axis names call z or t, annotated by 2D labels.

    Its planes would be trained as a model's channels, as ``napari-unet train`` refuses
    for such a file (:func:`~napari_unet.core.images.named.check_labelled_planes`):
    before, the Train dock trained a model of an OME-Zarr z-stack's planes with a Note only.
    """
    shape, label_shape = tuple(int(s) for s in shape), tuple(int(s) for s in label_shape)
    letter = _named_plane(shape, rgb, names)
    if letter is None or shape[1:] != label_shape:
        return
    from napari_unet.core.images.planeaxes import planes_not_labelled

    raise InputError(planes_not_labelled(letter, shape, label_shape))
