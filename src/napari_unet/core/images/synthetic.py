"""Synthetic fluorescence-like images of touching cells, with exact instance labels.

Used by the ``touching_cells`` sample, the tests and the benchmarks: the ground truth is
known exactly, the generator is deterministic for a seed, and it produces what makes cell
segmentation hard: clusters of touching cells of varied size and shape, uneven
illumination, optical blur and shot noise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_unet.core.errors import InputError


def touching_cells(
    shape: tuple[int, int] = (256, 256),
    n_cells: int = 40,
    seed: int = 0,
    cluster_size: float = 5.0,
    noise: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate a synthetic image of touching cells and its instance labels.

    Cells are ellipses with wavy outlines, grouped in clusters. Where two cells
    overlap, each pixel goes to the cell whose (shape-normalised) centre is nearer, so
    neighbours share a boundary exactly as touching cells do. Each cell has its own
    brightness and dims towards its edge; the image then gets a smooth uneven
    illumination, a Gaussian point-spread blur, Poisson shot noise and read noise.

    Parameters
    ----------
    shape : tuple of int
        Image height and width in pixels.
    n_cells : int
        Number of cells to place. A few may be hidden completely by their neighbours
        and then do not appear in the labels.
    seed : int
        Random seed; the same arguments always give the same image.
    cluster_size : float
        Mean number of cells per cluster; 1 gives mostly isolated cells.
    noise : float
        Scale of the shot and read noise; 0 gives a noise-free (but blurred) image.

    Returns
    -------
    image : numpy.ndarray
        float32 image in [0, 1] of the given shape.
    labels : numpy.ndarray
        int32 instance labels, 0 background, 1..N one id per cell, consecutive.

    Raises
    ------
    InputError
        If the shape is not a (height, width) pair, is too small, or the cell count is not
        positive.
    """
    if np.ndim(shape) != 1:  # a number: before, "object of type 'int' has no len()"
        square = f": for a square image, touching_cells(({shape!r}, {shape!r}), ...)"
        raise InputError(
            f"shape must be (height, width), two numbers; got {shape!r}"
            + (square if np.ndim(shape) == 0 else "")
        )
    if len(shape) != 2 or min(shape) < 16:
        raise InputError(f"shape must be 2D and at least 16x16 pixels; got {tuple(shape)}")
    if n_cells < 1:
        raise InputError(f"n_cells must be at least 1; got {n_cells}")
    rng = np.random.default_rng(seed)
    height, width = (int(s) for s in shape)
    # Cell radius so that cells cover roughly 40% of the image (before overlaps).
    mean_radius = float(np.clip(np.sqrt(0.4 * height * width / (np.pi * n_cells)), 4.0, 40.0))
    centres = _centres(rng, (height, width), n_cells, cluster_size, mean_radius)
    labels = np.zeros((height, width), np.int32)
    nearest = np.full((height, width), np.inf, np.float32)
    for index, centre in enumerate(centres, start=1):
        _paint_cell(labels, nearest, index, centre, mean_radius, rng)
    labels = _keep_largest_fragment(labels)
    labels, nearest = _relabel(labels, nearest)
    image = _render(labels, nearest, rng, noise)
    return image, labels


def _centres(rng, shape, n_cells: int, cluster_size: float, mean_radius: float) -> np.ndarray:
    """Cell centres, ``(n_cells, 2)``, scattered around randomly placed cluster centres."""
    height, width = shape
    n_clusters = max(1, round(n_cells / max(cluster_size, 1.0)))
    margin = mean_radius
    cluster_centres = np.column_stack(
        [
            rng.uniform(margin, height - margin, n_clusters),
            rng.uniform(margin, width - margin, n_clusters),
        ]
    )
    owner = rng.integers(0, n_clusters, n_cells)
    centres = cluster_centres[owner] + rng.normal(0.0, 1.3 * mean_radius, (n_cells, 2))
    return np.clip(centres, 0, [height - 1, width - 1])


def _paint_cell(labels, nearest, index: int, centre, mean_radius: float, rng) -> None:
    """Paint one wavy ellipse as cell ``index`` where its centre is the nearest one."""
    height, width = labels.shape
    cy, cx = centre
    radius = mean_radius * rng.uniform(0.7, 1.3)
    a, b = radius * rng.uniform(1.0, 1.3), radius * rng.uniform(0.7, 1.0)
    angle = rng.uniform(0.0, np.pi)
    harmonics = [(k, rng.uniform(0.0, 0.08), rng.uniform(0.0, 2 * np.pi)) for k in (2, 3, 4)]
    reach = int(np.ceil(1.35 * a)) + 1
    y0, y1 = max(0, int(cy) - reach), min(height, int(cy) + reach + 1)
    x0, x1 = max(0, int(cx) - reach), min(width, int(cx) + reach + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / a
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / b
    phi = np.arctan2(v, u)
    outline = 1.0 + sum(amp * np.cos(k * phi + phase) for k, amp, phase in harmonics)
    dist = (np.hypot(u, v) / outline).astype(np.float32)
    window_nearest = nearest[y0:y1, x0:x1]
    win = (dist < 1.0) & (dist < window_nearest)
    window_nearest[win] = dist[win]
    labels[y0:y1, x0:x1][win] = index


def _keep_largest_fragment(labels: np.ndarray) -> np.ndarray:
    """Drop all but the largest connected piece of each cell (overlaps can split one)."""
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        own = labels[box] == index
        pieces, n = ndimage.label(own)
        if n > 1:
            sizes = np.bincount(pieces.ravel())[1:]
            labels[box][own & (pieces != 1 + int(np.argmax(sizes)))] = 0
    return labels


def _relabel(labels: np.ndarray, nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make ids consecutive (hidden cells vanish) and clear distances outside cells."""
    present = np.unique(labels)
    lookup = np.zeros(int(labels.max()) + 1, np.int32)
    lookup[present] = np.arange(len(present), dtype=np.int32)
    labels = lookup[labels]
    nearest = np.where(labels > 0, nearest, np.float32(1.0))
    return labels, nearest


def _render(
    labels: np.ndarray, nearest: np.ndarray, rng: np.random.Generator, noise: float
) -> np.ndarray:
    """Turn labels into a fluorescence-like image."""
    height, width = labels.shape
    n = int(labels.max())
    brightness = np.concatenate([[0.0], rng.uniform(0.45, 1.0, n)]).astype(np.float32)
    # Bright centre, dimmer rim: touching cells meet along a darker seam.
    profile = 0.65 + 0.35 * np.sqrt(np.clip(1.0 - nearest**2, 0.0, 1.0))
    signal = brightness[labels] * profile
    # Fine texture inside cells (chromatin-like), smoothed white noise.
    texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, labels.shape), 1.5)
    texture /= max(float(texture.std()), 1e-6)
    signal = signal * (1.0 + 0.08 * texture) * (labels > 0)
    # Uneven illumination: a tilted plane times a broad vignetting blob.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tilt = rng.uniform(-0.3, 0.3, 2)
    plane = 1.0 + tilt[0] * (yy / height - 0.5) + tilt[1] * (xx / width - 0.5)
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.8 * max(height, width)) ** 2))
    illumination = plane * (0.55 + 0.45 * blob)
    image = ndimage.gaussian_filter((signal + 0.06) * illumination, 1.2)
    if noise > 0:
        photons = 120.0 / noise
        image = rng.poisson(np.clip(image, 0, None) * photons) / photons
        image = image + rng.normal(0.0, 0.012 * noise, image.shape)
    image = image - image.min()
    image = image / max(float(image.max()), 1e-6)
    return image.astype(np.float32)
