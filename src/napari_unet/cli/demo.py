"""``napari-unet demo``: napari with a sample image and every napari-unet dock widget."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from napari_unet.cli._args import add_option
from napari_unet.core.errors import InputError

SAMPLES = ("nuclei", "touching_cells")
PLUGIN = "napari-unet"
#: The smallest ``--size``: the plugin's dock is about 440 px wide, the window at least about
#: 600 px high; narrower, no room is left for the image.
MIN_SIZE = (800, 600)
#: A canvas narrower than this beside the docks (px) gets the room of napari's layer list
#: and layer controls (hidden; the Window menu shows them again). Before, at 800x600 the
#: canvas was a 17 px strip and the screenshot showed none of the sample.
MIN_CANVAS = 400


def add_parser(subparsers) -> None:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="open napari with a sample image and all napari-unet widgets",
        description=(
            "Open napari with a sample image and every napari-unet dock widget docked. "
            "With --screenshot, render the window to a PNG and exit (works without a display "
            "when Xvfb is installed)."
        ),
    )
    add_option(parser, "--sample", key="sample", choices=SAMPLES, default="nuclei")
    add_option(parser, "--screenshot", key="screenshot", type=Path, metavar="PNG")
    add_option(parser, "--size", key="size", default="1600x1000", metavar="WxH")
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    parser.set_defaults(func=run)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 1600x1000; got {text!r}") from None
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise InputError(
            f"--size must be at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (smaller, the docks leave "
            f"no room for the image); got {text}"
        )
    if width > 8192 or height > 8192:  # larger: OpenGL errors, or a crash of the process
        raise InputError(f"--size must be at most 8192 a side; got {text}")
    return width, height


def build_viewer(sample: str = "nuclei", size: tuple[int, int] = (1600, 1000), show: bool = True):
    """Create the demo viewer: the sample's layers and every plugin widget docked.

    The view is fitted last, once the docks have taken their room, so the whole sample is
    in the canvas that remains.

    Returns
    -------
    napari.Viewer
        The viewer, with its dock widgets in ``viewer.window.dock_widgets``.
    """
    import napari
    from npe2 import PluginManager

    viewer = napari.Viewer(title="napari-unet demo", show=show)
    viewer.window.resize(*_fit_screen(size))
    viewer.open_sample(PLUGIN, sample)
    manifest = PluginManager.instance().get_manifest(PLUGIN)
    widgets = manifest.contributions.widgets or []
    for index, contribution in enumerate(widgets):
        # The first widget gets its own dock; the others share it as tabs, so the canvas
        # keeps its room on a laptop screen.
        viewer.window.add_plugin_dock_widget(PLUGIN, contribution.display_name, tabify=index > 0)
    if sample == "nuclei":
        _predict_sample(viewer)
    _make_room(viewer)
    fit_view(viewer)  # (lets the docks settle into their tabs first)
    _raise_dock(viewer, "Predict")  # the tab that explains the overlay (not the last, Review)
    return viewer


def _raise_dock(viewer, name: str) -> None:
    """Bring the plugin's dock ``name`` to the front of its tabs."""
    widget = viewer.window.dock_widgets.get(f"{name} ({PLUGIN})")
    dock = None if widget is None else getattr(widget, "native", widget).parentWidget()
    while dock is not None and not hasattr(dock, "toggleViewAction"):
        dock = dock.parentWidget()
    if dock is not None:
        dock.raise_()


def _make_room(viewer) -> None:
    """Hide napari's layer list and layer controls if the canvas is narrower than MIN_CANVAS.

    A small window (or screen) keeps the plugin's dock and a canvas that shows the sample;
    napari's Window menu (Layer List, Layer Controls) shows the two docks again.
    """
    from qtpy.QtWidgets import QApplication, QDockWidget

    for _ in range(5):  # the docks' layout first
        QApplication.processEvents()
    if int(viewer.canvas.size[-1]) >= MIN_CANVAS or not viewer.window.dock_widgets:
        return
    widget = next(iter(viewer.window.dock_widgets.values()))
    window = getattr(widget, "native", widget).window()
    for dock in window.findChildren(QDockWidget):
        if dock.objectName() in ("layer list", "layer controls"):
            dock.hide()


def _fit_screen(size: tuple[int, int]) -> tuple[int, int]:
    """``size``, made no larger than the screen (a window manager would shrink it later)."""
    from qtpy.QtGui import QGuiApplication

    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return size
    room = screen.availableGeometry()
    return min(size[0], room.width()), min(size[1], room.height())


def fit_view(viewer) -> None:
    """Fit all layers into the canvas as it is laid out now (after docks were added).

    napari fits the view to the canvas size it knows; the pending layout events give the
    canvas its final size first.
    """
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()


def _predict_sample(viewer) -> None:
    """Press the Predict dock's Predict on the nuclei sample (its default model: auto).

    The result is the dock's own layer (``nuclei segmentation (nuclei)``): pressing Predict
    again updates it. Before, the demo added a layer of its own beside it, and a second,
    overlapping segmentation appeared (Evaluate then also compared with it). The other
    sample layers (ground truth) stay, hidden.
    """
    for layer in viewer.layers:
        if layer.name != "nuclei":
            layer.visible = False
    widget = viewer.window.dock_widgets.get(f"Predict ({PLUGIN})")
    if widget is not None:
        widget._run.clicked.emit()  # as a click does; the run ends in about a second


def wait_for_prediction(widget, seconds: float = 120.0) -> None:
    """Let the Predict dock's run end (a screenshot shows its result)."""
    import time

    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while widget is not None and widget._worker is not None and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


#: What to do instead, after the one-line reason Qt could not open a window.
NO_DISPLAY_HINT = (
    "run it in a desktop session, under xvfb-run -a, or with --screenshot PNG to save a "
    "picture of the window without a display"
)


def run(args: argparse.Namespace) -> int:
    """Open the demo, or save its screenshot and exit."""
    size = _parse_size(args.size)
    if args.screenshot is None:
        _require_display()
        import napari

        build_viewer(args.sample, size)
        napari.run()
        return 0

    out = args.screenshot
    if out.suffix.lower() != ".png":
        raise InputError(f"--screenshot must name a .png file; got {out}")
    if not out.parent.resolve().is_dir():
        raise InputError(f"--screenshot: the folder {out.parent} does not exist")
    if out.is_dir():
        raise InputError(f"--screenshot: {out} is a folder; name a .png file")
    if out.exists() and not args.overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    from napari_unet.core.files import check_outputs

    check_outputs([out], [])  # an unwritable folder: before, napari ran first, then an errno
    with _usable_display(size):
        return _screenshot(args.sample, size, out)


def _require_display() -> None:
    """Raise a one-line InputError where Qt would abort the process for want of a display."""
    from napari_unet.cli._display import display_problem

    problem = display_problem()
    if problem is not None:
        raise InputError(f"{problem}; {NO_DISPLAY_HINT}")


@contextlib.contextmanager
def _usable_display(size: tuple[int, int]):
    """The user's display if Qt can open a window on it, else a virtual one (Xvfb)."""
    from napari_unet.cli._display import display_problem, virtual_display

    if display_problem() is None:
        yield
        return
    with virtual_display((size[0] + 64, size[1] + 64)) as name:
        problem = display_problem()
        if problem is not None:
            raise InputError(f"Qt cannot open a window on the virtual display {name}: {problem}")
        yield


def _screenshot(sample: str, size: tuple[int, int], out: Path) -> int:
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from napari_unet.core.images.io import write_image

    viewer = build_viewer(sample, size, show=True)
    try:
        wait_for_prediction(viewer.window.dock_widgets.get(f"Predict ({PLUGIN})"))
        for _ in range(20):
            QApplication.processEvents()
        picture = np.asarray(viewer.screenshot(canvas_only=False, flash=False))
        write_image(out, picture.astype(np.uint8))
    finally:
        viewer.close()
    print(f"saved {out.absolute()} ({picture.shape[1]}x{picture.shape[0]} pixels)")
    return 0
