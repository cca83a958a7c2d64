"""The Review dock's object table: one row per object, linked to the Labels layer both ways.

Clicking a row selects that object in the Labels layer and centres the view on it; selecting
an object in the layer (napari's picker, or the label box) highlights its row. The table
shows what :func:`napari_unet.core.review.measure.measure_objects` computed; it is filled
from a measurement run off the GUI thread (the dock calls :meth:`ObjectTable.show`).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt
from qtpy.QtWidgets import QAbstractItemView, QTableView

from napari_unet.widgets._layers import camera

__all__ = ["HEADERS", "ObjectTable", "TABLE_COLUMNS", "header"]

#: The columns the table shows (the CSV export has them all), in this order when present.
TABLE_COLUMNS = (
    "plane", "label", "area", "area_um2", "equivalent_diameter", "eccentricity", "solidity",
    "mean_intensity", "mean_intensity_c0", "mean_intensity_c1", "mean_intensity_c2",
    "equivalent_diameter_um", "centroid_y", "centroid_x",
)  # fmt: skip
#: What the tables show for a column (the CSV files keep the code names), and its tooltip.
HEADERS = {
    "plane": ("plane", "the plane of the stack the object lies in (0 is the first)"),
    "label": ("label", "the object's id in the labels layer (click a row to select it)"),
    "area": ("area (px²)", "the object's area in pixels"),
    "area_um2": ("area (µm²)", "the object's area in square micrometres (from the pixel size)"),
    "equivalent_diameter": (
        "diameter (px)", "the diameter of the disc of the same area, in pixels",
    ),
    "equivalent_diameter_um": (
        "diameter (µm)", "the diameter of the disc of the same area, in micrometres",
    ),
    "eccentricity": ("eccentricity", "elongation of the fitted ellipse: 0 for a disc, towards 1 "
                     "for a line"),
    "solidity": ("solidity", "area / area of the convex hull: 1 for a convex object, lower "
                 "for a ragged or notched one"),
    "mean_intensity": (
        "mean intensity", "the mean image value over the object's pixels (in the summary: "
        "averaged over the objects)",
    ),
    "centroid_y": ("centre y (px)", "the row of the object's centre, in pixels"),
    "centroid_x": ("centre x (px)", "the column of the object's centre, in pixels"),
    "image": ("image", "the image's file name (click a row to show it)"),
    "status": ("status", "unreviewed, accepted, corrected, needs-work or rejected"),
    "objects": ("objects", "the number of objects in the image"),
    "mean_area": ("mean area (px²)", "the mean object area, in pixels"),
    "median_area": ("median area (px²)", "the median object area, in pixels"),
    "mean_area_um2": ("mean area (µm²)", "the mean object area, in square micrometres"),
    "mean_equivalent_diameter": (
        "mean diameter (px)", "the mean diameter of the discs of the objects' areas, in pixels",
    ),
    "review_seconds": ("review time (s)", "seconds spent reviewing the image"),
}  # fmt: skip


def header(name: str) -> tuple[str, str]:
    """The text and the tooltip a table shows for the column ``name``."""
    if name.startswith("mean_intensity_c"):
        return (
            f"mean intensity (channel {name[16:]})",
            f"the mean value of channel {name[16:]} over the object's pixels",
        )
    return HEADERS.get(name, (name.replace("_", " "), ""))


#: Rows shown at most (a crowded image's first rows; the CSV has every object).
MAX_ROWS = 100_000


def _text(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


class _Columns(QAbstractTableModel):
    """A read-only Qt model over a dict of equal-length columns.

    No item per cell: filling a table of thousands of objects costs nothing; cells are
    formatted when they are painted.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._columns: list = []
        self._rows = 0

    def set_table(self, table: dict | None, columns) -> None:
        self.beginResetModel()
        self._names = [c for c in columns if table and c in table]
        self._columns = [np.asarray(table[c]) for c in self._names] if table else []
        self._rows = min(len(self._columns[0]), MAX_ROWS) if self._columns else 0
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else self._rows

    def key(self, section: int) -> str:
        """The measurement's name of column ``section``."""
        return self._names[section]

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self._names)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return _text(self._columns[index.column()][index.row()])
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        """Readable names with units (:data:`HEADERS`) and a tooltip explaining each."""
        if orientation != Qt.Orientation.Horizontal or section >= len(self._names):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return header(self._names[section])[0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return header(self._names[section])[1] or None
        return None


class _Table(QTableView):
    """A row-selecting, read-only table view over :class:`_Columns`.

    A subclass acts on a row in ``_on_row``: when the selection changes (a click, the
    keys, ``selectRow``), and when the row clicked was already selected (no selection
    change: before, clicking it again did nothing).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._pressed_selected: int | None = None  # the selected row when a click began
        self.clicked.connect(self._on_click)
        self.model_ = _Columns(self)
        self.setModel(self.model_)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setResizeContentsPrecision(50)  # size columns on 50 rows

    def rowCount(self) -> int:  # noqa: N802 (as QTableWidget)
        return self.model_.rowCount()

    def columnCount(self) -> int:  # noqa: N802 (as QTableWidget)
        return self.model_.columnCount()

    def text(self, row: int, column: int) -> str:
        """The text shown in a cell."""
        return self.model_.data(self.model_.index(row, column)) or ""

    def header(self, column: int) -> str:
        """The name a column shows (the CSV's is :meth:`key`)."""
        return self.model_.headerData(column, Qt.Orientation.Horizontal) or ""

    def key(self, column: int) -> str:
        """The measurement's name of a column (as in the CSV files)."""
        return self.model_.key(column)

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._pressed_selected = self.selected_row()
        super().mousePressEvent(event)

    def _on_click(self, index) -> None:
        if index.isValid() and index.row() == self._pressed_selected:
            self._on_row()

    def _on_row(self, *_args) -> None:
        """A row was chosen (subclasses act on it)."""


class ObjectTable(_Table):
    """A per-object table linked to a Labels layer (set with :meth:`attach`)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(140)
        self._layer = None
        self._viewer = None
        self._rows: dict[tuple[int, int], int] = {}  # (plane, label) -> row
        self._table: dict | None = None
        self._syncing = False
        self.selectionModel().selectionChanged.connect(self._on_row)

    def attach(self, viewer, layer) -> None:
        """Link the table to ``layer`` (a Labels layer shown in ``viewer``)."""
        if self._layer is not None:
            self._layer.events.selected_label.disconnect(self._on_label)
        self._viewer, self._layer = viewer, layer
        if layer is not None:
            layer.events.selected_label.connect(self._on_label)

    def show(self, table: dict | None) -> None:
        """Fill the table with a measurement (a dict of equal-length columns); None clears."""
        self._table = table
        self._syncing = True
        try:
            self.model_.set_table(table, TABLE_COLUMNS)
            self._rows = {}
            if table:
                n = self.model_.rowCount()
                planes = np.asarray(table["plane"][:n]) if "plane" in table else np.zeros(n, int)
                labels = np.asarray(table["label"][:n])
                keys = zip(planes.tolist(), labels.tolist(), strict=True)
                self._rows = {key: r for r, key in enumerate(keys)}
                self.resizeColumnsToContents()
        finally:
            self._syncing = False

    def row_of(self, label: int, plane: int = 0) -> int | None:
        """The row of object ``label`` (in ``plane`` for a stack), or None."""
        return self._rows.get((int(plane), int(label)))

    def _plane_axis(self) -> int:
        """The viewer's axis of the layer's planes (its first axis in the viewer's dims).

        The viewer may have more axes: a (Z, C, Y, X) image's channel slider comes first.
        """
        return max(0, self._viewer.dims.ndim - self._layer.ndim)

    def _plane(self) -> int:
        if self._layer is None or self._layer.ndim < 3 or self._viewer is None:
            return 0
        return int(self._viewer.dims.current_step[self._plane_axis()])

    def _on_label(self, _event=None) -> None:
        """An object was selected in the layer: highlight its row."""
        if self._syncing or self._layer is None:
            return
        row = self.row_of(self._layer.selected_label, self._plane())
        self._syncing = True
        try:
            if row is None:
                self.clearSelection()
            else:
                self.selectRow(row)
                self.scrollTo(self.model_.index(row, 0))
        finally:
            self._syncing = False

    def _on_row(self, *_args) -> None:
        """A row was clicked: select that object and centre the view on it."""
        if self._syncing or self._layer is None or self._table is None:
            return
        r = self.selected_row()
        if r is None:
            return
        t = self._table
        label = int(t["label"][r])
        cy, cx = float(t["centroid_y"][r]), float(t["centroid_x"][r])
        self._syncing = True
        try:
            self._layer.selected_label = label
            if "plane" in t and self._viewer is not None and self._layer.ndim >= 3:
                step = list(self._viewer.dims.current_step)
                step[self._plane_axis()] = int(t["plane"][r])
                self._viewer.dims.current_step = tuple(step)
            if self._viewer is not None:
                world = self._layer.data_to_world((*([0] * (self._layer.ndim - 2)), cy, cx))
                camera(self._viewer).center = tuple(world[-2:])
        finally:
            self._syncing = False


#: The summary table's columns, in this order when present.
SUMMARY_COLUMNS = (
    "image", "status", "objects", "mean_area", "median_area", "mean_area_um2",
    "mean_equivalent_diameter", "mean_intensity", "review_seconds",
)  # fmt: skip


class SummaryTable(_Table):
    """One row per exported image; clicking a row calls ``on_image(name)``."""

    def __init__(self, on_image, parent=None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._on_image = on_image
        self.selectionModel().selectionChanged.connect(self._on_row)
        self.setVisible(False)

    def show_rows(self, rows) -> None:
        """Show summary rows (dicts); an empty list hides the table."""
        self._names = [str(r["image"]) for r in rows]
        columns = [c for c in SUMMARY_COLUMNS if rows and c in rows[0]]
        table = {c: [r.get(c, "") for r in rows] for c in columns}
        self.blockSignals(True)
        self.model_.set_table(table or None, columns)
        self.resizeColumnsToContents()
        self.blockSignals(False)
        self.setMinimumHeight(min(220, 30 + 26 * len(rows)))
        self.setVisible(bool(rows))

    def _on_row(self, *_args) -> None:
        r = self.selected_row()
        if r is not None:
            self._on_image(self._names[r])
