"""Fit the plugin's docks on a laptop screen: tabbed docks, sections, tables that fit.

napari docks a widget opened from the Plugins menu below the docks already in its area
(``add_dock_widget`` without ``tabify``): four docks stacked made a 1080 px screen's window
1768 px tall. A dock that calls :func:`tab_when_docked` in its ``__init__`` joins the
plugin's docks already in its area as a tab instead, and the window keeps its size.
Only Qt's public API is used (the widget's parents, ``QMainWindow.tabifyDockWidget``);
where the structure is not a dock in a main window (a widget shown on its own, a floating
dock, another host application) nothing happens.

Inside a dock, one scroll area (the dock's) scrolls: :class:`Section` opens to its
content's full height and :func:`fit_rows` keeps a table as tall as its rows, so no
scroll bar sits inside another; :func:`reveal` scrolls it to a result or an opened section.
:func:`when_deleted` tells a dock that napari deletes it (stop its work).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import weakref
from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "MARK", "Section", "fit_rows", "reveal", "scroll_panel", "tab_when_docked", "when_deleted",
]  # fmt: skip

#: Dynamic Qt property set on a dock's content: the plugin's docks find each other by it.
MARK = "napari_unet_dock"
#: What napari appends to a plugin dock's name ("Review (napari-unet)"); not on its tab.
SUFFIX = " (napari-unet)"
#: Nested layouts :func:`reveal` lets settle (a label in a row in a form in a dock's panel...).
LAYOUT_DEPTH = 8


def tab_when_docked(widget) -> None:
    """Tab ``widget``'s dock with the plugin's other docks once napari has docked it.

    Call it in a dock widget's ``__init__`` (before napari wraps it in a dock). When the
    dock lands in a main window, it is tabbed with the last of the plugin's docks already
    in the same dock area and raised; the window keeps the size it had before the dock
    was added (Qt may still enlarge it to the docks' minimum size). Its tab says "Review",
    not "Revie..." (six "Review (napari-unet)" tabs were cut short); napari's title bar
    above the dock keeps the full name.

    Parameters
    ----------
    widget : magicgui.widgets.Widget or QWidget
        The dock's content (a magicgui widget's ``native`` is used).
    """
    native = getattr(widget, "native", widget)
    native.setProperty(MARK, True)
    # Parented to the widget: Qt keeps the watcher alive exactly as long as the widget.
    native.installEventFilter(_DockWatcher(native))


#: Docks told when Qt deletes their widget: key -> (weak dock, method name, Qt slot). The
#: slots live here, reachable from the module, so the garbage collector never clears one
#: that Qt calls while it deletes a collected dock's widget.
_WATCHED: dict[int, tuple] = {}
_KEYS = itertools.count()


def when_deleted(widget, method: str) -> None:
    """Call ``widget.<method>()`` when Qt deletes the dock's widget (napari closing it).

    The dock is held by a weak reference. A dock never docked and dropped is collected
    with its widget, its attributes gone before Qt deletes the widget: a slot that held it
    raised an AttributeError (Evaluate) or crashed napari (Live, stopping timers Qt was
    deleting), and one collected with it was called cleared. Docked, the widget holds its
    dock (magicgui's ``_magic_widget``).
    """
    for dead in [k for k, (ref, *_rest) in _WATCHED.items() if ref() is None]:
        del _WATCHED[dead]  # its dock is gone: nothing to tell (before, kept for good)
    key = next(_KEYS)
    slot = functools.partial(_deleted, key)
    _WATCHED[key] = (weakref.ref(widget), method, slot)
    widget.native.destroyed.connect(slot)


def _deleted(key: int, *_) -> None:
    ref, method, _slot = _WATCHED.pop(key, (lambda: None, "", None))
    dock = ref()
    if dock is not None:
        getattr(dock, method)()


def _dock_of(widget: QWidget) -> QDockWidget | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def _is_ours(dock: QDockWidget) -> bool:
    content = dock.widget()
    if content is None:
        return False
    return bool(content.property(MARK)) or any(
        bool(child.property(MARK)) for child in content.findChildren(QWidget)
    )


class _DockWatcher(QObject):
    """Follows a dock content into its dock, then the dock into a main window."""

    def __init__(self, native: QWidget) -> None:
        super().__init__(native)
        self._native = native
        self._dock: QDockWidget | None = None
        self._size: QSize | None = None
        self._watch_dock()

    def _watch_dock(self) -> None:
        dock = _dock_of(self._native)
        if dock is self._dock:
            return
        if self._dock is not None:
            self._dock.removeEventFilter(self)
        self._dock = dock
        if dock is not None:
            dock.installEventFilter(self)
            if isinstance(dock.parentWidget(), QMainWindow):  # docked already
                self._docked(dock.parentWidget())

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        """React when the content moves into a dock, or the dock into a main window."""
        if event.type() == QEvent.Type.ParentChange:
            if obj is self._native:
                self._watch_dock()
            elif obj is self._dock and isinstance(obj.parentWidget(), QMainWindow):
                self._docked(obj.parentWidget())
        return False

    def _docked(self, window: QMainWindow) -> None:
        # Called while QMainWindow.addDockWidget runs: the window has not grown yet, and
        # the call posted now runs before the relayout that addDockWidget posts.
        self._size = window.size()
        dock = self._dock
        if dock.windowTitle().endswith(SUFFIX):  # the tab's text (and the dock's window's)
            dock.setWindowTitle(dock.windowTitle().removesuffix(SUFFIX))
        QTimer.singleShot(0, self._tabify)

    def _tabify(self) -> None:
        dock = self._dock
        try:
            window = dock.parentWidget() if dock is not None else None
        except RuntimeError:  # the dock was deleted meanwhile
            return
        if not isinstance(window, QMainWindow) or dock.isFloating():
            return
        area = window.dockWidgetArea(dock)
        siblings = [
            other
            for other in window.findChildren(QDockWidget)
            if other is not dock
            and not other.isFloating()
            and not other.isHidden()
            and window.dockWidgetArea(other) == area
            and _is_ours(other)
        ]
        if not siblings:
            return
        window.tabifyDockWidget(siblings[-1], dock)
        dock.show()
        dock.raise_()
        QTimer.singleShot(0, lambda: self._keep_size(window))

    def _keep_size(self, window: QMainWindow) -> None:
        """Undo any growth of the window (a relayout that ran before the tabbing)."""
        size = self._size
        try:
            grown = size is not None and window.height() > size.height()
            if grown and not (window.isMaximized() or window.isFullScreen()):
                window.resize(window.width(), size.height())
        except RuntimeError:  # the window was closed meanwhile
            return


def fit_rows(table, on_change: Callable[[], None] = lambda: None) -> Callable[[], None]:
    """Keep a table exactly as tall as its header and rows: it never scrolls vertically.

    Parameters
    ----------
    table : magicgui.widgets.Table or QTableView
        The table (its rows have a fixed height; a horizontal scroll bar is added to the
        height when the columns are wider than the table).
    on_change : callable
        Called after the height changed (to relayout what holds the table).

    Returns
    -------
    callable
        Refits the table; call it after setting its data. It also refits when resized.
    """
    view = getattr(table, "native", table)
    fitter = _FitRows(view, on_change)
    return fitter.fit


class _FitRows(QObject):
    def __init__(self, view, on_change: Callable[[], None]) -> None:
        super().__init__(view)  # lives as long as the table
        self._view = view
        self._on_change = on_change
        view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        view.installEventFilter(self)

    def fit(self) -> None:
        view = self._view
        frame = 2 * view.frameWidth()
        rows, columns = view.verticalHeader(), view.horizontalHeader()
        wide = columns.length() + rows.sizeHint().width() + frame > view.width()
        bar = view.horizontalScrollBar().sizeHint().height() if wide else 0
        height = rows.length() + columns.sizeHint().height() + frame + bar + 2
        if view.minimumHeight() != height or view.maximumHeight() != height:
            view.setFixedHeight(height)
            self._on_change()

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        """Refit when the table is resized (a narrower dock may need a horizontal bar)."""
        if event.type() == QEvent.Type.Resize:
            self.fit()
        return False


class Section(QWidget):
    """A titled section that opens and closes; open, it is as tall as its content.

    Parameters
    ----------
    title : str
        The text of the button that opens and closes it.
    content : QWidget
        What the open section shows.
    tooltip : str
        What the section is for (the tooltip of its button).

    Notes
    -----
    It has the methods of superqt's ``QCollapsible`` that the docks use (``isExpanded``,
    ``expand``, ``collapse``, ``toggled``) but no height limit of its own: a section that
    animates its maximum height clips content that grows after it opened.
    """

    toggled = Signal(bool)

    def __init__(self, title: str, content: QWidget, tooltip: str = "") -> None:
        super().__init__()
        self._button = QToolButton()
        self._button.setText(title)
        self._button.setToolTip(tooltip)
        self._button.setCheckable(True)
        self._button.setAutoRaise(True)
        self._button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._button.toggled.connect(self._show)
        self._content = content
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self._button)
        box.addWidget(content)
        self._show(False)

    def _show(self, expanded: bool) -> None:
        arrow = Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow
        self._button.setArrowType(arrow)
        self._content.setVisible(expanded)
        self.toggled.emit(expanded)

    def isExpanded(self) -> bool:  # noqa: N802 (QCollapsible's name)
        """Whether the section is open."""
        return self._button.isChecked()

    def expand(self, animate: bool = False) -> None:
        """Open the section (``animate`` is accepted as QCollapsible does; it never animates)."""
        self._button.setChecked(True)

    def collapse(self, animate: bool = False) -> None:
        """Close the section."""
        self._button.setChecked(False)


def reveal(scroll, first: QWidget, last: QWidget | None = None) -> None:
    """Scroll ``scroll`` (a QScrollArea) so ``first`` to ``last`` are in view, top first.

    Done on the next turn of the event loop, after the widgets shown meanwhile (magicgui
    shows rebuilt radio buttons then) and the layouts they and a new text ask for: each
    widget's layout, done, asks its parent's (a new posted request, left to the next
    round). What is taller than the view shows its top.
    """

    def scroll_to() -> None:
        for _ in range(LAYOUT_DEPTH):
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        panel, bar = scroll.widget(), scroll.verticalScrollBar()
        top = first.mapTo(panel, QPoint(0, 0)).y()
        end = last or first
        bottom = end.mapTo(panel, QPoint(0, 0)).y() + end.height()
        value = max(bar.value(), bottom - scroll.viewport().height())  # the bottom into view
        bar.setValue(min(value, top))  # but never past the top

    def safely() -> None:
        with contextlib.suppress(RuntimeError):  # the dock was closed meanwhile
            scroll_to()

    QTimer.singleShot(0, safely)


def scroll_panel(*widgets, min_height: int = 260) -> QScrollArea:
    """The widgets stacked in a vertical scroll area, so the dock itself can stay short.

    napari docks a widget's ``native`` directly, so magicgui's own scrollable wrapper would be
    dropped; the scroll area is built here instead. Its width follows the panel's least
    width (:class:`_FitsWidth`): fixed when built, before napari's style and the texts set
    later, the panel came out up to 24 px wider than the dock, its right edge cut off.
    """
    panel = QWidget()
    box = QVBoxLayout(panel)
    box.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        box.addWidget(widget)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(panel)
    scroll.setMinimumHeight(min_height)
    fits = _FitsWidth(scroll)
    panel.installEventFilter(fits)
    fits.fit()
    return scroll


class _FitsWidth(QObject):
    """Keeps a scroll area at least as wide as its panel needs, as the panel changes."""

    EVENTS = (QEvent.Type.LayoutRequest, QEvent.Type.StyleChange, QEvent.Type.FontChange,
              QEvent.Type.Show)  # fmt: skip

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self.scroll = scroll

    def fit(self) -> None:
        scroll = self.scroll
        bar = scroll.verticalScrollBar().sizeHint().width()
        width = scroll.widget().minimumSizeHint().width() + bar + 2 * scroll.frameWidth() + 4
        if width != scroll.minimumWidth():
            scroll.setMinimumWidth(width)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in self.EVENTS:
            self.fit()
        return False
