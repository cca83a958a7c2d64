"""The columns of measurement tables and summaries, and their one order in CSV files.

:mod:`~napari_unet.core.review.measure` makes the columns; :mod:`.measure_csv` writes them
in :func:`column_order`: shape, then micrometres, then intensities, whichever file comes
first (before, a CSV file's columns came in the order the first file gave them, so the µm
columns followed the intensities when the first file had no pixel size).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["PHYSICAL_COLUMNS", "SHAPE_COLUMNS", "column_order"]

#: regionprops_table's column -> ours: the shape columns, in order.
SHAPE_COLUMNS = {
    "label": "label", "area": "area", "centroid-0": "centroid_y", "centroid-1": "centroid_x",
    "bbox-0": "bbox_min_y", "bbox-1": "bbox_min_x", "bbox-2": "bbox_max_y",
    "bbox-3": "bbox_max_x", "equivalent_diameter_area": "equivalent_diameter",
    "perimeter": "perimeter", "eccentricity": "eccentricity", "solidity": "solidity",
}  # fmt: skip
#: The columns in micrometres, with a pixel size.
PHYSICAL_COLUMNS = (
    "area_um2", "centroid_y_um", "centroid_x_um", "equivalent_diameter_um", "perimeter_um",
)  # fmt: skip
#: A summary row's columns in pixels, then in micrometres (measure.summarize).
SUMMARY_COLUMNS = (
    "objects", "total_area", "mean_area", "median_area", "mean_equivalent_diameter",
)  # fmt: skip
SUMMARY_PHYSICAL_COLUMNS = ("total_area_um2", "mean_area_um2", "mean_equivalent_diameter_um")

_FIXED = (*SHAPE_COLUMNS.values(), *SUMMARY_COLUMNS, *PHYSICAL_COLUMNS, *SUMMARY_PHYSICAL_COLUMNS)
_STATS = ("mean", "min", "max")
_INTENSITY = re.compile(r"(mean|min|max)_intensity(?:_c(\d+))?")


def column_order(keys: Iterable[str]) -> list[str]:
    """``keys`` (once each) in the one order of the CSV files.

    The shape columns (pixels), then the micrometre ones, then the intensities (every
    channel's mean, then min, then max: ``mean_intensity``, ``mean_intensity_c0``...),
    then any other column in the order given.
    """
    return sorted(dict.fromkeys(keys), key=_rank)


def _rank(key: str) -> tuple[int, int, int]:
    if key in _FIXED:
        return 0, _FIXED.index(key), 0
    found = _INTENSITY.fullmatch(key)
    if found:
        return 1, _STATS.index(found[1]), -1 if found[2] is None else int(found[2])
    return 2, 0, 0  # sorted() is stable: others keep their order
