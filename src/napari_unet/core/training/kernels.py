"""The kernels of :mod:`napari_unet.core.training.compiled`, written for numba.

Scalar loops over contiguous arrays that numba's compiler vectorises. They are plain Python
until :func:`napari_unet.core.training.compiled.ready` swaps each for its compiled version,
helpers first: a kernel looks ``push`` and ``sweep`` up in this module when it is compiled.
The tests run them compiled. The method is described in the compiled module.
"""

from __future__ import annotations

import numpy as np


def push(value, label, s1, l1, s2, l2):  # pragma: no cover - inlined by numba
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


def column_kernel(labels, reach, label_bits, big, first, second, x0, x1):  # pragma: no cover
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
                    s1, l1, s2, l2 = push(d * d, near_id[i], s1, l1, s2, l2)
                d = step - other_pos[i]
                if d <= reach:
                    s1, l1, s2, l2 = push(d * d, other_id[i], s1, l1, s2, l2)
                first[y, x] = (s1 << label_bits) | l1
                second[y, x] = (s2 << label_bits) | l2


def sweep(a1, a2, reach, near_reach, label_bits, scratch):  # pragma: no cover
    """Sweep one row of column keys; returns ``(best, runner)``, rows of ``scratch``.

    ``best``: the nearest key (offsets up to ``near_reach``); ``runner``: the nearest key of
    another cell than ``best``'s (offsets up to ``reach``). ``scratch`` is ``(5, width)`` of
    the keys' type.
    """
    best, nearest, own, step, runner = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
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
    return best, runner


def row_kernel(first, second, reach, label_bits, sq1, sq2, y0, y1):  # pragma: no cover
    """Rows ``y0 <= y < y1``: squared distances from the column keys."""
    width = first.shape[1]
    scratch = np.empty((5, width), first.dtype)
    for y in range(y0, y1):
        best, runner = sweep(first[y], second[y], reach, reach, label_bits, scratch)
        for x in range(width):
            sq1[y, x] = best[x] >> label_bits
            sq2[y, x] = runner[x] >> label_bits


def term_kernel(
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
        best, runner = sweep(first[y], second[y], reach, near_reach, label_bits, scratch)
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
