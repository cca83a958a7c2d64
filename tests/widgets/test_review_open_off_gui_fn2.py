"""Opening a folder in the Review dock builds no predictor on the GUI thread.

Old: ``Prefetcher.__init__`` imported the predictor (and so PyTorch, 2-5 s the first time)
on the GUI thread, even with the built-in ``auto`` model whose models the prefetch thread
loads itself: napari froze for 5 to 7 s at Open. Checked in a fresh interpreter (this one
imported torch long ago): which thread first imports torch and the predictor's module.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("napari")
pytest.importorskip("torch")

WATCHED = ("torch", "napari_unet.core.inference.plan")

_SCRIPT = """
import json, os, sys, threading, time
from pathlib import Path

first = {}  # module -> imported on the GUI (main) thread


class Finder:
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in first:
            first[name] = threading.current_thread() is threading.main_thread()
        return None


sys.meta_path.insert(0, Finder())
import numpy as np
import napari
from qtpy.QtWidgets import QApplication

from napari_unet.core.images.io import write_image
from napari_unet.widgets._predict_form import BUILTINS
from napari_unet.widgets._review_auto import AutoPrefetcher
from napari_unet.widgets.review import ReviewWidget

folder = Path(sys.argv[1])
images, labels = folder / "images", folder / "labels"
images.mkdir()
labels.mkdir()
lab = np.zeros((48, 48), np.uint32)
lab[8:20, 8:20], lab[28:40, 24:40] = 1, 2
write_image(images / "a.tif", ((lab > 0) * 1000).astype(np.uint16))
write_image(labels / "a_labels.tif", lab)
viewer = napari.Viewer(show=False)
widget = ReviewWidget(viewer)
viewer.window.add_dock_widget(widget, name="Review")
widget._form.images.value, widget._form.labels_folder.value = images, labels
widget._form.model.value = next(iter(BUILTINS))  # auto: each image's built-in model
before = sorted(m for m in WATCHED if m in sys.modules)
opened = widget.open()
app, until = QApplication.instance(), time.monotonic() + 0.3
while time.monotonic() < until:  # what Open queued (the first image asked for) runs too
    app.processEvents()
    time.sleep(0.01)
print(json.dumps({
    "before": before, "opened": opened, "auto": isinstance(widget.prefetcher, AutoPrefetcher),
    "status": widget._status.value, "on_gui_thread": dict(first),
}), flush=True)
os._exit(0)  # the prefetch thread (loading the models) is not waited for
"""


def test_opening_with_auto_imports_no_torch_on_the_gui_thread(tmp_path):
    code = f"WATCHED = {WATCHED!r}\n" + _SCRIPT
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True, text=True, timeout=240, check=True,
    )  # fmt: skip
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["before"] == [], "imported before Open: the check would see nothing"
    assert got["opened"] and got["auto"], got["status"]
    # Old: the predictor's module, and torch with it, imported by the GUI thread in Open.
    assert not any(got["on_gui_thread"].values()), got["on_gui_thread"]
