"""Measurement tables as CSV files: rows of dicts, a header, atomic writes.

The tables are :mod:`napari_unet.core.review.measure`'s (which re-exports these names).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.files import atomic_write
from napari_unet.core.review.measure_columns import column_order

__all__ = ["LEADING_COLUMNS", "table_rows", "write_csv"]

#: Columns that come first in a CSV file whenever any row has them, in this order.
LEADING_COLUMNS = ("image", "planes", "plane")


def table_rows(table: Mapping[str, Any], **first: Any) -> list[dict[str, Any]]:
    """The rows of a table as dicts, each starting with the ``first`` entries.

    ``table_rows(table, image="cells")`` gives rows that say which image each object is
    from, so the rows of several images can go into one CSV file (:func:`write_csv`).
    """
    columns = {k: np.asarray(v) for k, v in table.items()}
    n = len(next(iter(columns.values()))) if columns else 0
    return [first | {k: v[i].item() for k, v in columns.items()} for i in range(n)]


def write_csv(
    path: str | os.PathLike,
    data: Mapping[str, Any] | Sequence[Mapping],
    *,
    columns: Sequence[str] = (),
    leading: Sequence[str] = LEADING_COLUMNS,
) -> Path:
    """Write a table or a list of rows to a CSV file, atomically, with a header line.

    Parameters
    ----------
    path : path-like
        The CSV file; replaced only once completely written.
    data : mapping of str to array, or sequence of mappings
        A table (equal-length columns, as
        :func:`~napari_unet.core.review.measure.measure_objects` returns) or rows (dicts, as
        :func:`~napari_unet.core.review.measure.summarize` and :func:`table_rows` return).
        The header lists ``leading`` first (default :data:`LEADING_COLUMNS`: image,
        planes or plane), then the rows' keys in one fixed order whichever row comes first
        (:func:`~napari_unet.core.review.measure_columns.column_order`: shape, then µm,
        then intensity, then other keys as they first appear); a row without one leaves it
        empty.
    columns : sequence of str
        Columns the header has even without any row (so a file of zero objects still says
        what its columns are).

    Floats are written in Python's shortest round-trip form (``repr``), so reading them
    back gives the same numbers; NaN is written ``nan``. Text is UTF-8; a name that is not
    (a file name of Latin-1 bytes, as unzip gives an old archive's) is written back as
    its bytes on disk (before, the write failed after all the work).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    rows = table_rows(data) if isinstance(data, Mapping) else list(data)
    keys = list(data) if isinstance(data, Mapping) else [k for row in rows for k in row]
    header = list(dict.fromkeys([*columns, *keys]))
    lead = [k for k in leading if k in header]  # before: last after a 2D file
    header = lead + column_order(k for k in header if k not in lead)
    path = Path(path)
    text = {"newline": "", "encoding": "utf-8", "errors": "surrogateescape"}
    with atomic_write(path) as tmp, open(tmp, "w", **text) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(row.get(k)) for k in header])
    return path


def _cell(value) -> str:
    if value is None:
        return ""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)
