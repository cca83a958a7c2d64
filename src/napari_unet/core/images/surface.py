"""The smooth surface of light under an image's objects (the arithmetic of background.py).

:func:`fit` finds it: a grey *opening* (for a dark background; a *closing* for a bright
one, where the objects are dark) with a window wider than an object removes the objects and
keeps the light, the rolling-ball idea of ImageJ with a square. It runs on the plane shrunk
:data:`FACTOR` times by local means (steadier than single pixels under noise; one pass
over the plane, no full-size copy); its clear outliers on the background's side (NoData
pixels such as -32768) are taken out first (:func:`_clipped`). A cluster of objects wider
than the window survives it, so a quadratic surface is fitted to it with such bumps left
out (:func:`_coefficients`).
:func:`evaluate` gives the surface on any window of the plane's pixel grid (the same values
whatever the window: a region of a plane is flattened exactly as the whole plane is).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FACTOR", "evaluate", "fit"]

#: The surface is fitted to the plane shrunk this many times (more for a plane larger than
#: :data:`SMALL_SIDE` squared times that: the shrunk plane stays about that size).
FACTOR = 4
SMALL_SIDE = 1024
#: At most about this many points of the shrunk plane are fitted (a regular subsample).
FIT_POINTS = 1 << 17
#: A shrunk pixel further than this many times the 1-50 percentile spread below the 1st
#: percentile (above the 99th on a bright background) is an outlier (see :func:`_clipped`).
OUTLIER_SPREAD = 3.0


def fit(plane, bright: bool, window: int = 64) -> np.ndarray:
    """Coefficients ``(C, 6)`` (float64) of the light under ``plane`` (``(C, H, W)``).

    In coordinates running from -1 to 1 across the plane (see :func:`evaluate`). An axis
    shorter than two windows (or three shrunk pixels: a strip of an image) gets no terms
    along it: the surface is then constant that way, not a curve bent by a fit it cannot
    determine.
    """
    from scipy import ndimage

    c, h, w = (int(s) for s in np.shape(plane))
    big = math.ceil(math.sqrt(h * w) / SMALL_SIDE)  # a large plane shrinks more
    f = max(1, min(max(FACTOR, big), h // 8, w // 8))
    small = _clipped(_shrunk(plane, f), bright)
    hs, ws = small.shape[-2:]
    side = max(1, window // f)
    morph = ndimage.grey_closing if bright else ndimage.grey_opening
    back = np.stack([morph(s, size=(side, side), mode="nearest") for s in small])
    # Block centres in the full plane's coordinates (-1 .. 1 across it).
    ys = ((np.arange(hs) + 0.5) * f - 0.5) / max(h - 1, 1) * 2 - 1
    xs = ((np.arange(ws) + 0.5) * f - 0.5) / max(w - 1, 1) * 2 - 1
    # Within half a window of the edge the opening sees only one side (it bends a slope
    # there): those points are left out of the fit where enough remain.
    m = side // 2
    if hs > 2 * m + 4 and ws > 2 * m + 4 and m:
        back, ys, xs = back[:, m:-m, m:-m], ys[m:-m], xs[m:-m]
    step = math.ceil(math.sqrt(len(ys) * len(xs) / FIT_POINTS))  # a smooth surface
    back, ys, xs = back[:, ::step, ::step], ys[::step], xs[::step]
    # Light that varies across the field is told from objects only over a few windows: a
    # plane less than two windows long gets no terms that way (pure noise 85 px across
    # read as uneven light, 0.35 to 0.63 of its range; from two windows on, at most 0.2).
    # Three windows left the light in images predicted at about 180 px (a 360 px image of
    # small nuclei, shrunk to the model's object size).
    along = (hs >= 2 * side, ws >= 2 * side)
    return np.stack([_coefficients(b, ys, xs, bright, along) for b in back])


def _shrunk(plane, f: int) -> np.ndarray:
    """``plane`` shrunk ``f`` times by block means (float64; a last partial block dropped)."""
    c, h, w = (int(s) for s in np.shape(plane))
    hs, ws = max(h // f, 1), max(w // f, 1)
    fy, fx = min(f, h), min(f, w)
    rows = np.asarray(plane[:, : hs * fy])  # a view of a numpy plane: no copy
    summed = np.add.reduce(rows.reshape(c, hs, fy, w), axis=2, dtype=np.float64)
    summed = summed[:, :, : ws * fx].reshape(c, hs, ws, fx).sum(axis=-1)
    return summed / (fy * fx)


def _clipped(small: np.ndarray, bright: bool) -> np.ndarray:
    """``small`` (``(C, h, w)``) with its outliers on the background's side taken out.

    The opening keeps a pit as deep as it is (the closing a peak) and the fit keeps the
    points on that side: a few NoData pixels (-32768, -9999) read as light falling by
    thousands. Shrunk pixels beyond :data:`OUTLIER_SPREAD` times the 1-50 percentile
    spread past the 1st percentile (the 99th on a bright background) get the median of
    their 5 x 5 neighbourhood, the light around them (a percentile of the whole plane, or
    the bound itself, still bent the fit under uneven light), and no more than that bound.
    A plane without such outliers is returned as it was: its surface is exactly as before.
    """
    from scipy import ndimage

    edge, middle = np.percentile(small.reshape(len(small), -1), (99 if bright else 1, 50), 1)
    bound = (edge + OUTLIER_SPREAD * (edge - middle))[:, None, None]
    beyond = small > bound if bright else small < bound
    if not beyond.any():
        return small
    local = np.stack([ndimage.median_filter(s, size=5, mode="nearest") for s in small])
    local = np.minimum(local, bound) if bright else np.maximum(local, bound)
    return np.where(beyond, local, small)


def _terms(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The six terms of a quadratic surface at points ``(y, x)`` (1-D arrays): ``(N, 6)``."""
    return np.stack([np.ones_like(y), y, x, y * y, y * x, x * x], axis=1)


def _coefficients(back: np.ndarray, ys, xs, bright: bool, along=(True, True)) -> np.ndarray:
    """The coefficients of a quadratic surface fitted to ``back`` (sampled at ``ys`` x ``xs``).

    Light across a field (vignetting, a tilt, a gradient) is smooth at the scale of the
    image; clusters of objects wider than the window leave bumps in the opening (dips in
    the closing), which the fit leaves out: it is refitted twice on the three quarters of
    the points nearest the side away from the objects (below the surface for a dark
    background). Subtracting this surface, not the opening itself, never cuts into such
    clusters.
    """
    along_y, along_x = len(ys) >= 3 and along[0], len(xs) >= 3 and along[1]
    used = [True, along_y, along_x, along_y, along_y and along_x, along_x]
    y, x = np.meshgrid(ys, xs, indexing="ij")
    a = _terms(y.ravel(), x.ravel())[:, used]
    v = back.ravel().astype(np.float64)
    keep = np.ones(v.size, bool)
    for _ in range(3):
        coef = np.linalg.lstsq(a[keep], v[keep], rcond=None)[0]
        residual = v - a @ coef
        keep = (
            residual >= np.percentile(residual, 25)
            if bright
            else (residual <= np.percentile(residual, 75))
        )
    full = np.zeros(6)
    full[used] = coef
    return full


def evaluate(coefs, shape, rows=slice(None), cols=slice(None), dtype=np.float32) -> np.ndarray:
    """The surfaces ``coefs`` (``(C, 6)``) at ``rows`` x ``cols`` of a plane of ``shape``.

    ``rows`` and ``cols`` are slices of the plane's pixel grid (-1 .. 1 across it); the
    values of a pixel do not depend on the window asked for. ``dtype``: float32, or
    float64 for pixels float32 cannot hold exactly (a 32-bit camera offset).
    """
    y = np.linspace(-1, 1, shape[0])[rows][:, None]
    x = np.linspace(-1, 1, shape[1])[cols][None, :]
    out = []
    for c0, cy, cx, cyy, cyx, cxx in np.asarray(coefs, np.float64):
        down = (c0 + cy * y + cyy * y * y).astype(dtype)
        across = (cx * x + cxx * x * x).astype(dtype)
        out.append(down + across + (cyx * y).astype(dtype) * x.astype(dtype))
    return np.stack(out)
