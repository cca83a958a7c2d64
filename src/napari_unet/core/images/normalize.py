"""Input normalisation as a model file records it.

A model is trained on normalised intensities; prediction must normalise new images the
same way. The model's metadata holds a ``"normalization"`` dict, for example
``{"method": "percentile", "low": 1.0, "high": 99.8}`` (the default). Statistics are
computed once per image plane (per channel) and then applied to every tile, so tiles and
chunks of one plane are normalised identically (no seams from per-tile statistics).

Methods
-------
``percentile``
    ``(x - p_low) / (p_high - p_low)`` with per-channel percentiles ``low`` and ``high``;
    the span is at least ``noise_floor`` (default 3) times the span of the pixel noise,
    so a field of background noise alone is not stretched into "cells"
    (:func:`noise_range`).
``minmax``
    ``(x - min) / (max - min)`` per channel.
``zscore``
    ``(x - mean) / std`` per channel.
``fixed``
    ``(x - min) / (max - min)`` with the recorded ``min`` and ``max``.
``dtype``
    Integer images divided by their type's maximum (uint8 by 255, uint16 by 65535);
    float images unchanged.
``none``
    Unchanged (cast to float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError

DEFAULT = {"method": "percentile", "low": 1.0, "high": 99.8}
METHODS = ("percentile", "minmax", "zscore", "fixed", "dtype", "none")
#: Statistics of larger planes are computed on a regular subsample of about this many pixels
#: (identical for numpy and dask inputs, so both give the same result).
MAX_SAMPLES = 1 << 22
#: A percentile range spans at least this many times what pixel noise alone spans
#: (:func:`noise_range`; ``"noise_floor"`` in the spec, 0 turns it off).
NOISE_FLOOR = 3.0
#: Prediction clips percentile-normalised values above this (``"clip"`` in the spec the
#: predictor reads, 0 turns it off; training does not clip). A few small specks far
#: brighter than the nuclei (dust, an aggregate, a dead cell) reached values of 20 and
#: more, which the network spread over their neighbourhood: on the DSB2018 fluorescence
#: validation images, specks over 0.1% of the pixels at 20 times the 99.8th percentile
#: cut the nuclei's recall from 0.89 to 0.68 (0.88 clipped), while every clean test and
#: validation image scored the same (benchmarks/debris.py).
PREDICTION_CLIP = 1.5
#: Where prediction clips (``"clip"`` above 0), values below this are clipped to it too, on
#: a dark background (fluorescence). A few very dark pixels (a NoData value such as -32768
#: or -9999, dead pixels, the negative ringing of a deconvolution) were normalised to -5000
#: and less, and the network spread them over their neighbourhood (0.02% of the pixels at
#: -32768: AP50 0.89 -> 0.09). No DSB2018 fluorescence train or val image goes below -0.08.
DARK_CLIP = -0.5
#: :data:`DARK_CLIP` on a bright background (brightfield, H&E), whose objects are the dark
#: side: the darkest nuclei of DSB2018 histology and brightfield train and val images go
#: down to -2.14 (11 of 103 below -0.5), and those pixels are image, not outliers.
DARK_CLIP_BRIGHT = -3.0


@dataclass(frozen=True)
class Stats:
    """Per-channel ``offset`` and ``scale``: normalised = (x - offset) / scale.

    ``high`` > 0: normalised values are clipped to ``[low, high]``
    (:data:`PREDICTION_CLIP`, :data:`DARK_CLIP`); else not clipped.
    """

    offset: tuple[float, ...]
    scale: tuple[float, ...]
    high: float = 0.0
    low: float = -np.inf

    def apply(self, tile: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Normalise a ``(..., C, H, W)`` array into float32 ``out`` (new when None).

        Wide pixels (:func:`working_dtype`) are divided in float64 before the cast: a
        float64 image of values around 1e-60 has a scale float32 cannot hold (it became 0,
        and every probability NaN).
        """
        tile = np.asarray(tile)
        out = np.empty(tile.shape, np.float32) if out is None else out
        work = working_dtype(tile.dtype)
        off = np.asarray(self.offset, work)[:, None, None]
        scale = np.asarray(self.scale, work)[:, None, None]
        if work is np.float32:
            np.subtract(tile, off, out=out, dtype=np.float32)
            out /= scale
        else:
            out[...] = np.subtract(tile, off, dtype=work) / scale
        if self.high > 0:  # bright specks and dark outliers
            np.clip(out, self.low, self.high, out=out)
        return out


def working_dtype(dtype) -> type:
    """The type the offset is subtracted in: float64 for pixels float32 cannot hold exactly.

    32- and 64-bit integers and float64 pixels may sit on a large offset (a camera's, a sum
    of frames): cast to float32 first, 3e9 + 100 and 3e9 + 200 are the same number, and the
    cells vanish. Subtracted in float64, the differences survive the cast to float32.
    """
    dtype = np.dtype(dtype)
    if (dtype.kind in "iu" and dtype.itemsize >= 4) or (dtype.kind == "f" and dtype.itemsize > 4):
        return np.float64
    return np.float32


def check_pixels(pixels: np.ndarray, what: str = "the image") -> None:
    """Refuse pixels the network cannot read faithfully: complex, NaN, inf, beyond float32.

    Everything is computed in float32: a float64 value beyond its range (about 3.4e38)
    would silently become infinite and every probability NaN.
    """
    pixels = np.asarray(pixels)
    if np.iscomplexobj(pixels):
        raise InputError(f"{what} is complex ({pixels.dtype}); give real-valued pixels")
    if pixels.dtype.kind != "f" or pixels.size == 0:
        return
    if not np.isfinite(pixels).all():
        raise InputError(
            f"{what} contains NaN or infinite values; replace them (for example with 0) first"
        )
    if pixels.dtype.itemsize > 4 and np.abs(pixels).max() > np.finfo(np.float32).max:
        raise InputError(
            f"{what} holds values beyond the float32 range (up to "
            f"{float(np.abs(pixels).max()):.3g}); rescale it first"
        )


def check_spec(spec: dict | None) -> dict:
    """Validate a normalisation dict (None gives the default); return a complete copy."""
    if spec is None:
        return dict(DEFAULT)
    if not isinstance(spec, dict) or spec.get("method") not in METHODS:
        raise InputError(
            f"unknown normalisation {spec!r}; expected a dict with 'method' one of "
            f"{', '.join(METHODS)}"
        )
    spec = dict(spec)
    if spec["method"] == "percentile":
        spec.setdefault("low", DEFAULT["low"])
        spec.setdefault("high", DEFAULT["high"])
        if not _numbers(spec, "low", "high") or not 0 <= spec["low"] < spec["high"] <= 100:
            raise InputError(f"percentiles must satisfy 0 <= low < high <= 100; got {spec}")
        if "noise_floor" in spec and not (_numbers(spec, "noise_floor")
                                          and spec["noise_floor"] >= 0):  # fmt: skip
            raise InputError(f"noise_floor must be a number >= 0; got {spec}")
        if spec.get("background", "dark") not in ("dark", "bright"):
            raise InputError(f"background must be 'dark' or 'bright'; got {spec}")
        if "clip" in spec and not (_numbers(spec, "clip") and spec["clip"] >= 0):
            raise InputError(f"clip must be a number >= 0; got {spec}")
    if spec["method"] == "fixed":
        _check_fixed(spec)
    return spec


def _check_fixed(spec: dict) -> None:
    """Refuse a ``fixed`` range that is not ``min < max`` within the float32 range.

    Pixels are normalised in float32 (and refused beyond its range, :func:`check_pixels`):
    ``min=-1e308, max=1e308`` was accepted, its span overflowed to infinity and every
    image became zeros.
    """
    big = float(np.finfo(np.float32).max)
    if not (_numbers(spec, "min", "max") and spec["min"] < spec["max"]):
        raise InputError(f"'fixed' normalisation needs numbers 'min' < 'max'; got {spec}")
    if max(abs(spec["min"]), abs(spec["max"]), float(spec["max"]) - float(spec["min"])) > big:
        raise InputError(
            f"'fixed' normalisation needs 'min' and 'max' within +-{big:.3g} and less than "
            f"that apart (pixels are normalised in float32); got {spec}"
        )


def _numbers(spec: dict, *keys: str) -> bool:
    """Whether ``spec`` holds a finite real number (not a bool) under each of ``keys``.

    An integer too large for a float (``10**400`` in a model file's JSON) is not one: it
    raised OverflowError where a model was read, instead of the file's InputError.
    """
    for value in (spec.get(k) for k in keys):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        try:
            if not np.isfinite(float(value)):
                return False
        except OverflowError:
            return False
    return True


def sample_stride(shape) -> int:
    """The step of :func:`plane_sample` over a plane of ``shape`` (``(..., H, W)``)."""
    h, w = shape[-2:]
    return max(1, int(np.ceil(np.sqrt(h * w / MAX_SAMPLES))))


def plane_sample(plane) -> np.ndarray:
    """A regular subsample of a (C, H, W) plane, as numpy (computes a dask plane's sample)."""
    stride = sample_stride(plane.shape)
    sample = plane[:, ::stride, ::stride]
    if hasattr(sample, "compute"):
        sample = sample.compute()
    return np.asarray(sample)


def compute_stats(plane, spec: dict | None = None, sample=None) -> Stats:
    """Normalisation statistics of one image plane.

    Parameters
    ----------
    plane : numpy.ndarray or dask.array.Array
        ``(C, H, W)`` pixels of one plane.
    spec : dict, optional
        The model's ``"normalization"`` metadata (default: 1-99.8 percentiles).
    sample : numpy.ndarray, optional
        The plane's regular subsample (:func:`plane_sample`) as the network reads it, when
        that differs from the plane (its background flattened); the plane's type still
        sets the ``"dtype"`` range and the floor of the scale.

    Returns
    -------
    Stats
        Per-channel offset and scale.

    Raises
    ------
    InputError
        If the plane holds NaN or infinite values, or the spec is unknown.
    """
    spec = check_spec(spec)
    method = spec["method"]
    n_channels = plane.shape[0]
    if method == "none":
        return Stats((0.0,) * n_channels, (1.0,) * n_channels)
    if method == "fixed":
        lo, hi = float(spec["min"]), float(spec["max"])
        return Stats((lo,) * n_channels, (max(hi - lo, 1e-12),) * n_channels)
    if method == "dtype":
        dtype = np.dtype(plane.dtype)
        scale = float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
        return Stats((0.0,) * n_channels, (scale,) * n_channels)
    sample = plane_sample(plane) if sample is None else np.asarray(sample)
    check_pixels(sample)
    grid = sample
    sample = sample.reshape(n_channels, -1).astype(np.float64)
    if method == "percentile":
        lo, hi = np.percentile(sample, [float(spec["low"]), float(spec["high"])], axis=1)
        lo, hi = _above_noise(grid, lo, hi, spec)
    elif method == "minmax":
        lo, hi = sample.min(axis=1), sample.max(axis=1)
    else:  # zscore
        lo, sd = sample.mean(axis=1), sample.std(axis=1)
        hi = lo + sd
    # A floor relative to the values (a flat image stays flat, its rounding noise not
    # stretched): a few steps of the working type's resolution (float32: 1e-6 of the
    # values; float64 for wide pixels, whose offset is subtracted in float64). An absolute
    # floor of 1e-6 flattened whole images of small float values (0 objects), and 1e-6 of a
    # uint32 camera offset of 3e9 flattened its cells.
    size = np.maximum(np.abs(hi), np.abs(lo))
    floor = 8 * np.finfo(working_dtype(plane.dtype)).eps * size
    scale = np.maximum(hi - lo, np.where(size > 0, floor, 1.0))
    high = float(spec.get("clip", 0.0)) if method == "percentile" else 0.0
    low = -np.inf
    if high > 0:  # dark outliers too; unknown, only a clearly dark background (contrast.py)
        dark = _dark_background(grid, lo, hi, spec, level=0.3).all()
        low = DARK_CLIP if dark else DARK_CLIP_BRIGHT
    return Stats(tuple(float(v) for v in lo), tuple(float(v) for v in scale), high, low)


def noise_range(grid, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Per channel, the part of ``grid``'s low-high percentile span that pixel noise makes.

    ``grid`` is a ``(C, h, w)`` plane (or its regular sample). Averaging 2 x 2 blocks
    halves independent pixel noise and keeps objects of a few pixels and more, so the span
    shrinks by half the noise's share: that share is twice the shrinkage. 0 where nothing
    shrinks (no noise to speak of, or a plane too small to tell).

    A pixel beyond the low-high range with no neighbour beyond it (a hot or dead pixel:
    no object) counts as at the range's end in the blocks. Alone, it lifted its block's
    mean, so 0.1% of hot pixels raised the blocks' high percentile above the pixels' own,
    nothing shrank, and the noise floor was off (an empty camera field gave 465 "nuclei").
    """
    from scipy import ndimage

    grid = np.asarray(grid, np.float64)
    c, h, w = grid.shape
    h2, w2 = h // 2 * 2, w // 2 * 2
    if h2 < 2 or w2 < 2:
        return np.zeros(c)
    ends = np.percentile(grid.reshape(c, -1), [low, high], axis=1)[:, :, None, None]
    tamed = grid[:, :h2, :w2].copy()
    for end, beyond in ((ends[1], tamed > ends[1]), (ends[0], tamed < ends[0])):
        near = ndimage.convolve(beyond.view(np.uint8), np.ones((1, 3, 3), np.uint8),
                                mode="constant")  # fmt: skip
        np.copyto(tamed, np.broadcast_to(end, tamed.shape), where=beyond & (near == 1))
    blocks = tamed.reshape(c, h2 // 2, 2, w2 // 2, 2).mean(axis=(2, 4))
    spans = [np.ptp(np.percentile(a.reshape(c, -1), [low, high], axis=1), axis=0)
             for a in (grid, blocks)]  # fmt: skip
    return np.maximum(spans[0] - spans[1], 0.0) * 2


def _above_noise(grid, lo, hi, spec: dict):
    """``(lo, hi)`` widened to span at least ``noise_floor`` times the noise's own span.

    A field with no cells (or one small cell) has percentiles in its background noise, and
    stretching that noise to the whole range made the built-in model call it cells (72
    empty 96 px windows of DSB2018 fluorescence images: 1,762 objects; 628 with the floor,
    benchmarks/empty_fields.py). The range grows away from the background: upward on a
    dark background, downward on a bright one (``"background"`` in the spec, as the
    predictor sets it from the model file; else where the median lies). No DSB2018
    fluorescence train image spans less than 5 times its noise, so none is changed.
    """
    floor = float(spec.get("noise_floor", NOISE_FLOOR))
    if floor <= 0:
        return lo, hi
    need = floor * noise_range(grid, float(spec["low"]), float(spec["high"])) - (hi - lo)
    if not np.any(need > 0):
        return lo, hi
    dark = _dark_background(grid, lo, hi, spec)
    grow = np.maximum(need, 0.0)
    return np.where(dark, lo, lo - grow), np.where(dark, hi + grow, hi)


def _dark_background(grid, lo, hi, spec: dict, level: float = 0.5) -> np.ndarray:
    """Per channel, whether the background lies at the low end of ``(lo, hi)``.

    As the model's training images were (``"background"`` in the spec, which the predictor
    sets from the model file), else whether the median of ``grid`` (``(C, h, w)``) lies in
    the lowest ``level`` of the range.
    """
    if spec.get("background") in ("dark", "bright"):
        return np.full(len(lo), spec["background"] == "dark")
    median = np.median(np.asarray(grid, np.float64).reshape(len(lo), -1), axis=1)
    return median - lo <= level * (hi - lo)


def normalize(image, spec: dict | None = None) -> np.ndarray:
    """Normalise a whole ``(C, H, W)`` (or ``(H, W)``) numpy image; returns float32."""
    arr = np.asarray(image)
    plane = arr[None] if arr.ndim == 2 else arr
    out = compute_stats(plane, spec).apply(plane)
    return out[0] if arr.ndim == 2 else out
