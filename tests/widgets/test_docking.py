"""The plugin's docks open as tabs and keep the window on a laptop screen (issue 16, point 3).

napari opens a dock from the Plugins menu with ``add_dock_widget`` and no ``tabify``, so
the four docks used to stack and grow the window to 1768 px on a 1080 px screen.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QDockWidget, QLabel, QMainWindow

from napari_unet.widgets._docking import MARK, tab_when_docked
from napari_unet.widgets.annotate import AnnotateWidget
from napari_unet.widgets.weightmap import WeightMapWidget

DOCKS = ("Annotate", "Weight map", "Train", "Predict")


def window_of(viewer, qtbot, width: int, height: int) -> QMainWindow:
    window = viewer.window._qt_window  # the viewer's QMainWindow (napari has no public name)
    window.resize(width, height)
    qtbot.wait(50)
    assert (window.width(), window.height()) == (width, height)
    return window


def open_plugin_docks(viewer, qtbot, names=DOCKS) -> list[QDockWidget]:
    """Open docks one by one, as the Plugins menu does (``add_dock_widget``, no tabify)."""
    docks = []
    for name in names:
        dock, _ = viewer.window.add_plugin_dock_widget("napari-unet", name)
        qtbot.wait(50)  # the menu returns to the event loop between two clicks
        docks.append(dock)
    return docks


@pytest.mark.parametrize("screen", [(1366, 768), (1920, 1080)])
def test_four_docks_open_as_tabs_and_the_window_keeps_its_size(make_napari_viewer, qtbot, screen):
    viewer = make_napari_viewer(show=True)
    window = window_of(viewer, qtbot, *screen)
    docks = open_plugin_docks(viewer, qtbot)
    qtbot.wait(100)
    heights = {d.name: d.minimumSizeHint().height() for d in docks}
    assert window.height() <= screen[1], (window.height(), heights)
    assert window.width() <= screen[0]
    for dock in docks:  # one tab group of all four
        assert {dock, *window.tabifiedDockWidgets(dock)} == set(docks), dock.name
    # The dock opened last is the tab in front; the others are behind it.
    in_front = [d.name for d in docks if not d.widget().visibleRegion().isEmpty()]
    assert in_front == [docks[-1].name]


def test_docks_of_other_plugins_and_other_areas_are_left_alone(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = window_of(viewer, qtbot, 1366, 768)
    foreign = viewer.window.add_dock_widget(QLabel("another plugin"), name="other", area="right")
    left = viewer.window.add_dock_widget(AnnotateWidget(viewer), name="Annotate", area="left")
    qtbot.wait(50)
    annotate_dock, weightmap_dock = open_plugin_docks(viewer, qtbot, ["Annotate", "Weight map"])
    assert window.tabifiedDockWidgets(foreign) == []  # another plugin's dock: left alone
    assert window.tabifiedDockWidgets(left) == []  # another area: left alone
    assert window.tabifiedDockWidgets(weightmap_dock) == [annotate_dock]  # ours join ours
    assert weightmap_dock.widget().property(MARK)


def test_outside_a_main_window_nothing_happens(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    alone = WeightMapWidget(viewer)  # shown on its own, never docked
    alone.native.show()
    qtbot.wait(20)
    floating = QDockWidget("floating")
    label = QLabel("ours")
    tab_when_docked(label)
    floating.setWidget(label)  # a dock, but in no main window
    floating.show()
    qtbot.wait(20)
    assert floating.parentWidget() is None and label.property(MARK)
    alone.native.close()
    floating.close()


def test_the_open_evaluate_section_keeps_the_window_on_screen(make_napari_viewer, qtbot):
    """Ten results in the Evaluate section: the Predict dock scrolls, the window stays."""
    from napari_unet.widgets.predict import PredictWidget

    rng = np.random.default_rng(0)
    gt = np.zeros((10, 40, 40), np.int32)
    for z in range(10):
        for k, (r, c) in enumerate(rng.integers(2, 30, size=(3, 2))):
            gt[z, r : r + 8, c : c + 8] = k + 1
    viewer = make_napari_viewer(show=True)
    window = window_of(viewer, qtbot, 1366, 768)
    viewer.add_image(rng.random((10, 40, 40)), name="img")
    viewer.add_labels(gt, name="img annotations")
    viewer.add_labels(np.roll(gt, 1, axis=2), name="img segmentation")
    docks = open_plugin_docks(viewer, qtbot)
    predict = docks[-1].widget()
    predict = getattr(predict, "_magic_widget", predict)
    assert isinstance(predict, PredictWidget)
    section = predict._evaluate
    section.panel.suggest("img")
    section.expand(animate=False)
    section.panel._run.native.click()
    qtbot.waitUntil(lambda: section.panel.results is not None, timeout=30000)
    qtbot.waitUntil(lambda: section.panel._run.enabled, timeout=30000)
    qtbot.wait(100)
    assert len(section.panel.results[0]) == 10
    assert window.height() <= 768, window.height()
    for table in (section.panel._summary, section.panel._thresholds):
        view = table.native
        last = view.rowCount() - 1
        assert not view.verticalScrollBar().isVisible()
        assert view.rowViewportPosition(last) + view.rowHeight(last) <= view.viewport().height()


@pytest.mark.parametrize(
    "module, cls, names",
    [
        ("annotate", "AnnotateWidget", ("image", "leading axis", "project folder", "prediction",
                                        "min piece (px²)", "TIFF file")),
        ("weightmap", "WeightMapWidget", ("annotations",)),
        ("live", "LiveWidget", ("image", "annotations", "model")),
        ("train", "TrainWidget", ("image", "annotations", "start from", "steps")),
        ("predict", "PredictWidget", ("image",)),
        ("review", "ReviewWidget", ("images",)),
        ("evaluate", "EvaluateWidget", ()),
    ],
)  # fmt: skip
def test_every_dock_names_its_fields(make_napari_viewer, qtbot, module, cls, names):
    """The Annotate dock showed its boxes without a name: its own ``_labels`` attribute (the
    annotations layer) had replaced magicgui's switch for the field names; the Train dock's
    (its labels picker, false while it offers no layer) did the same in an empty viewer."""
    import importlib

    viewer = make_napari_viewer()
    dock = getattr(importlib.import_module(f"napari_unet.widgets.{module}"), cls)(viewer)
    viewer.window.add_dock_widget(dock)
    shown = {label.text().strip() for label in dock.native.findChildren(QLabel)}
    missing = [n for n in names if n not in shown]
    assert not missing, (missing, sorted(shown))


DOCK_CLASSES = [
    ("annotate", "AnnotateWidget"),
    ("weightmap", "WeightMapWidget"),
    ("train", "TrainWidget"),
    ("predict", "PredictWidget"),
    ("evaluate", "EvaluateWidget"),
    ("review", "ReviewWidget"),
    ("live", "LiveWidget"),
]


def _dock_class(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"napari_unet.widgets.{module}"), name)


@pytest.mark.parametrize("module, name", DOCK_CLASSES)
def test_a_dock_never_docked_and_dropped_is_collected_quietly(make_napari_viewer, qtbot,
                                                              module, name):  # fmt: skip
    """Before: Evaluate's collected dock raised an AttributeError in Qt's event loop, and
    Live's crashed napari (its timers stopped while Qt deleted them)."""
    import gc

    viewer = make_napari_viewer()
    widget = _dock_class(module, name)(viewer)
    del widget
    gc.collect()
    qtbot.wait(50)  # pytest-qt fails the test on an exception raised in the event loop


@pytest.mark.parametrize("module, name, method", [
    ("evaluate", "EvaluateWidget", "_closed"),
    ("live", "LiveWidget", "stop"),
    ("train", "TrainWidget", "shutdown"),
    ("predict", "PredictWidget", "_closed"),
    ("review", "ReviewWidget", "_closed"),
])  # fmt: skip
def test_a_docked_dock_hears_napari_close(make_napari_viewer, qtbot, monkeypatch,
                                          module, name, method):  # fmt: skip
    """Held only by napari (no reference of ours), closing napari still stops its work."""
    import gc

    cls = _dock_class(module, name)
    calls = []
    monkeypatch.setattr(cls, method, lambda self, *_: calls.append(self))
    viewer = make_napari_viewer()
    viewer.window.add_dock_widget(cls(viewer))
    gc.collect()
    viewer.close()
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=5000)
    assert isinstance(calls[0], cls)
