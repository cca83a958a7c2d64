"""Regenerate the picture sequence of docs/live.md: the view improving while cells are painted.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/live_screenshots.py [SHARED_DATA]

It opens a histology training image of the shared DSB2018 set (the built-in fluorescence
model finds nothing there), starts the Live dock with that model (chosen by name: the
default, auto, would choose nuclei-brightfield for this image), and paints the
ground-truth nuclei one every 3 seconds, as the simulated annotator of benchmarks/live.py
does. It saves the window at the start (``live_1_start.png``) and a strip of the canvas
after 0, 3, 6 and 12 painted cells (``live_2_sequence.png``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
import numpy as np
from annotate_screenshots import save, settle  # the same window shots
from PIL import Image, ImageDraw
from qtpy.QtWidgets import QApplication
from scipy import ndimage as ndi

from napari_unet.core.images.io import read_image
from napari_unet.widgets._predict_form import BUILTIN
from napari_unet.widgets.live import LiveWidget

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NAME = "646_f952cc653760"  # the histology training image with the most nuclei
MARKS = (0, 3, 6, 12)


def pump(seconds: float) -> None:
    """Process GUI events for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def canvas(viewer) -> Image.Image:
    """The canvas alone."""
    settle()
    return Image.fromarray(viewer.screenshot(canvas_only=True, flash=False)[..., :3])


def main() -> None:
    """Paint, train live, and save the pictures."""
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"
    src = data.absolute() / "dsb2018_full"
    image = np.asarray(read_image(src / "images" / f"{NAME}.png"))
    truth = np.asarray(read_image(src / "masks" / f"{NAME}.tif"))
    viewer = napari.Viewer(title="napari-unet: train while you paint", show=True)
    viewer.window._qt_window.resize(1400, 820)
    image_layer = viewer.add_image(image, name="histology")
    labels = viewer.add_labels(np.zeros(truth.shape, np.int32), name="histology annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image_layer, labels
    widget._model.value = BUILTIN  # the fluorescence model: learning histology from nothing
    viewer.reset_view()
    widget.start()
    pump(3.0)
    save(viewer, "live_1_start.png")
    # The most central nuclei first: what a person looking at the middle would paint.
    centre = np.array(truth.shape) / 2
    objs = [k + 1 for k, sl in enumerate(ndi.find_objects(truth)) if sl is not None]
    dist = {o: np.hypot(*(np.argwhere(truth == o).mean(0) - centre)) for o in objs}
    order = sorted(objs, key=dist.get)
    shots = []
    for n in range(max(MARKS) + 1):
        if n in MARKS:
            widget._request_view()
            pump(2.0)
            shots.append((n, widget.trainer.step, canvas(viewer)))
        if n < max(MARKS):
            pixels = np.nonzero(truth == order[n])
            labels.data_setitem(pixels, n + 1)
            pump(3.0)
    widget.stop()
    strip = Image.new("RGB", (4 * 330 + 30, 290), (38, 41, 48))
    draw = ImageDraw.Draw(strip)
    for k, (n, step, shot) in enumerate(shots):
        w, h = shot.size
        crop = shot.crop(((w - 330) // 2, (h - 260) // 2, (w + 330) // 2, (h + 260) // 2))
        strip.paste(crop, (k * 340, 30))
        draw.text((k * 340 + 6, 8), f"{n} cells painted, step {step}", fill=(230, 230, 230))
    strip = strip.quantize(colors=160)
    strip.save(HERE / "live_2_sequence.png", optimize=True)
    print("wrote live_2_sequence.png", [(n, s) for n, s, _ in shots])
    viewer.close()


if __name__ == "__main__":
    main()
