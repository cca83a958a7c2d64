"""The Predict dock while it works: progress with time left, a prompt Cancel, object size,
warnings on images unlike the model's, and messages that never widen the dock."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.core.inference import runner  # noqa: E402
from napari_unet.widgets.predict import BUILTIN, PredictWidget, result_name  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def slow_network(monkeypatch):
    """The network as slow as on a small laptop: 0.5 s for a 512 px tile (timing faked)."""
    calls = []

    def fake_time(model, device, precision, in_channels, side):
        calls.append(side)
        return 0.5 * (side / 512) ** 2

    monkeypatch.setattr(runner, "_time_tile", fake_time)
    monkeypatch.setattr(runner, "_TILE_TIMES", type(runner._TILE_TIMES)())
    return calls


def _dock(make_napari_viewer, image, name="big"):
    viewer = make_napari_viewer()
    viewer.add_image(image, name=name)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = viewer.layers[name]
    return viewer, widget


def _spy(widget, events):
    original = widget._on_progress

    def spy(event, job):
        events.append((event, widget._status.value))
        original(event, job)
        events[-1] = (event, widget._status.value)

    widget._on_progress = spy


def test_progress_moves_tile_by_tile_with_elapsed_and_remaining_time(
    make_napari_viewer, qtbot, slow_network
):
    image, _ = nu.nuclei_data()
    big = np.tile(image, (4, 3))[:1024, :1024]  # one automatic tile by memory alone
    viewer, widget = _dock(make_napari_viewer, big)
    events: list = []
    _spy(widget, events)
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=120_000)
    ticks = [e for e, _ in events if hasattr(e, "done")]
    assert slow_network == [512]  # timed once, on a tile of about 512 px
    assert len(ticks) >= 4 and ticks[-1].done == ticks[-1].total  # not one 0/1 jump
    texts = [s for e, s in events if hasattr(e, "done") and 0 < e.done < e.total]
    assert texts and all("elapsed" in s and "left" in s for s in texts), texts
    assert result_name("big", "nuclei") in viewer.layers


def test_cancel_stops_at_the_next_tile_and_adds_nothing(make_napari_viewer, qtbot, slow_network):
    image, _ = nu.nuclei_data()
    big = np.tile(image, (8, 6))[:2048, :2048]
    viewer, widget = _dock(make_napari_viewer, big)
    events: list = []
    _spy(widget, events)
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: any(hasattr(e, "done") and e.done for e, _ in events), timeout=60_000)
    worker, returned = widget._worker, []
    worker.returned.connect(returned.append)
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        widget._cancel.clicked.emit()
        # The dock is free at once; the worker ends at its next tile.
        assert widget._run.enabled and not widget._cancel.enabled
        assert widget._status.value.startswith("Cancelled")
    total = next(e.total for e, _ in events if hasattr(e, "total"))
    assert not returned and len(events) < total  # stopped, not run to the end
    assert not [ly for ly in viewer.layers if "segmentation" in ly.name]
    assert widget._status.value.startswith("Cancelled")  # late signals changed nothing
    _run_again = widget._run.enabled
    assert _run_again


def test_object_size_estimate_fills_the_box_and_rescales(make_napari_viewer, qtbot):
    from scipy import ndimage

    from napari_unet.core.images.sizes import median_diameter

    image, truth = nu.nuclei_data()
    big = ndimage.zoom(image.astype(np.float32), 2, order=1)  # nuclei twice the model's size
    true_size, _ = median_diameter(ndimage.zoom(truth, 2, order=0))
    viewer, widget = _dock(make_napari_viewer, big)
    assert widget._size.enabled and "17.6 px" in widget._size_note.value
    assert widget._size.value == 0 and widget._size.native.text() == "auto"  # the default
    widget._estimate.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)
    assert abs(widget._size.value / true_size - 1) < 0.2, (widget._size.value, true_size)
    assert "estimated" in widget._size_note.value
    assert not [ly for ly in viewer.layers if "segmentation" in ly.name]  # only measured
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)
    assert "scaled by" in widget._size_note.value
    seg = viewer.layers[result_name("big", "nuclei")]
    assert seg.data.shape == big.shape and seg.data.max() > 50
    labels = np.array(seg.data)
    widget._size.value = 0  # auto: estimated again, as napari-unet predict does
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)
    assert "estimated" in widget._size_note.value and "scaled by" in widget._size_note.value
    model, meta = nu.pretrained("nuclei")
    np.testing.assert_array_equal(seg.data, nu.segment(model, big, metadata=meta))
    widget._size.value = 17.57  # the model's own size: the image's own scale
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)
    assert "scaled by" not in widget._size_note.value
    np.testing.assert_array_equal(seg.data, nu.segment(model, big, metadata=meta, object_size=None))
    assert not np.array_equal(labels, seg.data)


def test_a_model_without_object_size_disables_the_control(make_napari_viewer):
    viewer, widget = _dock(make_napari_viewer, np.zeros((64, 64), np.float32))
    model = nu.build_model({"arch": "unet", "base_channels": 4, "depth": 2})
    widget.set_model(model, {}, name="old")
    assert not widget._size.enabled and not widget._estimate.enabled
    assert "records no object size" in widget._size_note.value
    widget._set_running(True)
    widget._set_running(False)  # a run ended: Estimate came back on, and then failed
    assert widget._run.enabled and not widget._estimate.enabled


def test_an_image_unlike_the_models_data_warns(make_napari_viewer, qtbot, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    image, _ = nu.nuclei_data()
    viewer, widget = _dock(make_napari_viewer, 255 - image, name="inverted")  # dark nuclei
    widget._source.value = BUILTIN  # the fluorescence model (auto would choose brightfield)
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)
    assert shown and "called foreground" in shown[0] and "invert" in shown[0]
    assert "Warning" in widget._status.value
    assert result_name("inverted", "nuclei") in viewer.layers  # still shown, to look at


def test_a_long_message_wraps_instead_of_widening_the_dock(make_napari_viewer, qtbot):
    viewer, widget = _dock(make_napari_viewer, np.zeros((64, 64), np.float32))
    qtbot.wait(50)
    width = widget.native.sizeHint().width()
    long = "the model file could not be read because " + "a/very/long/path/" * 40
    widget._status.value = long
    widget._size_note.value = long
    widget._model_label.value = long
    qtbot.wait(50)
    assert widget.native.sizeHint().width() <= width
    assert widget._status.native.toolTip() == long  # the full text is one hover away


def test_an_estimate_within_the_trained_sizes_leaves_the_box_on_auto(make_napari_viewer):
    """Estimate then Predict must do what ``"estimate"`` does: within the sizes the model
    saw in training it predicts at the image's own scale, so the box is not filled in."""
    from napari_unet.core.inference.scale import ObjectSize
    from napari_unet.core.inference.segment import estimate_from_labels

    _, widget = _dock(make_napari_viewer, np.zeros((64, 64), np.uint8))
    widget._size.value = 30.0  # a size from an earlier image
    labels = np.zeros((200, 200), np.int32)
    for k in range(9):  # nine 16 x 16 squares: about 18 px across, the model's own size
        labels[20 * k : 20 * k + 16, :16] = k + 1
    size = estimate_from_labels(labels, 17.57, tolerance=1.4)
    assert isinstance(size, ObjectSize) and not size.rescaled
    widget._form.use_estimate(size)
    assert widget._size.value == 0 and "within the sizes" in widget._size_note.value
    far = estimate_from_labels(labels, 40.0, tolerance=1.4)  # objects under half the size
    widget._form.use_estimate(far)
    assert far.rescaled and widget._size.value == round(far.diameter, 1)
