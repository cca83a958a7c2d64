"""Few photons: find a photon-limited plane and smooth it a little before prediction.

A dim sample on a photon-counting detector (a confocal's hybrid detector in counting mode,
an EMCCD) or a short exposure on a camera records only a few photons per pixel at its
brightest: every nucleus is speckled with pixels that caught none, and the built-in
fluorescence model breaks such nuclei into fragments (20 DSB2018 fluorescence test images at
5 photons at their brightest: AP50 0.27, against 0.85 as recorded). A Gaussian blur of half
a pixel fills the speckle in and brings them back to 0.79 (docs/predict.md, "Few photons").

Photon noise grows with the signal (its variance is proportional to the mean; a camera
adds a gain and an offset), while read-out noise and texture do not. :func:`photon_count`
fits the noise variance of 2 x 2 blocks (their diagonal Haar coefficient, robustly per
intensity bin) against their mean: the slope is the gain (grey levels per photon), and the
plane's range (its 1-99.8 percentile span) over the gain is the number of photons its
brightest pixels caught. Every one of the 529 DSB2018 train and validation images, as
recorded, counts 340 or more; 26 of them at 3 to 30 photons count 6 to 70; with
Gaussian read-out noise of 15% of the range (not photon noise, and a blur makes it worse)
200 or more. ``"auto"`` smooths only below :data:`FEW_PHOTONS`, so every other image is
predicted exactly as before.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["FEW_PHOTONS", "MODES", "check_mode", "denoised", "describe_denoised",
           "float_spec", "photon_count", "prepared", "sigma_for"]  # fmt: skip

#: What prediction does about a photon-limited plane: smooth it when found, or never.
MODES = ("auto", "off")
#: Photons at the bright end below which ``"auto"`` smooths by :data:`SIGMA` pixels, and
#: below which by :data:`SIGMA_FEWEST` (chosen on 16 validation and 10 train images of
#: DSB2018 fluorescence at 3 to 30 photons; the counts are about 1.5 times the photons).
FEW_PHOTONS, FEWEST = 40.0, 6.0
SIGMA, SIGMA_FEWEST = 0.5, 1.0
#: Blocks sampled for the estimate (a regular grid of 2 x 2 blocks beyond this).
MAX_BLOCKS = 1 << 20
_BINS = 20
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_mode(mode) -> str:
    """``mode`` if it is one of :data:`MODES`, else InputError."""
    if mode not in MODES:
        raise InputError(f"denoise must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def photon_count(plane) -> float:
    """Photons caught by the brightest pixels of ``plane`` (``(C, H, W)`` or ``(H, W)``).

    The 1-99.8 percentile span of the channels' mean over the gain fitted from its noise
    (see the module's text); ``inf`` when the noise does not grow with the signal (no
    photon noise found, or a plane too small or flat to tell). A margin of constant padding
    (a registration's black border) is left out, and so are blocks whose detail is far
    above the brightest blocks' noise (hot pixels, cosmic rays): before, a border's zeros
    and 20 hot pixels in 90,000 each hid a plane of 5 photons. Values beyond float32 count
    ``inf`` too (prediction refuses them; before, an OverflowError for values over 1e154).
    """
    plane = np.asarray(plane)
    plane = plane[None] if plane.ndim == 2 else plane
    plane = _inside(plane)
    h, w = plane.shape[-2] // 2 * 2, plane.shape[-1] // 2 * 2
    if h * w < 4 * 64 * _BINS:
        return float("inf")
    step = max(1, int(np.ceil(np.sqrt(h * w / 4 / MAX_BLOCKS))))
    rows, cols = np.arange(0, h, 2 * step), np.arange(0, w, 2 * step)

    def corner(dy: int, dx: int) -> np.ndarray:  # one pixel of every sampled block
        found = plane[:, rows[:, None] + dy, cols[None, :] + dx]
        return found.mean(axis=0, dtype=np.float64).ravel()

    a, b, c, d = corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1)
    # Not finite, or beyond float32 (its square overflowed): check_pixels refuses the plane.
    if not all(np.isfinite(x).all() and np.abs(x).max() <= _FLOAT32_MAX for x in (a, b, c, d)):
        return float("inf")
    mean, detail = (a + b + c + d) / 4, np.abs(a - b - c + d) / 2
    # Outliers: detail beyond 8 times the noise of the brightest tenth of the blocks.
    top = np.argsort(mean, kind="stable")[-max(1, mean.size // 10) :]
    usual = detail <= 8 * _sigma(detail[top]) + 1e-12
    if usual.sum() < 64 * _BINS:
        return float("inf")
    mean, detail = mean[usual], detail[usual]
    lo, hi = np.percentile(np.concatenate([a[usual], b[usual], c[usual], d[usual]]), (1, 99.8))
    if not hi > lo:
        return float("inf")
    bins = np.array_split(np.argsort(mean, kind="stable"), _BINS)
    level = np.array([np.median(mean[i]) for i in bins]) - lo
    variance = np.array([_sigma(detail[i]) ** 2 for i in bins])
    # Photon noise grows with the light: the brightest blocks vary at least twice as much as
    # the darkest (a plane of uniform random values, whose noise does not, counted 2).
    if not variance[-3:].mean() >= 2 * variance[:3].mean():
        return float("inf")
    fit = np.linalg.lstsq(np.stack([np.ones_like(level), level], 1), variance, rcond=None)
    gain = float(fit[0][1])
    return float((hi - lo) / gain) if gain > 0 else float("inf")


def _sigma(detail: np.ndarray) -> float:
    """The noise of blocks from their diagonal detail (robust: their median).

    The median of a Gaussian's absolute value is 0.6745 of its standard deviation.
    """
    return float(np.median(detail)) / 0.6745 if detail.size else 0.0


def _inside(plane: np.ndarray) -> np.ndarray:
    """``plane`` (``(C, H, W)``) without a margin of constant padding on its sides."""
    from napari_unet.core.images.contrast import constant_margin

    found = constant_margin(plane[0], one_value=True) if plane.shape[-2] > 2 else None
    if found is None:
        return plane
    top, bottom, left, right = found
    return plane[:, top : plane.shape[-2] - bottom, left : plane.shape[-1] - right]


def sigma_for(count: float) -> float:
    """The blur (pixels) ``"auto"`` gives a plane whose bright end caught ``count`` photons."""
    if count < FEWEST:
        return SIGMA_FEWEST
    return SIGMA if count < FEW_PHOTONS else 0.0


def denoised(plane, mode: str = "auto") -> tuple[np.ndarray, float]:
    """``plane`` (``(C, H, W)`` or ``(H, W)``) with its photon-limited channels blurred.

    ``mode`` ``"auto"``: each channel is counted (:func:`photon_count`) and blurred by
    :func:`sigma_for` its count (a dim channel beside bright ones too); ``"off"``: nothing.
    Returns the plane and the largest blur. A blurred plane is a float32 copy (a Gaussian
    over rows and columns); otherwise ``plane`` itself comes back, with a blur of 0.
    Prediction and training call it alike (:func:`napari_unet.make_pairs` keeps the
    blurred plane as a pair's pixels), so a model trained on photon-limited images reads
    them as it learnt them; :func:`float_spec` says how to normalise the float copy.
    """
    if mode != "auto" or not isinstance(plane, np.ndarray):
        return plane, 0.0
    channels = plane[None] if plane.ndim == 2 else plane.reshape(-1, *plane.shape[-2:])
    sigmas = [sigma_for(photon_count(channel)) for channel in channels]
    if not any(sigmas):
        return plane, 0.0
    from scipy import ndimage

    out = channels.astype(np.float32)
    for k, sigma in enumerate(sigmas):
        if sigma:
            out[k] = ndimage.gaussian_filter(out[k], sigma, mode="reflect")
    return out.reshape(plane.shape), max(sigmas)


def prepared(plane, spec: dict, mode: str = "auto") -> tuple[np.ndarray, dict, float]:
    """``plane`` as the network reads it, the normalisation that reads it, and the blur.

    :func:`denoised`, then :func:`float_spec` for a blurred copy: one rule for prediction
    (the Predictor), training pairs and live training.
    """
    out, blur = denoised(plane, mode)
    return out, (float_spec(spec, plane.dtype) if blur else spec), blur


def float_spec(spec: dict, dtype) -> dict:
    """The normalisation of a float32 copy of planes of ``dtype`` that gives the original's.

    ``dtype`` normalisation divides integers by their type's maximum; the copy (blurred or
    resized) is float32, so it gets that maximum as a fixed range instead (before, a
    blurred uint8 plane was read as 0-255 where the network expects 0-1).
    """
    dtype = np.dtype(dtype)
    if spec.get("method") == "dtype" and np.issubdtype(dtype, np.integer):
        return {"method": "fixed", "min": 0.0, "max": float(np.iinfo(dtype).max)}
    return spec


def describe_denoised(denoised: dict, n_planes: int = 1, off: str = "denoise='off'") -> str | None:
    """What a prediction did about few photons, in one sentence (None: nothing).

    ``denoised`` maps plane index -> blur in pixels, as
    :attr:`~napari_unet.core.inference.plan.Predictor.denoised` records it; ``off`` is the
    setting that turns it off, as the caller names it.
    """
    if not denoised:
        return None
    top = max(denoised.values())
    if n_planes <= 1:
        where = "the image caught few photons (photon noise)"
    else:
        where = f"{len(denoised)} of {n_planes} planes caught few photons (photon noise)"
    return f"{where}: blurred by {top:g} px before prediction ({off} predicts it as it is)"
