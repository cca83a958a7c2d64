"""Uneven illumination: estimate an image's background and take it out before prediction.

A model trained on evenly lit images reads a background that brightens across the field
(vignetting, a tilted lamp, a gradient of glow) as cells: the built-in fluorescence model
called the bright half of such an image one nucleus (docs/training.md, "Robust to a worse
microscope"). Subtracting the background first fixes that without retraining.

The background is a smooth quadratic surface fitted under the nuclei (a grey opening with a
window wider than a nucleus first, a closing on a bright background; the arithmetic is in
:mod:`~napari_unet.core.images.surface`): it follows light that varies across the field,
and never cuts into a cluster of cells. :func:`find` fits it once per plane
(:class:`Background`), and any window of the plane is then flattened with it, exactly as
the whole plane would be.

:func:`unevenness` measures how much the surface varies, as a fraction of each channel's
own range (its 1-99.8 percentile span, as the model's normalisation sees it; the largest
over the channels); ``"auto"`` flattens only above :data:`UNEVEN`, so evenly lit images
are predicted exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.images.normalize import working_dtype
from napari_unet.core.images.surface import FACTOR, evaluate, fit

__all__ = [
    "FACTOR", "LAZY", "MODES", "UNEVEN", "Background", "background_for", "check_mode",
    "describe_flattened", "estimate", "find", "fit", "flatten_plane", "flattened_planes",
    "plane_is_bright", "plane_stats", "unevenness", "window_for",
]

#: What prediction does about the background: flatten it when uneven, always, or never.
MODES = ("auto", "flatten", "keep")
#: Unevenness above which ``"auto"`` flattens (see :func:`unevenness`). Chosen on 16
#: validation and 80 train images of DSB2018 fluorescence, as recorded and lit unevenly
#: (0.2 to 0.35 scored alike; at 0.3 one evenly lit image in a hundred is flattened).
UNEVEN = 0.3
#: Window of the opening, in multiples of the model's object diameter (64 px for the
#: built-in models, trained on nuclei of about 18 px), and its floor in pixels.
WINDOW_PER_DIAMETER = 3.6
MIN_WINDOW = 32

#: Why a lazy image is not flattened with ``"flatten"``.
LAZY = (
    "flattening the background needs the whole plane in memory, and this one is read chunk "
    "by chunk (a dask or Zarr image); load it into memory, or predict it with background "
    "'keep' or 'auto'"
)


def check_mode(mode) -> str:
    """``mode`` if it is one of :data:`MODES`, else InputError."""
    if mode not in MODES:
        raise InputError(f"background must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def window_for(object_size: float | None) -> int:
    """Window side (pixels) for a model trained on objects of ``object_size`` px (None: 64)."""
    if not object_size or not np.isfinite(object_size) or object_size <= 0:
        return 64
    return max(MIN_WINDOW, int(round(WINDOW_PER_DIAMETER * float(object_size))))


@dataclass(frozen=True)
class Background:
    """The light under one plane: its surface, how uneven it is, and the level kept.

    ``coefs`` (``(C, 6)``, :func:`~napari_unet.core.images.surface.fit`) over a plane of
    ``shape`` (H, W); ``level`` (``(C,)``) is the surface's median, added back so that a
    flattened plane keeps its brightness; ``uneven`` as :func:`unevenness` says.
    """

    coefs: np.ndarray
    shape: tuple[int, int]
    level: np.ndarray
    uneven: float

    def subtract(self, block, origin=(0, 0), step: int = 1) -> np.ndarray:
        """``block`` (``(C, h, w)``, pixels from ``origin`` every ``step``) less the light.

        In the working type of the block's pixels (float32, or float64 for 32-bit integers
        and float64, whose offsets float32 cannot hold), a strip of rows at a time.
        """
        work = working_dtype(np.asarray(block[..., :1, :1]).dtype)
        out = np.array(block, work)
        (y0, x0), (h, w) = origin, out.shape[-2:]
        cols = slice(x0, x0 + w * step, step)
        level = self.level.astype(work)[:, None, None]
        for r in range(0, h, 512):
            n = min(512, h - r)
            rows = slice(y0 + r * step, y0 + (r + n) * step, step)
            out[:, r : r + n] -= evaluate(self.coefs, self.shape, rows, cols, work) - level
        return out


def find(plane, bright: bool, window: int = 64) -> Background:
    """The :class:`Background` of ``plane`` (``(C, H, W)``; ``bright``: dark objects)."""
    coefs = fit(plane, bright, window)
    coarse = evaluate(coefs, np.shape(plane)[-2:], *_coarse(np.shape(plane)), np.float64)
    level = np.median(coarse.reshape(coarse.shape[0], -1), axis=1)
    return Background(coefs, tuple(np.shape(plane)[-2:]), level, unevenness(plane, coefs))


def _coarse(shape) -> tuple[slice, slice]:
    """Rows and columns of a grid of at most about 65 x 65 points over a plane of ``shape``."""
    h, w = shape[-2:]
    return slice(0, h, max(1, h // 64)), slice(0, w, max(1, w // 64))


def background_for(plane, mode: str, bright: bool | None, window: int = 64):
    """The :class:`Background` to take out of ``plane`` before prediction, or None.

    None for ``"keep"``, for ``"auto"`` on an evenly lit plane (unevenness up to
    :data:`UNEVEN`) and for ``"auto"`` on a lazy (dask) plane, which is not read whole;
    ``"flatten"`` on a lazy plane raises InputError. ``bright`` None: judged on the plane
    (:func:`plane_is_bright`). NaN or infinite pixels raise the usual InputError first.
    """
    from napari_unet.core.images.layout import is_lazy
    from napari_unet.core.images.normalize import check_pixels

    if check_mode(mode) == "keep":
        return None
    if is_lazy(plane):
        if mode == "flatten":
            raise InputError(LAZY)
        return None
    check_pixels(plane)
    found = find(plane, plane_is_bright(plane) if bright is None else bright, window)
    return found if mode == "flatten" or found.uneven > UNEVEN else None


def plane_stats(plane, spec, found: Background | None):
    """Normalisation statistics of ``plane`` as the network reads it (``found`` taken out).

    The same regular sample as :func:`~napari_unet.core.images.normalize.compute_stats`
    takes of the plane, flattened point by point, so a window of the plane is normalised
    exactly as the whole flattened plane would be.
    """
    from napari_unet.core.images.normalize import compute_stats, plane_sample, sample_stride

    if found is None or spec["method"] == "dtype":  # the range of the pixels' type
        return compute_stats(plane, spec)
    sample = found.subtract(plane_sample(plane), (0, 0), sample_stride(np.shape(plane)))
    return compute_stats(plane, spec, sample=sample)


def estimate(plane, bright: bool, window: int = 64) -> np.ndarray:
    """The light under ``plane`` (``(C, H, W)``), per channel, at every pixel (float32)."""
    return evaluate(fit(plane, bright, window), np.shape(plane)[-2:])


def _ranges(plane) -> np.ndarray:
    """Each channel's 1-99.8 percentile span on a sample (0: no contrast to speak of)."""
    h, w = np.shape(plane)[-2:]
    stride = max(1, int(np.sqrt(h * w / 1e6)))
    sample = np.asarray(plane[:, ::stride, ::stride], np.float64)
    low, high = np.percentile(sample.reshape(sample.shape[0], -1), (1.0, 99.8), axis=1)
    tiny = 1e-9 * np.maximum(np.abs(low), np.abs(high))  # rounding of the fit, not light
    return np.where(high - low > tiny, high - low, 0.0)


def unevenness(plane, coefs: np.ndarray) -> float:
    """How much the light ``coefs`` (:func:`fit`) varies, over ``plane``'s own range.

    Per channel: the span of its surface (on a coarse grid) over its 1-99.8 percentile
    span, as the model's normalisation sees each channel; the largest over the channels.
    Near 0 for evenly lit images (under 0.21 for 99% of the DSB2018 fluorescence train
    images); light rising across the field by half the image's range reads about 0.37, by
    its whole range 0.6.
    """
    shape = np.shape(plane)
    coarse = evaluate(coefs, shape[-2:], *_coarse(shape), np.float64)
    spans = np.ptp(coarse.reshape(coarse.shape[0], -1), axis=1)
    ranges = _ranges(plane)
    return float(np.max(np.divide(spans, ranges, out=np.zeros_like(spans), where=ranges > 0)))


def flatten_plane(plane, mode: str, bright: bool, window: int = 64):
    """``(plane, unevenness)``: ``plane`` less its background when ``mode`` asks for it.

    ``"keep"`` returns the plane untouched (unevenness None). Otherwise the background is
    found (``bright``: dark objects on a bright background, found with a closing);
    ``"flatten"``, or ``"auto"`` with an unevenness above :data:`UNEVEN`, subtracts it and
    adds back its median, so the plane keeps its level (see :meth:`Background.subtract`).
    """
    if check_mode(mode) == "keep":
        return plane, None
    found = find(plane, bright, window)
    if mode == "auto" and not found.uneven > UNEVEN:
        return plane, found.uneven
    return found.subtract(plane), found.uneven


def plane_is_bright(plane: np.ndarray) -> bool:
    """Whether ``plane`` (``(C, H, W)``) has a bright background (dark objects).

    As :mod:`~napari_unet.core.images.contrast` reads it, for a model that does not record
    the background of its training images.
    """
    from napari_unet.core.images.contrast import BRIGHT_BACKGROUND, background_level

    level = background_level(np.asarray(plane), channel_axis=0, channel="mean")
    return level is not None and level > BRIGHT_BACKGROUND


def describe_flattened(
    flattened: dict, n_planes: int = 1, off: str = "background='keep'"
) -> str | None:
    """What a prediction did about uneven light, in one sentence (None: nothing).

    ``flattened`` maps plane index -> unevenness, as
    :attr:`~napari_unet.core.inference.plan.Predictor.flattened` records it; ``off`` is
    the setting that turns it off, as the caller names it.
    """
    if not flattened:
        return None
    top = max(flattened.values())
    if n_planes <= 1:
        where = f"the background was uneven ({top:.2f} of the image's range)"
    else:
        which = _runs(sorted(flattened))
        where = (
            f"the background of {len(flattened)} of {n_planes} planes ({which}, counted from "
            f"0 as napari's slider) was uneven (up to {top:.2f} of the image's range)"
        )
    return f"{where}: flattened before prediction ({off} predicts it as it is)"


def _runs(indices: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` as ``"plane 0-2, 5, 7-8"`` (``"plane 3"`` for one)."""
    parts, start = [], None
    for k, i in enumerate(indices):
        start = i if start is None else start
        if k + 1 == len(indices) or indices[k + 1] != i + 1:
            parts.append(str(i) if i == start else f"{start}-{i}")
            start = None
    return ("plane " if len(indices) == 1 else "planes ") + ", ".join(parts)


def flattened_planes(planes, surfaces: dict, box=None) -> np.ndarray:
    """What the network read of ``planes`` (``(P, C, H, W)``), sampled for a contrast check.

    Up to eight planes (every ``ceil(P / 8)``-th) at about a million pixels each, with the
    light of the planes a prediction flattened taken out (``surfaces``: plane index ->
    :class:`Background`, :attr:`~napari_unet.core.inference.plan.Predictor.surfaces`; a
    surface fitted at the model's scale applies at the plane's own, its coordinates run
    from -1 to 1 across either). ``box`` (``((y0, y1), (x0, x1))``): the surfaces were
    fitted on that inside of a constant margin, and only it is flattened; the margin keeps
    its one value, so the contrast check still sees it as padding (stretched over the whole
    plane, the light made a black border read as a dark background). No copy of the whole
    stack is made.
    """
    from dataclasses import replace

    n, _, h, w = (int(v) for v in np.shape(planes))
    (y0, y1), (x0, x1) = box if box is not None else ((0, h), (0, w))
    every, stride = max(1, -(-n // 8)), max(1, int(np.sqrt(h * w / 1e6)))
    work = working_dtype(np.asarray(planes[:1, :1, :1, :1]).dtype)
    # The sampled rows and columns inside the box, and where they lie in it
    rows = slice(-(-y0 // stride), -(-y1 // stride))
    cols = slice(-(-x0 // stride), -(-x1 // stride))
    origin = (rows.start * stride - y0, cols.start * stride - x0)
    out = []
    for k in range(0, n, every):
        sample = np.array(planes[k][:, ::stride, ::stride], work)  # a copy: never the input
        if k in surfaces:
            light = replace(surfaces[k], shape=(y1 - y0, x1 - x0))
            sample[:, rows, cols] = light.subtract(sample[:, rows, cols], origin, stride)
        out.append(sample)
    return np.stack(out)
