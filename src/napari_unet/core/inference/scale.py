"""Object size: the arithmetic of rescaling an image to the model's scale and results back.

A model file records the typical object diameter of its training data (``object_size``,
pixels; :mod:`napari_unet.core.images.sizes`). Given the typical object diameter of an
image, prediction resizes each plane by ``factor = model's object size / image's object
size`` in (H, W) only (a model trained on 20 px nuclei and an image of 40 px nuclei: the
image is shrunk by 0.5), predicts at that scale and resizes the results back: instance labels
by nearest neighbour (ids survive) and probabilities by linear interpolation, to exactly the
input's shape (or the shape of the region asked for).

The image is resized with :func:`skimage.transform.resize` (linear, with its Gaussian
anti-aliasing when shrinking); the results with :func:`scipy.ndimage.affine_transform`,
which, unlike ``resize``, can sample an output *region* from a window of the scaled
result (the current view). Both put pixel centres at the same places (``(i + 0.5) * scale
- 0.5``), so labels come back onto the pixels they were predicted for.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.normalize import working_dtype

__all__ = [
    "AUTO",
    "ESTIMATE",
    "MAX_FACTOR",
    "MIN_OBJECTS",
    "MIN_TOLERANCE",
    "SAME_SIZE",
    "WITHIN_TRAINED",
    "ObjectSize",
    "check_memory",
    "check_object_size",
    "given_object_size",
    "rescale_planes",
    "resample_back",
    "scaled_region",
    "scaled_shape",
    "spec_for_resized",
    "blur_into",
    "trained_zoom",
    "training_object_size",
]

#: The value of ``object_size`` that measures it with a first pass.
ESTIMATE = "estimate"
#: The default ``object_size``: ``"estimate"`` where it can run (the model records its
#: object size, the image is in memory, no region), else the image's own scale.
AUTO = "auto"
#: Fewer objects than this in the first pass: the estimate keeps the model's scale.
MIN_OBJECTS = 5
#: Rescaling by more than this factor, either way, is refused (given) or skipped (estimated).
MAX_FACTOR = 10.0
#: A given size within this fraction of the model's own is the model's own: not rescaled.
#: The model's size as shown (17.6 for 17.57 px, 18.2 for 18.19 px: three significant
#: digits, at most 0.3% off) rescaled a 696 px image to 695 px and back, which changed
#: 623 of its foreground pixels.
SAME_SIZE = 0.01


@dataclass(frozen=True)
class ObjectSize:
    """The object size a segmentation used, and the scale it predicted at.

    Yielded as a progress event by ``iter_segment`` (and ``iter_labels``) when an object
    size is set, and returned by ``estimate_object_size``.

    Attributes
    ----------
    diameter : float or None
        The image's typical object diameter in pixels: given, or estimated (None when the
        estimate found too few objects).
    model_diameter : float
        The object size the model was trained on (its file's ``object_size``).
    factor : float
        The image was resized by this factor for the model (1.0: not rescaled).
    estimated : bool
        True when ``object_size="estimate"`` (or ``"auto"``) measured it.
    n_objects : int
        Objects the estimate measured (0 when given).
    note : str
        Why the estimate kept the model's scale, else empty.
    """

    diameter: float | None
    model_diameter: float
    factor: float
    estimated: bool = False
    n_objects: int = 0
    note: str = ""

    @property
    def rescaled(self) -> bool:
        """True if the image is predicted at another scale than its own."""
        return self.factor != 1.0

    def describe(self) -> str:
        """One line for a status bar or a log: ``estimated 37 px (52 objects); image ...``."""
        size = "no objects" if self.diameter is None else f"{self.diameter:.3g} px"
        if self.estimated:  # before: "estimated no objects (0 objects)"
            size = f"estimated {size} ({self.n_objects} objects)" if self.diameter else (
                f"not estimated ({self.n_objects} objects found)")  # fmt: skip
        if not self.rescaled:
            return f"{size}; not rescaled{': ' + self.note if self.note else ''}"
        model = f"the model's {self.model_diameter:.3g} px"
        return f"{size}; image scaled by {self.factor:.3g} to {model}"


def check_object_size(value) -> float | str | None:
    """``value`` as None (no rescaling), a diameter in pixels, ``"estimate"`` or ``"auto"``.

    Numbers in strings (``"37"``, from a command line or a text field) are accepted.

    Raises
    ------
    InputError
        For zero, negative, NaN or infinite sizes, booleans, and text other than a number,
        ``"estimate"``, ``"auto"`` or ``"none"``.
    """
    if value is None:
        return None
    expected = (  # before, 'none' was left out, though --help offers it and it is taken
        "a typical object diameter in pixels (a positive number), 'estimate', 'auto' or "
        "'none' (the image's own scale)"
    )
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (ESTIMATE, AUTO):
            return text
        if text in ("none", "off"):  # the image's own scale, said on a command line
            return None
        try:
            number = float(text)
        except ValueError:
            raise InputError(f"object size must be {expected}; got {value!r}") from None
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InputError(f"object size must be {expected}; got {value!r}")
    if not math.isfinite(number) or number <= 0:
        zero = "; for no rescaling give 'none'" if number == 0 else ""
        raise InputError(f"object size must be {expected}; got {value!r}{zero}")
    return number


#: The least range (either way) within which an estimated size keeps the image's scale.
MIN_TOLERANCE = 1.25
#: How the note of an estimate kept within that range begins.
WITHIN_TRAINED = "within the sizes the model was trained on"


def trained_zoom(metadata: dict | None) -> float:
    """How far either way from its object size a model saw objects in training.

    The zoom range of its augmentation (``1 + scale`` from the file's provenance: 1.4 for
    the built-in models), at least :data:`MIN_TOLERANCE` (object sizes vary within any
    training set).
    """
    config = ((metadata or {}).get("provenance") or {}).get("config") or {}
    zoom = (config.get("augment") or {}).get("scale", 0.0) if isinstance(config, dict) else 0.0
    zoom = zoom if isinstance(zoom, int | float) and math.isfinite(zoom) and zoom > 0 else 0.0
    return max(1.0 + float(zoom), MIN_TOLERANCE)


def training_object_size(metadata: dict | None) -> float:
    """The object size (pixels) a model file records for its training data.

    Raises
    ------
    InputError
        If the metadata records none (a model written before object sizes were recorded,
        or by other means), or a value that is not a positive number.
    """
    value = (metadata or {}).get("object_size")
    if value is None:
        raise InputError(
            "the model records no training object size (its file has no 'object_size'), so "
            "there is no scale to rescale the image to; segment without an object size, or "
            "record the typical object diameter of its training data: "
            "napari_unet.save_model(path, model, **metadata, object_size=DIAMETER)"
        )
    number = value if isinstance(value, numbers.Real) and not isinstance(value, bool) else -1
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"the model file's object_size must be a positive number; got {value!r}")
    return float(number)


def given_object_size(diameter: float, model_diameter: float) -> ObjectSize:
    """The scale for a given object size; refuses factors beyond :data:`MAX_FACTOR`.

    A size within :data:`SAME_SIZE` of the model's own (17.6 for its 17.57 px) keeps the
    image's own scale (factor 1.0), with a note that says so.
    """
    factor = model_diameter / diameter
    if abs(factor - 1.0) <= SAME_SIZE:
        note = f"within {SAME_SIZE:.0%} of the model's {model_diameter:.3g} px"
        return ObjectSize(diameter, model_diameter, 1.0, note=note)
    if not 1 / MAX_FACTOR <= factor <= MAX_FACTOR:
        way = "enlarge" if factor > 1 else "shrink"
        raise InputError(
            f"object size {diameter:g} px would {way} the image {max(factor, 1 / factor):.3g} "
            f"times for this model (trained on {model_diameter:.3g} px objects); at most "
            f"{MAX_FACTOR:g} times is allowed, so give a diameter between "
            f"{_inward(model_diameter / MAX_FACTOR, up=True)} and "
            f"{_inward(model_diameter * MAX_FACTOR, up=False)} px"
        )
    return ObjectSize(diameter, model_diameter, factor)


def scaled_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """``(H, W)`` resized by ``factor``, rounded, at least one pixel."""
    return tuple(max(1, round(n * factor)) for n in shape)


def _inward(limit: float, up: bool) -> str:
    """``limit`` with 4 significant digits, rounded into the allowed range.

    Printed as 176, a largest allowed 175.7 was itself refused.
    """
    digits = 3 - int(np.floor(np.log10(abs(limit)))) if limit else 3
    step = 10.0**-digits
    value = (np.ceil if up else np.floor)(limit / step) * step
    return f"{value:.{max(digits, 0)}f}"


def rescale_planes(planes, shape: tuple[int, int]) -> np.ndarray:
    """``(P, C, H, W)`` planes (numpy or dask) resized to ``(P, C, *shape)`` float32.

    Plane by plane: of a dask array one plane is computed at a time, so the memory is the
    resized stack plus one plane. Pixels float32 cannot hold exactly (32- and 64-bit
    integers, float64) are resized in float64 (:func:`working_dtype`): cast first, a uint32
    image on a camera offset of 3e9 lost its cells.
    """
    from napari_unet.core.progress import drain

    return drain(iter_rescale_planes(planes, shape))


def iter_rescale_planes(planes, shape: tuple[int, int], prepare=None):
    """:func:`rescale_planes`, yielding the number of planes resized after each one.

    A stack is resized before its first tile: yielded, a stop (the docks' Cancel) acts
    between planes instead of after the whole stack (8 s for 20 planes of 1024 x 1024).
    ``prepare(k, plane)``, if given, returns plane ``k`` to resize (blurred, say).
    """
    from skimage.transform import resize

    n, c, h, w = (int(s) for s in planes.shape)
    work = working_dtype(planes.dtype)
    out = np.empty((n, c, *shape), work)
    shrink = shape[0] < h or shape[1] < w
    for k in range(n):
        plane = planes[k] if prepare is None else prepare(k, np.asarray(planes[k]))
        plane = np.asarray(plane, dtype=work)
        out[k] = resize(plane, (c, *shape), order=1, anti_aliasing=shrink, preserve_range=True)
        yield k + 1
    return out


def blur_into(predictor):
    """``prepare`` of :func:`~.scale.iter_rescale_planes`: photon-limited planes blurred.

    At the image's own scale, as training blurs them (recorded in the predictor's
    ``denoised``); before, it was decided again on the resized plane, where enlarging hid
    the noise, and the estimate pass's blur went unsaid.
    """
    from napari_unet.core.images.photons import denoised

    predictor.denoised.clear()

    def prepare(k: int, plane: np.ndarray) -> np.ndarray:
        out, blur = denoised(plane, predictor.denoise)
        if blur:
            predictor.denoised[k] = blur
        return out

    return prepare


def spec_for_resized(spec: dict, dtype) -> dict:
    """The normalisation of planes resized to float32 that gives the original's values.

    As for a blurred copy: :func:`~napari_unet.core.images.photons.float_spec`.
    """
    from napari_unet.core.images.photons import float_spec

    return float_spec(spec, dtype)


def scaled_region(region, shape: tuple[int, int], small: tuple[int, int]):
    """The window of the scaled plane that covers ``region`` of the plane of ``shape``.

    One pixel of margin on each side keeps linear interpolation inside real values, so a
    region comes back exactly as the same pixels of a whole-image result.
    """
    window = []
    for (a, b), n, m in zip(region, shape, small, strict=True):
        s = m / n
        window.append((max(0, math.floor(a * s) - 1), min(m, math.ceil(b * s) + 1)))
    return tuple(window)


def resample_back(array: np.ndarray, region, window, shape, small, order: int) -> np.ndarray:
    """Resize a result back: ``array`` at the pixels of ``region`` of the original plane.

    ``array`` holds ``(..., h, w)`` values on ``window`` of the scaled plane (of shape
    ``small``; the original plane has ``shape``). ``order`` 0 (nearest: labels, the values
    are copied, never blended) or 1 (linear: probabilities). Returns ``(..., region height,
    region width)`` of ``array``'s dtype.
    """
    from scipy import ndimage

    lead = array.ndim - 2
    scales = [m / n for n, m in zip(shape, small, strict=True)]
    matrix = np.array([1.0] * lead + scales)
    offset = [0.0] * lead + [
        (r[0] + 0.5) * s - 0.5 - w[0] for r, w, s in zip(region, window, scales, strict=True)
    ]
    out_shape = (*array.shape[:-2], *(b - a for a, b in region))
    out = np.empty(out_shape, array.dtype)
    ndimage.affine_transform(
        array, matrix, offset, output_shape=out_shape, output=out, order=order, mode="nearest"
    )
    return out


#: Bytes per pixel of the rescaled plane beyond the image and the probabilities: the
#: labels (int32), the foreground (float32) and the labelling's int64 buffers.
SCALED_POST_BYTES = 24
#: Bytes per pixel at the image's own size beyond the probabilities resized back and the
#: plane read for resizing: the labels resized back (int32), their outlines snapped to the
#: foreground (float32 and masks) and relabelled (int64).
FULL_POST_BYTES = 24
#: Room kept for what the estimate leaves out (temporaries of the resizing, the tiles).
HEADROOM = 1.25


def check_memory(n: int, c: int, n_classes: int, shape, small, itemsize: int = 4) -> None:
    """Refuse a rescaling whose arrays do not fit, before any is made.

    Counted: the resized image (``itemsize`` bytes per value), its probabilities (twice:
    the blend and the result), the post-processing at the scaled size, the probabilities
    and labels resized back, with :data:`HEADROOM`. (Counting the image and probabilities
    alone admitted runs that needed twice as much and then failed.)
    """
    from napari_unet.core.files import available_memory

    scaled = (itemsize * c + 8 * n_classes + SCALED_POST_BYTES) * small[0] * small[1]
    full = (4 * n_classes + itemsize * c + FULL_POST_BYTES) * shape[0] * shape[1]
    need = HEADROOM * n * (scaled + full)
    free = available_memory()
    if need > free:
        raise InputError(
            f"predicting at the object size's scale needs about {need / 2**30:.1f} GiB (the "
            f"image resized to {small[0]}x{small[1]} and its probabilities), more than the "
            f"{free / 2**30:.1f} GiB available; predict a region, or without an object size"
        )
