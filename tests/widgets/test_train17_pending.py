"""Train, Evaluate and Live read an accept the Annotate dock is writing only once it is whole.

An accepted prediction is written into the annotations in parts, one per turn of the event
loop. Before, Train's Train (and Evaluate's copy, and the Live dock's Start) read the layer
mid-way: the cells not written yet were trained (or scored) as background, and nothing said
so. Now the parts left are written at once first; while the accept is still computed
(nothing written yet) the dock is refused with a message.

Also the Train dock's own fixes of hunt 17: a typed ``~`` in "save to" and "model file" is
the home folder, and a validation image is scored inside its annotated region only.
"""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from test_annotate16_close_accept import _grid
from test_annotate_widget import WORKER_MS, _image_file, _widget

from napari_unet.widgets import _annotate_work, _session
from napari_unet.widgets import _train_helpers as th

SHAPE = (64, 80)  # as test_annotate16_close_accept's, whose _grid is used
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def held_parts(monkeypatch):
    """The accept's later parts wait (as on a large image) until the test lets them run."""
    held: list = []

    class Timer:
        @staticmethod
        def singleShot(_ms, fn):  # noqa: N802 - Qt's name
            held.append(fn)

    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 300)
    monkeypatch.setattr(_annotate_work, "QTimer", Timer)
    return held


@pytest.fixture
def no_training(monkeypatch):
    """Train runs nothing: the data and keywords it was given are kept."""
    taken: list = []

    def run(data, config, kwargs, done):
        taken.append((data, kwargs))
        done.set()
        return None
        yield  # a generator, as the real one

    monkeypatch.setattr(th, "read_then_train", run)
    return taken


def _annotate_mid_accept(viewer, qtbot, tmp_path):
    """The Annotate dock accepting the grid: its first part written, the others waiting."""
    path, _ = _image_file(tmp_path, shape=SHAPE)
    ann, image = _widget(viewer, qtbot, path)
    pred = viewer.add_labels(_grid(), name="cells segmentation (m)")
    ann._prediction_combo.reset_choices()
    ann._prediction_combo.value = pred
    ann._accept_btn.native.click()
    mid = lambda: bool("Accepting the prediction... " in ann._status.value)  # noqa: E731
    qtbot.waitUntil(mid, timeout=WORKER_MS)
    labels = viewer.layers["cells annotations"]
    assert 0 < np.count_nonzero(labels.data) < 2000  # half written, as on a large image
    return ann, image, labels, pred


def _train_dock(viewer, image, labels, tmp_path):
    from napari_unet.widgets.train import SCRATCH, TrainWidget

    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    train._image.value, train._labels_box.value = image, labels
    train._start_from.value = SCRATCH
    train._preset.value = "tiny"
    train._steps.value, train._batch.value, train._crop.value = 1, 1, 48
    train._device.value = "cpu"
    train._save_path.value = tmp_path / "m.safetensors"
    return train


def test_train_mid_accept_trains_on_the_whole_accept(
    make_napari_viewer, qtbot, tmp_path, held_parts, no_training
):
    viewer = make_napari_viewer()
    ann, image, labels, _ = _annotate_mid_accept(viewer, qtbot, tmp_path)
    train = _train_dock(viewer, image, labels, tmp_path)
    train._start.native.click()
    qtbot.waitUntil(lambda: bool(no_training), timeout=WORKER_MS)
    trained = no_training[0][0]["labels"][0]
    assert np.count_nonzero(trained) == 2000  # every accepted cell, none cut
    np.testing.assert_array_equal(trained > 0, _grid() > 0)
    assert labels.editable and ann._accept_btn.enabled  # the accept has ended
    assert "Accepted 20 predicted cells" in ann._status.value


def test_train_while_the_accept_is_computed_is_refused(
    make_napari_viewer, qtbot, tmp_path, no_training, monkeypatch
):
    gate, real = threading.Event(), _session.acceptance_job

    def slow(*args, **kwargs):
        job = real(*args, **kwargs)
        return lambda: (gate.wait(20), job())[1]

    monkeypatch.setattr(_session, "acceptance_job", slow)
    viewer = make_napari_viewer()
    path, _ = _image_file(tmp_path, shape=SHAPE)
    ann, image = _widget(viewer, qtbot, path)
    ann._prediction_combo.reset_choices()
    ann._prediction_combo.value = viewer.add_labels(_grid(), name="cells segmentation (m)")
    labels = viewer.layers["cells annotations"]
    train = _train_dock(viewer, image, labels, tmp_path)
    ann._accept_btn.native.click()
    try:
        train._start.native.click()  # the accept's worker still computes the change
        qtbot.wait(100)
        assert not no_training  # no run started on the annotations without the accept
        assert "still working on 'cells annotations'" in train._status.value
        assert "then press Train (or Resume) again" in train._status.value
    finally:
        gate.set()
    qtbot.waitUntil(lambda: bool(labels.editable and ann._accept_btn.enabled), timeout=WORKER_MS)
    train._start.native.click()  # once it has ended, Train goes on
    qtbot.waitUntil(lambda: bool(no_training), timeout=WORKER_MS)
    assert np.count_nonzero(no_training[0][0]["labels"][0]) == 2000


def test_evaluate_mid_accept_scores_the_whole_accept(
    make_napari_viewer, qtbot, tmp_path, held_parts, monkeypatch
):
    from napari_unet.widgets import _evaluate_work
    from napari_unet.widgets.evaluate import EvaluateWidget

    copied, real = [], _evaluate_work.copy_layers

    def spy(plan):
        jobs = real(plan)
        copied.append(np.count_nonzero(jobs[0][1][0][1]))  # the ground truth scored
        return jobs

    monkeypatch.setattr(_evaluate_work, "copy_layers", spy)
    viewer = make_napari_viewer()
    _, _, labels, pred = _annotate_mid_accept(viewer, qtbot, tmp_path)
    ev = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(ev)
    ev._ground_truth.value, ev._prediction.value = labels, pred
    ev._run.native.click()
    qtbot.waitUntil(lambda: bool(copied) and ev._run.text == "Evaluate", timeout=WORKER_MS)
    assert copied == [2000]  # the whole accept: the prediction scores AP 1


def test_live_start_mid_accept_trains_on_the_whole_accept(
    make_napari_viewer, qtbot, tmp_path, held_parts, model_file
):
    from test_live_hunt_fixes2 import _applied, _dock

    viewer = make_napari_viewer()
    _, image, labels, _ = _annotate_mid_accept(viewer, qtbot, tmp_path)
    live = _dock(viewer, image, labels, model_file)
    assert live.start(), live._status.value
    try:
        live.trainer.pause()
        _applied(qtbot, live.trainer)
        assert np.count_nonzero(live.trainer.data.labels) == 2000  # painted: all of it
    finally:
        live.stop()


def test_typed_tilde_is_the_home_folder(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, no_training
):
    from napari_unet import touching_cells
    from napari_unet.core.models.pretrained import pretrained_path

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    viewer = make_napari_viewer()
    image, labels = viewer.add_image(img, name="img"), viewer.add_labels(lab, name="img labels")
    train = _train_dock(viewer, image, labels, tmp_path)
    train._save_path.line_edit.value = "~/tuned.safetensors"  # typed, as users do
    shutil.copy(pretrained_path("nuclei"), home / "mine.safetensors")
    train._init_file.line_edit.value = "~/mine.safetensors"
    train._start_from.value = "model file (fine-tune)"
    train._start.native.click()
    assert "~" not in train._status.value  # before: "the folder ~ does not exist"
    qtbot.waitUntil(lambda: bool(no_training), timeout=WORKER_MS)
    kwargs = no_training[0][1]
    assert kwargs["output"] == home / "tuned.safetensors"
    assert kwargs["init"] == home / "mine.safetensors"


def test_validation_is_scored_inside_its_annotated_region(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from napari_unet import touching_cells
    from napari_unet.core.training import pairs as core_pairs

    made, real = [], core_pairs.make_pairs
    viewer = make_napari_viewer()
    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    image, labels = viewer.add_image(img, name="img"), viewer.add_labels(lab, name="img labels")
    vimg, vlab = touching_cells((64, 64), n_cells=8, seed=1)
    part = vlab.copy()
    part[32:] = 0  # the Annotate dock's annotations: the top half painted
    val = viewer.add_image(vimg, name="v")
    viewer.add_labels(part, name="v annotations")
    viewer.add_shapes([np.array([[0, 0], [31, 63]])], shape_type="rectangle",
                      name="v annotated region")  # fmt: skip
    train = _train_dock(viewer, image, labels, tmp_path)

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        if kwargs.get("validation"):
            made.append(out)
            train._stop_flag.set()  # nothing to train: the pairs are what is looked at
        return out

    monkeypatch.setattr(core_pairs, "make_pairs", spy)
    train._val_image.value = val  # picks 'v annotations' itself
    assert "against 'v annotations' inside 'v annotated region'" in train._status.value
    train._start.native.click()
    qtbot.waitUntil(lambda: bool(made and train._done.is_set()), timeout=WORKER_MS)
    (pair,) = made[0]
    expected = np.zeros((64, 64), bool)
    expected[:32] = True
    np.testing.assert_array_equal(pair.mask, expected)  # the bottom half is not background
