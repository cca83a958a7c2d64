"""The Evaluate dock's per-plane table of a long stack: filled without a signal per cell.

Before, magicgui set the table one cell at a time, each sending a Qt signal and an event
of the dock's (about 2 s of napari frozen for 1,000 planes, 14,000 cells), and Qt measured
every cell to fit the columns. The table must show the same: its cells, headers and
column widths as ``table.value`` and ``resizeColumnsToContents`` give them.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import Table
from qtpy.QtWidgets import QStyledItemDelegate
from test_evaluate_widget import docked, run_and_wait

from napari_unet.widgets._evaluate_tables import fill, fit_columns

PLANES = 20


def _stack() -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((PLANES, 16, 16), np.uint16)
    gt[:, 2:7, 2:7], gt[:, 9:15, 9:15] = 1, 2
    pred = gt.copy()
    pred[::3, 9:12, 9:15] = 0  # every third plane scored differently
    pred[1::7] = 0  # and some planes find nothing
    return gt, pred


def test_a_long_stack_is_tabled_without_a_signal_per_cell(make_napari_viewer, qtbot):
    gt, pred = _stack()
    viewer = make_napari_viewer()
    viewer.add_labels(gt, name="img annotations")
    viewer.add_labels(pred, name="img segmentation")
    widget = docked(viewer)
    cells: list = []
    widget._summary.changed.connect(cells.append)  # before: one event per cell
    widget._summary.native.itemChanged.connect(cells.append)
    run_and_wait(qtbot, widget)
    table = widget._summary
    assert table.shape == (14, PLANES + 1)  # the pooled total, then each plane
    assert table.column_headers[:3] == ("total (pooled)", "plane 0", "plane 1")
    per_image, _total = widget.results
    plane = dict(zip(table.row_headers, table["plane 1"], strict=True))
    assert plane["pred"] == "0" and plane["GT"] == "2"
    assert plane["AP"] == f"{per_image[1]['ap']:.3f}"
    assert table.native.item(0, 1).text() == table.value["data"][0][1]  # shown, and read
    assert cells == [], f"{len(cells)} signals while the table was filled"


def test_tables_read_and_sized_as_magicgui_and_qt_make_them(qtbot):
    """The same ``value`` and column widths as ``table.value = ...`` and Qt's resize."""
    rng = np.random.default_rng(0)
    texts = np.array(["0.600", "1.000", "n/a", "12", "3", "0.571", "1234"])
    value = {
        "data": rng.choice(texts, (5, 41)).tolist(),
        "index": [f"metric {i}" for i in range(5)],
        "columns": ["total (pooled)"] + [f"plane {i}" for i in range(40)],
    }
    ours, theirs = Table(), Table()
    for table in (ours, theirs):
        qtbot.addWidget(table.native)
        table.native.setItemDelegate(QStyledItemDelegate(table.native))  # as the dock's
    theirs.value = value
    theirs.native.resizeColumnsToContents()
    fill(ours, value)
    measured: list[int] = []
    measure = ours.native.sizeHintForColumn
    ours.native.sizeHintForColumn = lambda col: measured.append(col) or measure(col)
    fit_columns(ours.native, value["data"])
    assert ours.value == theirs.value
    widths = [[t.native.columnWidth(c) for c in range(41)] for t in (ours, theirs)]
    assert widths[0] == widths[1]
    assert len(measured) < 10, "one measure per width of a column's widest text"
    fill(ours, {"data": [["1"]], "index": ["GT"], "columns": ["one"]})  # refilled: replaced
    assert ours.value == {"data": [["1"]], "index": ("GT",), "columns": ("one",)}
