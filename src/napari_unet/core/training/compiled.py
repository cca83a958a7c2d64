"""Border distances compiled with numba (optional): exact, linear in the pixels, no windows.

:func:`napari_unet.core.training.distances.border_distances` uses this module when numba is
installed (the ``fast`` extra) and the cut-off is short; otherwise it falls back to SciPy's
distance transform over one window per cell. Both give the same numbers (the tests compare
them with the brute force).

The transform is separable, like any squared Euclidean distance, but it keeps the *two
nearest distinct cells* instead of one:

1. **Columns.** For each pixel, the two nearest distinct cells in its own column (vertical
   offset at most ``reach``), found by one scan down and one scan up per column.
2. **Rows.** ``d1^2(y, x) = min over x' of (x - x')^2 + g1(y, x')``, and ``d2^2`` the same
   over the best candidate of column ``x'`` whose cell differs from the nearest cell of
   ``(y, x)``: the column's first if its cell differs, else its second. Offsets run to
   ``reach`` on each side.

Keeping two per column is exact: a cell that is not among the two nearest in column ``x'``
is beaten there by two other cells, and so at every pixel that reads column ``x'``. Squared
distance and cell id are packed into one integer key (distance in the high bits) so the row
sweeps are plain minimums that the compiler vectorises; int32 keys where the bits fit
(``reach`` up to about 40 with up to 2^18 cells), int64 otherwise.

Hand-written because neither SciPy nor scikit-image computes distances to the second-nearest
*distinct* object; the functions release the GIL, and threads take bands of columns or rows.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings

import numpy as np

from napari_unet.core.device import cpu_workers, thread_map
from napari_unet.core.training import kernels

# Longest cut-off served here: the row sweeps cost 4 * reach operations per pixel, so beyond
# this the windowed SciPy transform is cheaper.
MAX_REACH = 96


@functools.cache
def _numba():
    """The numba module, imported on first use (0.4 s), or None where it is missing or broken."""
    try:
        import numba
    except Exception:  # noqa: BLE001 - missing, or built for another numpy: SciPy does the work
        return None
    return numba


# Smallest image (pixels) that takes the compiled path by default. Below it SciPy's windows
# take a few tens of milliseconds, while the first compiled call of a process costs 0.4-0.9 s
# (importing numba and loading its cached kernels; a few seconds the first time on a machine).
MIN_PIXELS = 1 << 20


def available() -> bool:
    """Whether the compiled path can run (numba importable, working, and not turned off)."""
    setting = os.environ.get("NAPARI_UNET_NUMBA", "")
    return setting != "0" and _STATE["broken"] is None and _numba() is not None


def wanted(pixels: int) -> bool:
    """Whether an image of ``pixels`` pixels takes the compiled path.

    ``NAPARI_UNET_NUMBA=0`` never (benchmarks compare the two paths that way), ``=1`` always
    where numba is installed; unset, images of at least :data:`MIN_PIXELS` (1 megapixel).
    """
    if not available():
        return False
    return os.environ.get("NAPARI_UNET_NUMBA", "") == "1" or pixels >= MIN_PIXELS


_COMPILE_LOCK = threading.Lock()
_STATE: dict = {"compiled": False, "broken": None}
_KERNELS = ("push", "sweep", "column_kernel", "row_kernel", "term_kernel")


def ready() -> bool:
    """Compile the kernels (once per process); False, with a warning, where numba cannot.

    The functions of :mod:`~napari_unet.core.training.kernels` are swapped for numba's
    compiled versions, helpers first (the kernels look them up when they are compiled).
    numba compiles on the first call on a machine and caches the result on disk (next to the
    kernels' file, or in the user's cache folder where the package folder is read-only);
    where no folder is writable it compiles without the disk cache. A run on a tiny image
    compiles them now, so that a numba that fails here fails once, and the callers fall back
    to SciPy, rather than in the middle of a weight map.
    """
    with _COMPILE_LOCK:
        if _STATE["compiled"]:
            return True
        if _STATE["broken"] is not None or _numba() is None:
            return False
        numba = _numba()
        originals = {name: getattr(kernels, name) for name in _KERNELS}

        def jit(function, **options):
            try:
                return numba.njit(cache=True, nogil=True, **options)(function)
            except RuntimeError:  # no writable cache folder
                return numba.njit(nogil=True, **options)(function)

        try:
            for name in _KERNELS:
                options = {"inline": "always"} if name == "push" else {}
                setattr(kernels, name, jit(originals[name], **options))
            _warm_up()
        except Exception as error:  # noqa: BLE001 - any failure of numba means: use SciPy
            for name, function in originals.items():
                setattr(kernels, name, function)
            _STATE["broken"] = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"numba could not compile the weight-map kernels ({_STATE['broken']}); "
                "weight maps are computed with SciPy instead (same results, about 3x slower)",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
        _STATE["compiled"] = True
        return True


def _warm_up() -> None:
    """Run every kernel once on a 2 x 3 image (compiling the int32-key versions)."""
    labels = np.array([[1, 0, 2], [0, 0, 2]], np.int32)
    label_bits, big, dtype = _key_layout(1, 2)
    first, second = np.empty((2, 3), dtype), np.empty((2, 3), dtype)
    kernels.column_kernel(labels, 1, label_bits, big, first, second, 0, 3)
    sq = np.empty((2, 3), np.int32)
    kernels.row_kernel(first, second, 1, label_bits, sq, sq.copy(), 0, 2)
    weights = np.ones((2, 3), np.float32)
    outside, target = labels == 0, (labels > 0).astype(np.uint8)
    kernels.term_kernel(
        first, second, 1, 0, label_bits, outside, target, np.ones(2), 1.0, 0.5, 1.5, weights, 0, 2
    )


def _key_layout(reach: int, top: int) -> tuple[int, int, type]:
    """``(label_bits, big, dtype)``: the bits of the cell id, the "no cell" distance, the type.

    Distances in the keys reach ``2 reach^2`` (column plus row offset); "no cell" is
    ``big = 2 reach^2 + 1`` and a row offset may still be added to it.
    """
    big = 2 * reach * reach + 1
    label_bits = max(1, int(top).bit_length())
    value_bits = (big + reach * reach).bit_length()
    dtype = np.int32 if value_bits + label_bits <= 31 else np.int64
    return label_bits, big, dtype


def fits(reach: int, top: int) -> bool:
    """Whether keys for this cut-off and largest id fit into 63 bits and the reach is short."""
    label_bits, big, _ = _key_layout(reach, top)
    return 0 < reach <= MAX_REACH and (big + reach * reach).bit_length() + label_bits <= 62


def squared_border_distances(labels: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances (int32) to the nearest and second-nearest distinct cell.

    ``labels`` are 2D ids from 0 (background) with ``fits(reach, labels.max())``. Values up to
    ``2 reach^2`` are exact wherever the true value is below ``(reach + 1)^2``; a value above
    ``2 reach^2`` means no (second) cell within ``reach`` on either axis.
    """
    first, second, label_bits, workers = _column_keys(labels, reach)
    sq1 = np.empty(labels.shape, np.int32)
    sq2 = np.empty(labels.shape, np.int32)

    def rows(y0: int, y1: int) -> None:
        kernels.row_kernel(first, second, reach, label_bits, sq1, sq2, y0, y1)

    thread_map(rows, _bands(labels.shape[0], workers), workers)
    return sq1, sq2


def add_border_term(weights, labels, outside, target, class_weights, w0, sigma, cut) -> None:
    """Set ``weights = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2))`` where ``d1 + d2 <= cut``.

    Only on ``outside`` pixels (background of the separated target), in place, in one float32
    rounding: ``class_weights[target]`` plus the term in float64. ``d1 <= d2`` and
    ``d1 + d2 <= cut`` mean ``d1 <= cut / 2``, so the nearest cell is looked for only that
    far, which halves the first sweep. Needs ``fits(floor(cut), labels.max())``.
    """
    reach = int(math.floor(cut))
    first, second, label_bits, workers = _column_keys(labels, reach)
    wc = np.asarray(class_weights, np.float64)
    inverse = 1.0 / (2.0 * sigma * sigma)

    def rows(y0: int, y1: int) -> None:
        kernels.term_kernel(
            first,
            second,
            reach,
            int(math.floor(cut / 2)),
            label_bits,
            outside,
            target,
            wc,
            float(w0),
            inverse,
            float(cut),
            weights,
            y0,
            y1,
        )

    thread_map(rows, _bands(labels.shape[0], workers), workers)


def _column_keys(labels: np.ndarray, reach: int):
    """The columns' keys of the two nearest distinct cells; threads take bands of columns."""
    if not ready():
        raise RuntimeError(f"numba cannot run the weight-map kernels here: {_STATE['broken']}")
    height, width = labels.shape
    top = int(labels.max()) if labels.size else 0
    label_bits, big, dtype = _key_layout(reach, top)
    labels = np.ascontiguousarray(labels, dtype=np.int32 if top < 2**31 else np.int64)
    first = np.empty((height, width), dtype)
    second = np.empty((height, width), dtype)
    workers = min(cpu_workers(), max(1, height * width // 2**18))

    def columns(x0: int, x1: int) -> None:
        kernels.column_kernel(labels, reach, label_bits, big, first, second, x0, x1)

    thread_map(columns, _bands(width, workers), workers)
    return first, second, label_bits, workers


def _bands(length: int, workers: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, length, workers + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
