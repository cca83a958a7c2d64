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

import numpy as np

from napari_unet.core.device import cpu_workers, thread_map

# Longest cut-off served here: the row sweeps cost 4 * reach operations per pixel, so beyond
# this the windowed SciPy transform is cheaper.
MAX_REACH = 96


@functools.cache
def _numba():
    """The numba module, imported on first use (0.4 s), or None where it is missing or broken."""
    try:
        import numba
    except ImportError:
        return None
    return numba


# Smallest image (pixels) that takes the compiled path by default. Below it SciPy's windows
# take a few tens of milliseconds, while the first compiled call of a process costs 0.4-0.9 s
# (importing numba and loading its cached kernels; a few seconds the first time on a machine).
MIN_PIXELS = 1 << 20


def available() -> bool:
    """Whether the compiled path can run (numba importable and not turned off)."""
    return os.environ.get("NAPARI_UNET_NUMBA", "") != "0" and _numba() is not None


def wanted(pixels: int) -> bool:
    """Whether an image of ``pixels`` pixels takes the compiled path.

    ``NAPARI_UNET_NUMBA=0`` never (benchmarks compare the two paths that way), ``=1`` always
    where numba is installed; unset, images of at least :data:`MIN_PIXELS` (1 megapixel).
    """
    if not available():
        return False
    return os.environ.get("NAPARI_UNET_NUMBA", "") == "1" or pixels >= MIN_PIXELS


_COMPILE_LOCK = threading.Lock()
_COMPILED = False


def _compile() -> None:
    """Swap the kernels below for numba's compiled versions (once per process).

    numba compiles on the first call on a machine and caches the result on disk (next to this
    file, or in the user's cache folder where the package folder is read-only); where no
    folder is writable it compiles without the disk cache. Helpers come first: the kernels
    look them up when they are compiled.
    """
    global _COMPILED
    with _COMPILE_LOCK:
        if _COMPILED:
            return
        numba = _numba()

        def jit(function, **options):
            try:
                return numba.njit(cache=True, nogil=True, **options)(function)
            except RuntimeError:  # no writable cache folder
                return numba.njit(nogil=True, **options)(function)

        names = ("_push", "_sweep", "_column_kernel", "_row_kernel", "_term_kernel")
        for name in names:
            options = {"inline": "always"} if name == "_push" else {}
            globals()[name] = jit(globals()[name], **options)
        _COMPILED = True


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
        _row_kernel(first, second, reach, label_bits, sq1, sq2, y0, y1)

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
        _term_kernel(
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
    _compile()
    height, width = labels.shape
    top = int(labels.max()) if labels.size else 0
    label_bits, big, dtype = _key_layout(reach, top)
    labels = np.ascontiguousarray(labels, dtype=np.int32 if top < 2**31 else np.int64)
    first = np.empty((height, width), dtype)
    second = np.empty((height, width), dtype)
    workers = min(cpu_workers(), max(1, height * width // 2**18))

    def columns(x0: int, x1: int) -> None:
        _column_kernel(labels, reach, label_bits, big, first, second, x0, x1)

    thread_map(columns, _bands(width, workers), workers)
    return first, second, label_bits, workers


def _bands(length: int, workers: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, length, workers + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


# The kernels below are plain Python until _compile() swaps them for numba's versions; they
# are written for numba (scalar loops over contiguous arrays that its compiler vectorises),
# and the tests run them compiled.


def _push(value, label, s1, l1, s2, l2):  # pragma: no cover - inlined by numba
    """Insert ``(value, label)`` into the two best distinct ``(s1, l1) <= (s2, l2)``."""
    if label == l1:
        if value < s1:
            s1 = value
    elif label == l2:
        if value < s2:
            s2 = value
            if s2 < s1:
                s1, l1, s2, l2 = s2, l2, s1, l1
    elif value < s1:
        s2, l2 = s1, l1
        s1, l1 = value, label
    elif value < s2:
        s2, l2 = value, label
    return s1, l1, s2, l2


def _column_kernel(labels, reach, label_bits, big, first, second, x0, x1):  # pragma: no cover
    """Columns ``x0 <= x < x1``: keys of the two nearest distinct cells in each column.

    Scanning down, the nearest cell above is the last labelled pixel, and the nearest
    *other* cell above is the last pixel of a different id before it; scanning up gives the
    same from below, and the two are merged.
    """
    height = labels.shape[0]
    n = x1 - x0
    near_pos = np.empty(n, np.int64)
    near_id = np.empty(n, np.int64)
    other_pos = np.empty(n, np.int64)
    other_id = np.empty(n, np.int64)
    for direction in range(2):
        near_pos[:] = -(reach + 1) - height
        other_pos[:] = -(reach + 1) - height
        near_id[:] = 0
        other_id[:] = 0
        for step in range(height):
            y = step if direction == 0 else height - 1 - step
            for i in range(n):
                x = x0 + i
                label = labels[y, x]
                if label != 0:
                    if label != near_id[i]:
                        other_pos[i] = near_pos[i]
                        other_id[i] = near_id[i]
                        near_id[i] = label
                    near_pos[i] = step
                if direction == 0:
                    s1, l1, s2, l2 = big, 0, big, 0
                else:
                    s1 = first[y, x] >> label_bits
                    l1 = first[y, x] & ((1 << label_bits) - 1)
                    s2 = second[y, x] >> label_bits
                    l2 = second[y, x] & ((1 << label_bits) - 1)
                d = step - near_pos[i]
                if d <= reach:
                    s1, l1, s2, l2 = _push(d * d, near_id[i], s1, l1, s2, l2)
                d = step - other_pos[i]
                if d <= reach:
                    s1, l1, s2, l2 = _push(d * d, other_id[i], s1, l1, s2, l2)
                first[y, x] = (s1 << label_bits) | l1
                second[y, x] = (s2 << label_bits) | l2


def _sweep(
    a1, a2, reach, near_reach, label_bits, best, nearest, own, step, runner
):  # pragma: no cover
    """Sweep one row of column keys.

    ``best``: the nearest key (offsets up to ``near_reach``); ``runner``: the nearest key of
    another cell than ``best``'s (offsets up to ``reach``).
    """
    # Every sum is cast back to the key type: numba widens integer arithmetic to 64 bits, and
    # the casts let the compiler keep int32 keys in 32-bit lanes (twice as many per vector).
    width = a1.shape[0]
    key = a1.dtype.type
    mask = key((1 << label_bits) - 1)
    zero = key(0)
    for x in range(width):
        best[x] = a1[x]
    for dx in range(1, near_reach + 1):
        dd = key((dx * dx) << label_bits)
        for x in range(width - dx):
            best[x] = min(best[x], key(a1[x + dx] + dd))
        for x in range(width - dx):
            best[x + dx] = min(best[x + dx], key(a1[x] + dd))
    # The best candidate of column x' that is not the nearest cell of x: the column's second
    # where its first is that cell, written as a select so that it vectorises.
    for x in range(width):
        nearest[x] = best[x] & mask
        own[x] = a1[x] & mask
        step[x] = key(a2[x] - a1[x])
        runner[x] = key(a1[x] + (step[x] if own[x] == nearest[x] else zero))
    for dx in range(1, reach + 1):
        dd = key((dx * dx) << label_bits)
        for x in range(width - dx):
            other = step[x + dx] if own[x + dx] == nearest[x] else zero
            runner[x] = min(runner[x], key(key(a1[x + dx] + dd) + other))
        for x in range(width - dx):
            other = step[x] if own[x] == nearest[x + dx] else zero
            runner[x + dx] = min(runner[x + dx], key(key(a1[x] + dd) + other))


def _row_kernel(first, second, reach, label_bits, sq1, sq2, y0, y1):  # pragma: no cover
    """Rows ``y0 <= y < y1``: squared distances from the column keys."""
    width = first.shape[1]
    scratch = np.empty((5, width), first.dtype)
    for y in range(y0, y1):
        best, runner = scratch[0], scratch[4]
        _sweep(
            first[y],
            second[y],
            reach,
            reach,
            label_bits,
            best,
            scratch[1],
            scratch[2],
            scratch[3],
            runner,
        )
        for x in range(width):
            sq1[y, x] = best[x] >> label_bits
            sq2[y, x] = runner[x] >> label_bits


def _term_kernel(
    first,
    second,
    reach,
    near_reach,
    label_bits,
    outside,
    target,
    wc,
    w0,
    inverse,
    cut,
    weights,
    y0,
    y1,
):  # pragma: no cover
    """Rows ``y0 <= y < y1``: the border term added to the class weights where it counts.

    The first sweep (offsets up to ``near_reach = floor(cut / 2)``) is exact wherever the true
    ``d1 <= cut / 2``, and elsewhere gives a value above it; the second is exact wherever
    ``d2 <= reach``, which holds where ``d1 + d2 <= cut`` since ``d1 >= 1`` outside the cells.
    """
    width = first.shape[1]
    scratch = np.empty((5, width), first.dtype)
    near_limit = 0.25 * cut * cut  # (cut / 2)^2: not near_reach^2, which is smaller
    far_limit = reach * reach
    for y in range(y0, y1):
        best, runner = scratch[0], scratch[4]
        _sweep(
            first[y],
            second[y],
            reach,
            near_reach,
            label_bits,
            best,
            scratch[1],
            scratch[2],
            scratch[3],
            runner,
        )
        for x in range(width):
            if not outside[y, x]:
                continue
            s1 = best[x] >> label_bits
            s2 = runner[x] >> label_bits
            if s1 > near_limit or s2 > far_limit:
                continue
            total = np.sqrt(np.float64(s1)) + np.sqrt(np.float64(s2))
            if total <= cut:
                weights[y, x] = wc[target[y, x]] + w0 * np.exp(-(total * total) * inverse)
