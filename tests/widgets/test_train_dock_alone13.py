"""The Train dock alone: one pair per image and annotations, validation on a training
image warned about, and no blank preview left by a Stop before the first step."""

from __future__ import annotations

import numpy as np
import pytest
from test_train_widget import setup

from napari_unet.widgets.train import SCRATCH

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(dock, steps=2):
    dock._start_from.value = SCRATCH
    dock._preset.value = "tiny"
    dock._start_from.value = SCRATCH
    dock._steps.value = steps


def test_the_same_annotations_with_another_region_are_one_pair(make_napari_viewer, tmp_path):
    """Before, added twice (whole image, then a region): each copy trained the other's
    hold-out strip, and the whole-image copy the unpainted cells outside the region."""
    viewer, dock = setup(make_napari_viewer, tmp_path, steps=2)
    region = viewer.add_shapes([np.array([[0, 0], [95, 60]])], shape_type="rectangle",
                               name="cells annotated region")  # fmt: skip
    dock._image.value = viewer.layers["cells"]
    dock._region.value = None
    dock._add_pair.native.click()
    dock._region.value = region
    dock._add_pair.native.click()
    pairs = dock._form.pairs()
    assert len(pairs) == 1 and pairs[0][2] is region
    assert "takes the region now chosen" in dock._pairs_label.value


def test_a_training_image_as_validation_image_is_warned_about(make_napari_viewer, tmp_path):
    """As `napari-unet train` warns; before, the dock said only 'Validating on ...'."""
    viewer, dock = setup(make_napari_viewer, tmp_path, steps=2)
    dock._val_image.value = viewer.layers["cells"]
    assert "'cells' is also a training image" in dock._status.value


def test_stop_before_the_first_step_leaves_no_blank_preview(make_napari_viewer, qtbot, tmp_path):
    viewer, dock = setup(make_napari_viewer, tmp_path, steps=8)
    _tiny(dock, 8)
    dock._start.native.click()
    dock._stop.native.click()
    qtbot.waitUntil(lambda: dock._done.is_set() and dock._start.enabled, timeout=120_000)
    assert dock._status.value.startswith("stopped before the first step")
    assert not [layer.name for layer in viewer.layers if "preview" in layer.name]


def test_the_default_file_another_programs_run_writes_moves_to_the_next_name(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """A `napari-unet train -o IMAGE.unet.safetensors` running (its claim: a live process of
    this host): before, the dock's run was refused at its start; the default name moves on,
    as it does for another dock's run."""
    import json
    import os
    import socket

    import tifffile
    from test_train_hunt_fixes9 import dock, train

    from napari_unet import touching_cells

    image, labels = touching_cells((96, 96), n_cells=8, seed=0)
    tifffile.imwrite(tmp_path / "img10.tif", image)
    claim = {"pid": os.getppid(), "host": socket.gethostname(), "token": "x", "started": "now"}
    (tmp_path / "img10.unet.safetensors.lock").write_text(json.dumps(claim))
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "img10.tif"))
    viewer.add_labels(labels, name="img10 labels")
    widget = dock(viewer)
    train(qtbot, widget)
    assert not errors, errors
    assert widget._result.saved_to.name == "img10.unet-2.safetensors"
