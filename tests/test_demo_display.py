"""``napari-unet demo``: the whole sample in view, and one error line where there is no display."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from napari_unet.cli import _display, demo


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any display or Qt platform choice, plus ``extra``."""
    drop = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def run_demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # The timeout bounds "quickly": Qt's abort or a hang would not finish, or not with 2.
    return subprocess.run(
        [sys.executable, "-m", "napari_unet", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


# -- no display: one line and exit status 2, never Qt's abort (134) --------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays only")
@pytest.mark.parametrize(
    ("display", "reason"),
    [(None, "there is no display"), (":99999", "cannot connect to the display :99999")],
    ids=["unset", "unreachable"],
)
def test_demo_without_a_display_prints_one_error_line(display, reason):
    env = clean_env() if display is None else clean_env(DISPLAY=display)
    result = run_demo(env)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("napari-unet demo: error: ")
    assert reason in lines[0]
    assert "xvfb-run" in lines[0] and "--screenshot" in lines[0]  # what to do instead


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays only")
def test_the_probe_accepts_a_working_display_and_a_headless_platform(monkeypatch, qapp):
    from qtpy.QtGui import QGuiApplication

    if QGuiApplication.platformName() != "xcb":
        pytest.skip("the tests run without an X display")
    assert _display.display_problem() is None  # the tests' own (virtual) display
    monkeypatch.setenv("DISPLAY", ":99999")
    assert "cannot connect" in _display.display_problem()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # the user's choice: no display needed
    assert _display.display_problem() is None


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("qt.qpa.xcb: could not connect to display :7\nAborted", "cannot connect to the display"),
        (
            "qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt "
            "xcb platform plugin.\nqt.qpa.plugin: Could not load the Qt platform plugin",
            "Qt cannot start on the display :7: From 6.5.0, xcb-cursor0",
        ),
        ("ModuleNotFoundError: No module named 'PyQt6'", "no Qt binding is installed"),
        ("Segmentation fault", "Qt could not open a window on the display :7"),
    ],
)
def test_what_qt_printed_becomes_one_line(stderr, expected):
    reason = _display._reason(stderr, ":7")
    assert expected in reason and "\n" not in reason


# What Qt 6 printed (QT_DEBUG_PLUGINS=1) when libqxcb.so needed a library that was not there:
# its own guess blames xcb-cursor0 whatever is missing.
PLUGIN_LIBRARY_MISSING = """\
qt.core.library: "/v/PyQt6/Qt6/plugins/platforms/libqxcb.so" cannot load: Cannot load library \
/v/PyQt6/Qt6/plugins/platforms/libqxcb.so: libxcb-shape.so.0: cannot open shared object file: \
No such file or directory
qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform \
plugin.
qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.
"""

# PyQt6 installed, but its QtCore cannot load: qtpy then says no binding was found.
BINDING_LIBRARY_MISSING = """\
PyQt6: libglib-2.0.so.0: cannot open shared object file: No such file or directory
Traceback (most recent call last):
qtpy.QtBindingsNotFoundError: No Qt bindings could be found
"""


@pytest.mark.parametrize(
    ("stderr", "library"),
    [(PLUGIN_LIBRARY_MISSING, "libxcb-shape.so.0"), (BINDING_LIBRARY_MISSING, "libglib-2.0.so.0")],
    ids=["platform-plugin", "binding"],
)
def test_a_missing_system_library_is_named(stderr, library):
    reason = _display._reason(stderr, ":7")
    assert f"a system library is missing ({library}: cannot open shared object file" in reason
    assert "xcb-cursor0" not in reason and "no Qt binding" not in reason
    assert "\n" not in reason


def test_the_no_binding_hint_names_no_pypi_package_of_that_name():
    # "napari-unet" on PyPI is another project; napari's own extra installs a binding.
    reason = _display._reason("ModuleNotFoundError: No module named 'PyQt6'", ":7")
    assert "napari-unet[" not in reason and "napari[pyqt6]" in reason


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays only")
def test_the_probe_names_the_library_a_binding_could_not_load(tmp_path, monkeypatch):
    """A PyQt6 whose QtCore needs a missing library: the reason names it, not "no binding"."""
    fake = tmp_path / "PyQt6"
    fake.mkdir()
    (fake / "__init__.py").write_text("", encoding="utf-8")
    error = "libglib-2.0.so.0: cannot open shared object file: No such file or directory"
    for module in ("QtCore", "QtGui"):
        (fake / f"{module}.py").write_text(f"raise ImportError({error!r})\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    monkeypatch.setenv("QT_API", "pyqt6")
    monkeypatch.setenv("DISPLAY", ":7")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    reason = _display.display_problem()
    assert reason is not None and "libglib-2.0.so.0: cannot open shared object file" in reason


# -- the screenshot never replaces a file the user has, unless asked ---------------------


def test_a_screenshot_refuses_an_existing_file(tmp_path, capsys):
    from napari_unet.cli import main

    out = tmp_path / "cells.png"
    out.write_bytes(b"a microscopy picture")
    assert main(["demo", "--screenshot", str(out)]) == 2
    assert f"{out} exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert out.read_bytes() == b"a microscopy picture"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays only")
def test_a_screenshot_with_an_unreachable_display_uses_a_virtual_one(tmp_path):
    """DISPLAY set to no server (a closed ssh -X session): Xvfb instead of Qt's abort."""
    from shutil import which

    if which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    out = tmp_path / "demo.png"
    out.write_bytes(b"an earlier picture")  # replaced: --overwrite
    env = clean_env(DISPLAY=":99999")
    result = subprocess.run(
        [sys.executable, "-m", "napari_unet", "demo", "--sample", "touching_cells",
         "--screenshot", "demo.png", "--size", "800x600", "--overwrite"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"saved {out.absolute()} (" in result.stdout  # the absolute path, run from anywhere


# -- the whole sample in view once the docks are in place ------------------------------


def view_box(viewer) -> tuple[np.ndarray, np.ndarray]:
    """The world (y, x) rectangle the canvas shows: napari's public camera and canvas size."""
    from napari_unet.widgets._layers import camera, canvas_size

    cam = camera(viewer)
    half = np.asarray(canvas_size(viewer), float) / cam.zoom / 2
    centre = np.asarray(cam.center[-2:], float)
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("sample", "size"), [("touching_cells", (1200, 800)), ("nuclei", (1400, 900))]
)
def test_the_demo_shows_the_whole_sample_beside_its_docks(qtbot, monkeypatch, sample, size):
    from qtpy.QtWidgets import QApplication

    if sample == "nuclei":
        pytest.importorskip("torch")
    # The tests' virtual screen is small; the window keeps the size asked for, as it
    # would on a screen that large.
    monkeypatch.setattr(demo, "_fit_screen", lambda s: s, raising=False)
    viewer = demo.build_viewer(sample, size, show=True)
    try:
        for _ in range(10):
            QApplication.processEvents()
        assert len(viewer.window.dock_widgets) == 6  # the docks take their room first
        image = viewer.layers[0]
        extent = np.asarray(image.extent.world, float)[:, -2:]  # [[y0, x0], [y1, x1]]
        low, high = view_box(viewer)
        assert np.all(low <= extent[0] + 0.5) and np.all(high >= extent[1] - 0.5), (
            f"view {low} - {high} does not contain the image {extent[0]} - {extent[1]}"
        )
        # Fitted, not merely zoomed out: the image fills most of the canvas one way.
        assert np.max((extent[1] - extent[0]) / (high - low)) > 0.8
    finally:
        viewer.close()


def test_the_demo_segmentation_is_the_predict_docks_own_layer(qtbot, monkeypatch):
    """Before, the demo added a "nuclei segmentation" of its own: pressing Predict added a
    second, overlapping one (and Evaluate compared with it)."""
    pytest.importorskip("torch")
    monkeypatch.setattr(demo, "_fit_screen", lambda s: s, raising=False)
    viewer = demo.build_viewer("nuclei", (1400, 900), show=True)
    try:
        widget = viewer.window.dock_widgets[f"Predict ({demo.PLUGIN})"]
        demo.wait_for_prediction(widget)
        qtbot.waitUntil(lambda: bool(widget._run.enabled), timeout=60_000)
        names = [layer.name for layer in viewer.layers]
        assert names == ["nuclei", "nuclei ground truth", "nuclei segmentation (nuclei)"], names
        assert "objects in 'nuclei segmentation (nuclei)'" in widget._status.value
        widget._run.clicked.emit()  # Predict again: the same layer is updated
        demo.wait_for_prediction(widget)
        qtbot.waitUntil(lambda: bool(widget._run.enabled), timeout=60_000)
        assert [layer.name for layer in viewer.layers] == names
    finally:
        viewer.close()


def test_the_window_is_never_larger_than_the_screen(qapp):
    from qtpy.QtGui import QGuiApplication

    room = QGuiApplication.primaryScreen().availableGeometry()
    width, height = demo._fit_screen((100_000, 100_000))
    assert (width, height) == (room.width(), room.height())
    assert demo._fit_screen((400, 300)) == (min(400, room.width()), min(300, room.height()))
