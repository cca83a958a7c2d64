"""The Live dock's responsiveness in a real viewer (``python benchmarks/live.py --gui``).

On the first 1024 x 1024 brightfield training image of ``dsb2018_full`` (the built-in model
finds nothing there), with the whole image in view: live training runs while the
ground-truth cells are painted one every ``--pace`` seconds (each in three strokes, a brush's
worth of pixels apiece). Prints the GUI thread's gaps (a 10 ms timer: p50, p99, max), the
seconds from a stroke to the trainer using it, and the seconds to predict the view.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402
from gui_meter import GapMeter  # noqa: E402


def pump(app, seconds: float) -> None:
    """Process GUI events for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def measure(args) -> None:
    """Run the dock and print the table."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_unet.widgets.live import LiveWidget

    item = next(
        r for r in dsb_full.split(args.data, kinds=("brightfield",), extra_val=0)["train"]
        if r.group.endswith("1024x1024")
    )  # fmt: skip
    image, truth = dsb_full.load(args.data, item)
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    image_layer = viewer.add_image(image, name="brightfield")
    labels = viewer.add_labels(np.zeros(truth.shape, np.int32), name="annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    viewer.reset_view()
    pump(app, 0.5)
    views = []
    original = widget._on_view
    widget._on_view = lambda result: (views.append(result), original(result))
    widget._bridge.view.disconnect()
    widget._bridge.view.connect(widget._on_view)
    widget._image_box.value, widget._labels_box.value = image_layer, labels
    widget.start()
    trainer = widget.trainer
    while not views:
        pump(app, 0.05)
    meter = GapMeter()
    meter.start()
    sent = {}
    objects = [k + 1 for k, sl in enumerate(ndi.find_objects(truth)) if sl is not None]
    for n, obj in enumerate(objects[: args.objects]):
        pixels = np.nonzero(truth == obj)
        for part in np.array_split(np.arange(len(pixels[0])), 3):
            labels.data_setitem((pixels[0][part], pixels[1][part]), n + 1)
            sent[trainer.last_update] = time.monotonic()
            pump(app, 0.1)
        pump(app, max(0.0, args.pace - 0.3))
    meter.stop()
    widget.stop()
    gaps = meter.percentiles()
    lat = [trainer.applied_at[u] - sent[u] for u in sent if u in trainer.applied_at]
    biggest = max(v.labels.size for v in views)
    full = [v.seconds for v in views if v.labels.size == biggest]
    shape = next(v.labels.shape for v in views if v.labels.size == biggest)
    rows = [
        ("image", f"{item.name} (1024 x 1024), {n + 1} cells painted in {len(sent)} strokes"),
        ("training steps during the run", str(trainer.step)),
        ("view precision", trainer.view_precision),
        ("GUI gap p50 / p99 / max (ms)",
         f"{gaps['p50']:.0f} / {gaps['p99']:.0f} / {gaps['max']:.0f}"),
        ("stroke to training, median / max (s)", f"{statistics.median(lat):.3f} / {max(lat):.3f}"),
        (f"view predicted ({shape[0]} x {shape[1]}, in view + halo), median / max (s)",
         f"{statistics.median(full):.2f} / {max(full):.2f} ({len(full)} views)"),
    ]  # fmt: skip
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    viewer.close()
