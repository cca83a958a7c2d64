"""Uneven illumination: estimate an image's background and take it out before prediction.

A model trained on evenly lit images reads a background that brightens across the field
(vignetting, a tilted lamp, a gradient of glow) as cells: the built-in fluorescence model
called the bright half of such an image one nucleus (docs/training.md, "Robust to a worse
microscope"). Subtracting the background first fixes that without retraining.

The background is found in two steps. A grey *opening* (for a dark background; a
*closing* for a bright one, where the nuclei are dark) with a window wider than a nucleus
removes the nuclei and keeps the light, the rolling-ball idea of ImageJ with a square; it
is computed on the plane shrunk :data:`FACTOR` times (local means: steadier than single
pixels under noise). A cluster of nuclei wider than the window survives it, so a smooth
quadratic surface is fitted to it with such bumps left out (:func:`_surface`), and that
surface is the background: it follows light that varies across the field, and never cuts
into a cluster of cells.

:func:`unevenness` measures how much the surface varies, as a fraction of the image's own
range (its 1-99.8 percentile span, as the model's normalisation sees it); ``"auto"``
flattens only above :data:`UNEVEN`, so evenly lit images are predicted exactly as before.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError

__all__ = [
    "FACTOR", "MODES", "UNEVEN", "check_mode", "describe_flattened", "estimate", "fit",
    "flatten_plane", "flattened_planes", "plane_is_bright", "unevenness", "window_for",
]

#: What prediction does about the background: flatten it when uneven, always, or never.
MODES = ("auto", "flatten", "keep")
#: Unevenness above which ``"auto"`` flattens (see :func:`unevenness`). Chosen on 16
#: validation and 80 train images of DSB2018 fluorescence, as recorded and lit unevenly
#: (0.2 to 0.35 scored alike; at 0.3 one evenly lit image in a hundred is flattened).
UNEVEN = 0.3
#: The background is estimated on the plane shrunk this many times.
FACTOR = 4
#: Window of the opening, in multiples of the model's object diameter (64 px for the
#: built-in models, trained on nuclei of about 18 px), and its floor in pixels.
WINDOW_PER_DIAMETER = 3.6
MIN_WINDOW = 32


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


def estimate(plane: np.ndarray, bright: bool, window: int = 64) -> np.ndarray:
    """The background light of ``plane`` (``(C, H, W)``), per channel, at full size (float32).

    The surface :func:`fit` finds, evaluated at every pixel.
    """
    h, w = np.shape(plane)[-2:]
    return _evaluate(fit(plane, bright, window), h, w)


def fit(plane: np.ndarray, bright: bool, window: int = 64) -> np.ndarray:
    """Coefficients ``(C, 6)`` of the background surface of ``plane`` (``(C, H, W)``).

    A grey opening (``bright``: closing) with a square of side ``window`` on the plane
    shrunk :data:`FACTOR` times by local means; then a smooth surface fitted to it
    (:func:`_surface`), in coordinates running from -1 to 1 across the plane
    (:func:`_evaluate`).
    """
    from scipy import ndimage

    plane = np.asarray(plane, np.float32)
    c, h, w = plane.shape
    f = max(1, min(FACTOR, h // 8, w // 8))
    hs, ws = -(-h // f), -(-w // f)
    padded = np.pad(plane, ((0, 0), (0, hs * f - h), (0, ws * f - w)), mode="edge")
    small = padded.reshape(c, hs, f, ws, f).mean(axis=(2, 4))
    side = max(1, window // f)
    morph = ndimage.grey_closing if bright else ndimage.grey_opening
    back = np.stack([morph(s, size=(side, side), mode="nearest") for s in small])
    # Pixel centres of the shrunk plane in the full plane's coordinates (-1 .. 1 over it).
    ys = ((np.arange(hs) + 0.5) * f - 0.5) / max(h - 1, 1) * 2 - 1
    xs = ((np.arange(ws) + 0.5) * f - 0.5) / max(w - 1, 1) * 2 - 1
    # Within half a window of the edge the opening sees only one side (it bends a slope
    # there): those points are left out of the fit where enough remain.
    m = side // 2
    if hs > 2 * m + 4 and ws > 2 * m + 4 and m:
        back, ys, xs = back[:, m:-m, m:-m], ys[m:-m], xs[m:-m]
    return np.stack([_surface(b, ys, xs, bright) for b in back])


def _terms(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The six terms of a quadratic surface at points ``(y, x)`` (1-D arrays): ``(N, 6)``."""
    return np.stack([np.ones_like(y), y, x, y * y, y * x, x * x], axis=1)


def _surface(back: np.ndarray, ys, xs, bright: bool) -> np.ndarray:
    """The coefficients of a quadratic surface fitted to ``back`` (sampled at ``ys`` x ``xs``).

    Light across a field (vignetting, a tilt, a gradient) is smooth at the scale of the
    image; clusters of nuclei wider than the window leave bumps in the opening (dips in the
    closing), which the fit leaves out: it is refitted twice on the three quarters of the
    points nearest the side away from the objects (below the surface for a dark
    background). Subtracting this surface, not the opening itself, never cuts into such
    clusters.
    """
    y, x = np.meshgrid(ys, xs, indexing="ij")
    a = _terms(y.ravel(), x.ravel())
    v = back.ravel().astype(np.float64)
    keep = np.ones(v.size, bool)
    for _ in range(3):
        coef = np.linalg.lstsq(a[keep], v[keep], rcond=None)[0]
        residual = v - a @ coef
        keep = residual >= np.percentile(residual, 25) if bright else (
            residual <= np.percentile(residual, 75)
        )
    return coef


def _evaluate(coefs: np.ndarray, h: int, w: int) -> np.ndarray:
    """The surfaces ``coefs`` (``(C, 6)``) on an ``h`` x ``w`` grid spanning -1..1 (float32)."""
    y = np.linspace(-1, 1, h)[:, None]
    x = np.linspace(-1, 1, w)[None, :]
    out = []
    for c0, cy, cx, cyy, cyx, cxx in coefs:
        rows = (c0 + cy * y + cyy * y * y).astype(np.float32)
        cols = (cx * x + cxx * x * x).astype(np.float32)
        out.append(rows + cols + (cyx * y).astype(np.float32) * x.astype(np.float32))
    return np.stack(out)


def _range(plane: np.ndarray) -> float:
    """The 1-99.8 percentile span of ``plane``'s channel mean (at least a tiny positive)."""
    grey = plane.mean(axis=0) if plane.shape[0] > 1 else plane[0]
    stride = max(1, int(np.sqrt(grey.size / 1e6)))
    low, high = np.percentile(grey[::stride, ::stride], (1.0, 99.8))
    return max(float(high - low), 1e-12)


def unevenness(plane: np.ndarray, coefs: np.ndarray) -> float:
    """How much the background surface ``coefs`` (:func:`fit`) varies over ``plane``'s range.

    The span of the channels' mean surface (colour as a grey model sees it) on a coarse
    grid over the plane, over the plane's 1-99.8 percentile span. Near 0 for evenly lit
    images (under 0.21 for 99% of the DSB2018 fluorescence train images); light rising
    across the field by half the image's range reads about 0.37, by its whole range 0.6.
    """
    grey = _evaluate(np.asarray(coefs), 65, 65).mean(axis=0)
    return float(grey.max() - grey.min()) / _range(plane)


def flatten_plane(
    plane: np.ndarray, mode: str, bright: bool, window: int = 64
) -> tuple[np.ndarray, float | None]:
    """``(plane, unevenness)``: ``plane`` less its background when ``mode`` asks for it.

    ``"keep"`` returns the plane untouched (unevenness None). Otherwise the background is
    estimated (``bright``: dark objects on a bright background, found with a closing);
    ``"flatten"``, or ``"auto"`` with an unevenness above :data:`UNEVEN`, subtracts it and
    adds back its median, so the plane keeps its level (float32; a model that normalises by
    the type's range is normalised by the original plane's, :class:`Predictor`). The result
    is what the network reads; the unevenness says why.
    """
    if check_mode(mode) == "keep":
        return plane, None
    data = np.asarray(plane, np.float32)
    coefs = fit(data, bright, window)
    uneven = unevenness(data, coefs)
    if mode == "auto" and not uneven > UNEVEN:
        return plane, uneven
    back = _evaluate(coefs, *data.shape[-2:])
    level = np.median(back[:, ::8, ::8].reshape(back.shape[0], -1), axis=1)[:, None, None]
    return data - back + level, uneven


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
        where = (
            f"the background of {len(flattened)} of {n_planes} planes was uneven (up to "
            f"{top:.2f} of the image's range)"
        )
    return f"{where}: flattened before prediction ({off} predicts it as it is)"


def flattened_planes(planes, which, bright: bool | None, window: int = 64) -> np.ndarray:
    """``planes`` (``(P, C, H, W)``) with planes ``which`` flattened (float32, a copy).

    What the network read after a prediction flattened those planes (``which``: the keys of
    :attr:`~napari_unet.core.inference.plan.Predictor.flattened`); ``bright`` as the
    predictor judged it (None: per plane, :func:`plane_is_bright`).
    """
    out = np.array(planes, np.float32)
    for k in which:
        side = plane_is_bright(out[k]) if bright is None else bright
        out[k] = flatten_plane(out[k], "flatten", side, window)[0]
    return out
