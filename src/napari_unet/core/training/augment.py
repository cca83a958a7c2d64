"""Crop sampling grids with augmentation, applied identically to image, target and weights.

One crop and all its geometric augmentations are a single *sampling grid*: for every pixel
of the crop, the (row, column) position in the source image to read. The grid is the crop
origin plus an identity grid, turned by a random 90-degree rotation and flip (the eight
symmetries of the square) and displaced by the paper's elastic deformation: random
displacements on a coarse 3x3 grid with 10 px standard deviation, interpolated smoothly
(cubic spline) to every pixel. The same grid then resamples the image (cubic), the weight
map (linear) and the target (nearest), so labels stay aligned with the image; the mirror
boundary mode extends images smaller than a crop and crops at the border, as in the paper.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import numpy as np

from napari_unet.core.errors import InputError

#: The settings that imitate a worse microscope (all 0, off, by default).
DEGRADING = ("shot", "blur", "shading")

#: The degrading settings of a model meant to hold up on worse images than its training
#: images (``napari-unet train --robust``, ``scripts/train_nuclei.py --robust``): a blur up
#: to sigma 2 px, light rising by up to 1.5 across a crop, shot noise up to 0.5 at a value of
#: 1 and read-out noise up to 0.15 (normalised units: the image's 1st percentile is 0, its
#: 99.8th is 1).
ROBUST = {"blur": 2.0, "shading": 1.5, "shot": 0.5, "noise": 0.15}

#: :func:`draw_intensity`'s neutral draws: gamma, gain, offset, noise, shot, blur, and the
#: shading's rise and direction (radians).
NEUTRAL = (1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply, and how strongly.

    Parameters
    ----------
    elastic : bool
        Elastic deformation (random displacements on a coarse grid, smooth interpolation).
    elastic_std : float
        Standard deviation of the coarse displacements, in pixels (10 in the paper).
    elastic_grid : int
        Points per side of the coarse displacement grid (3 in the paper).
    flips : bool
        Random horizontal flip (with ``rot90``: all eight symmetries of the square).
    rot90 : bool
        Random rotation by a multiple of 90 degrees.
    gain : float
        Intensity gain drawn from ``U(1 - gain, 1 + gain)``.
    offset : float
        Intensity offset drawn from ``U(-offset, offset)`` (normalised units).
    gamma : float
        Gamma drawn from ``exp(U(-gamma, gamma))``, applied to the crop's own range.
    noise : float
        Gaussian noise with a standard deviation drawn from ``U(0, noise)``.
    shot : float
        Signal-dependent noise, as a camera's photon (shot) noise: Gaussian with a standard
        deviation of ``s * sqrt(max(x, 0))`` at a pixel of value ``x``, ``s`` drawn from
        ``U(0, shot)``; 0 (the default) adds none.
    blur : float
        Gaussian blur (out of focus), its sigma in pixels drawn from ``U(0, blur)``; 0 (the
        default) none.
    shading : float
        Uneven illumination: a plane of random direction added to the crop, rising by a
        value drawn from ``U(0, shading)`` (normalised units) from one side of the crop to
        the other; 0 (the default) none.
    scale : float
        Random zoom: objects appear ``f`` times their size, ``f`` drawn log-uniformly from
        ``[1 / (1 + scale), 1 + scale]``; 0 (the default) keeps the image's own scale. It
        teaches a network nuclei larger and smaller than those it was shown.
    """

    elastic: bool = True
    elastic_std: float = 10.0
    elastic_grid: int = 3
    flips: bool = True
    rot90: bool = True
    gain: float = 0.2
    offset: float = 0.1
    gamma: float = 0.3
    noise: float = 0.03
    scale: float = 0.0
    shot: float = 0.0
    blur: float = 0.0
    shading: float = 0.0

    def __post_init__(self) -> None:
        for f in ("elastic_std", "gain", "offset", "gamma", "noise", "scale", *DEGRADING):
            v = getattr(self, f)
            if not isinstance(v, int | float) or not 0 <= v < float("inf"):  # NaN, inf too
                raise InputError(f"augmentation setting {f} must be a number >= 0, got {v!r}")
        if self.gain >= 1:
            raise InputError(f"augmentation gain must be below 1, got {self.gain}")
        if not isinstance(self.elastic_grid, int) or self.elastic_grid < 2:
            raise InputError(f"elastic_grid must be an integer >= 2, got {self.elastic_grid!r}")

    def to_dict(self) -> dict:
        """JSON-able settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> AugmentConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        if d is None:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(
                f"unknown augmentation setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return cls(**d)


#: No augmentation at all (validation).
NO_AUGMENT = AugmentConfig(
    elastic=False, flips=False, rot90=False, gain=0.0, offset=0.0, gamma=0.0, noise=0.0
)


@functools.lru_cache(maxsize=32)
def _upsampling_matrix(size: int, grid: int) -> np.ndarray:
    """``(size, grid)`` cubic-spline interpolation weights from ``grid`` points to ``size``.

    Spline interpolation on a regular lattice is a tensor product, so a coarse field ``C``
    upsamples to ``W @ C @ W.T``: two small matrix products instead of a 2D spline
    evaluation at every pixel (20x cheaper for a 128 px crop, same values).
    """
    from scipy import ndimage

    t = np.linspace(0.0, grid - 1.0, size)
    eye = np.eye(grid)
    return np.stack(
        [ndimage.map_coordinates(eye[i], [t], order=3, mode="nearest") for i in range(grid)],
        axis=1,
    )


def elastic_field(size: int, std: float, grid: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random displacement field of shape ``(2, size, size)``.

    Displacements drawn from ``N(0, std)`` on a ``grid x grid`` lattice spanning the crop
    are interpolated to every pixel by a cubic spline (the paper's bicubic interpolation).
    """
    coarse = rng.normal(0.0, std, size=(2, grid, grid))
    w = _upsampling_matrix(size, grid)
    return np.stack([w @ c @ w.T for c in coarse])


@dataclass(frozen=True)
class Geometry:
    """The random geometric draws of one crop (see :func:`draw_geometry`).

    ``quarter_turns`` rotations by 90 degrees, then a mirror of the columns when ``flip``,
    then a zoom by ``zoom``; ``coarse`` is the ``(2, g, g)`` elastic lattice or None.
    """

    quarter_turns: int = 0
    flip: bool = False
    zoom: float = 1.0
    coarse: np.ndarray | None = None

    def matrix(self) -> np.ndarray:
        """The 2x2 map of crop offsets ``(row, col)`` to source offsets (no elastic part)."""
        m = np.eye(2)
        turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # (u, v) -> (-v, u)
        for _ in range(self.quarter_turns):
            m = turn @ m
        if self.flip:
            m = np.diag([1.0, -1.0]) @ m
        return m / self.zoom


def draw_geometry(config: AugmentConfig, rng: np.random.Generator) -> Geometry:
    """Draw a crop's rotation, flip, zoom and elastic lattice (the order is fixed)."""
    turns = int(rng.integers(4)) if config.rot90 else 0
    flip = bool(config.flips and rng.random() < 0.5)
    zoom = 1.0
    if config.scale > 0:  # drawn only when asked, so other settings keep their sequences
        zoom = float(np.exp(rng.uniform(-np.log1p(config.scale), np.log1p(config.scale))))
    coarse = None
    if config.elastic and config.elastic_std > 0:
        g = config.elastic_grid
        coarse = rng.normal(0.0, config.elastic_std, size=(2, g, g))
    return Geometry(turns, flip, zoom, coarse)


def sampling_grid(
    top_left: tuple[float, float],
    size: int,
    config: AugmentConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Source coordinates of a ``size x size`` crop, with geometric augmentation.

    Parameters
    ----------
    top_left : (float, float)
        Row and column of the crop's first pixel before augmentation.
    size : int
        Crop side in pixels.
    config : AugmentConfig
        Geometric settings used: ``rot90``, ``flips``, ``scale``, ``elastic*``.
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    numpy.ndarray
        ``(2, size, size)`` float array of source rows and columns. Rotations, flips and
        zoom turn and scale the crop about its centre, so without elastic deformation and
        zoom the grid stays on whole pixels (no interpolation blur).
    """
    geo = draw_geometry(config, rng)
    half = (size - 1) / 2.0
    off = np.arange(size, dtype=np.float64) - half
    u, v = np.meshgrid(off, off, indexing="ij")
    for _ in range(geo.quarter_turns):
        u, v = -v, u
    if geo.flip:
        v = -v
    if geo.zoom != 1.0:
        u, v = u / geo.zoom, v / geo.zoom
    grid = np.stack([u + top_left[0] + half, v + top_left[1] + half])
    if geo.coarse is not None:
        w = _upsampling_matrix(size, config.elastic_grid)
        grid += np.stack([w @ c @ w.T for c in geo.coarse])
    return grid


def prefilter(image: np.ndarray) -> np.ndarray:
    """Cubic spline coefficients of each channel of a ``(C, H, W)`` image (mirror mode).

    Computed once per training image so each crop interpolates without re-filtering the
    whole image (``map_coordinates`` would otherwise prefilter the full image per call).
    """
    from scipy import ndimage

    return np.stack(
        [ndimage.spline_filter(c, order=3, mode="mirror", output=np.float32) for c in image]
    )


def resample(
    array: np.ndarray, grid: np.ndarray, order: int, prefiltered: bool = False
) -> np.ndarray:
    """Read ``array`` (2D, or ``(C, H, W)``) at the positions of ``grid`` (mirror mode).

    Parameters
    ----------
    array : numpy.ndarray
        The source; for ``order=3`` with ``prefiltered=True`` the spline coefficients from
        :func:`prefilter`.
    grid : numpy.ndarray
        ``(2, h, w)`` source coordinates (from :func:`sampling_grid`).
    order : int
        0 nearest (labels, targets), 1 linear (weights), 3 cubic (images).
    prefiltered : bool
        ``array`` already holds spline coefficients.
    """
    from scipy import ndimage

    if array.ndim == 3:
        return np.stack([resample(c, grid, order, prefiltered) for c in array])
    out_dtype = array.dtype if order == 0 else np.float32
    return ndimage.map_coordinates(
        array, grid, order=order, mode="mirror", prefilter=not prefiltered, output=out_dtype
    )


def draw_intensity(config: AugmentConfig, rng: np.random.Generator) -> tuple:
    """Draw a crop's intensity changes: :data:`NEUTRAL`'s eight values, neutral when off.

    The degrading settings (:data:`DEGRADING`) draw only when on, so the other settings keep
    their random sequences.
    """
    g = float(np.exp(rng.uniform(-config.gamma, config.gamma))) if config.gamma > 0 else 1.0
    gain = float(rng.uniform(1 - config.gain, 1 + config.gain)) if config.gain > 0 else 1.0
    offset = float(rng.uniform(-config.offset, config.offset)) if config.offset > 0 else 0.0
    noise = float(rng.uniform(0, config.noise)) if config.noise > 0 else 0.0
    shot = float(rng.uniform(0, config.shot)) if config.shot > 0 else 0.0
    blur = float(rng.uniform(0, config.blur)) if config.blur > 0 else 0.0
    rise, angle = 0.0, 0.0
    if config.shading > 0:
        rise = float(rng.uniform(0, config.shading))
        angle = float(rng.uniform(0, 2 * np.pi))
    return g, gain, offset, noise, shot, blur, rise, angle


def shading_plane(size: tuple[int, int], rise: float, angle: float) -> np.ndarray:
    """A plane over a ``size`` crop rising by ``rise`` across it in direction ``angle``.

    Centred on 0, so the crop's mean level stays: along a side in the plane's direction it
    runs from -rise/2 to +rise/2 (a diagonal direction rises further corner to corner).
    """
    rows = (np.arange(size[0], dtype=np.float32) + 0.5) / size[0] - 0.5
    cols = (np.arange(size[1], dtype=np.float32) + 0.5) / size[1] - 0.5
    return rise * (np.sin(angle) * rows[:, None] + np.cos(angle) * cols[None, :])


def augment_intensity(
    image: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """Random blur, gamma, gain, offset, shading and noise on a normalised ``(C, h, w)`` crop.

    In that order: the blur is the optics, the gamma, gain, offset and shading the sample and
    its illumination, the noise (shot, then read-out) the camera.
    """
    out = image.astype(np.float32, copy=True)
    g, gain, offset, noise, shot, blur, rise, angle = draw_intensity(config, rng)
    if blur > 0:
        from scipy import ndimage

        out = np.stack([ndimage.gaussian_filter(c, blur, mode="mirror") for c in out])
    if config.gamma > 0:
        lo, hi = float(out.min()), float(out.max())
        if hi > lo:
            out = lo + (hi - lo) * ((out - lo) / (hi - lo)) ** g
    if config.gain > 0:
        out *= gain
    if config.offset > 0:
        out += offset
    if rise > 0:
        out += shading_plane(out.shape[-2:], rise, angle)
    if config.shot > 0:
        out += shot * np.sqrt(np.maximum(out, 0)) * rng.normal(size=out.shape).astype(np.float32)
    if config.noise > 0:
        out += rng.normal(0.0, noise, size=out.shape).astype(np.float32)
    return out.astype(np.float32, copy=False)
