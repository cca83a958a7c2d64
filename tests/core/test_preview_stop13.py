"""Stop is heard while the training preview segments the view (as in validation).

Before, the preview segmented the whole view after a Stop and yielded it: Stop (and
closing napari) waited 3 s for a 1024 x 1024 view, 11 s for 2048 x 2048, on the CPU.
"""

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import TrainConfig, iter_train, make_pairs, touching_cells  # noqa: E402
from napari_unet.core.training.events import Evaluation, Preview  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    view = np.tile(img, (4, 4))  # several tiles: the preview checks Stop between them
    val = make_pairs([img[:, ::-1]], [lab[:, ::-1]], validation=True)
    return (make_pairs([img], [lab]), val), view


def events_of(pairs, preview, stop, on_event=None):
    cfg = TrainConfig(model="tiny", steps=50, val_every=2, batch_size=1, crop_size=48,
                      device="cpu", prefetch=0)  # fmt: skip
    gen, seen = iter_train(pairs[0], cfg, val=pairs[1], stop=stop, preview=preview), []
    try:
        while True:
            seen.append(next(gen))
            if on_event:
                on_event(seen[-1])
    except StopIteration as done:
        return seen, done.value


def test_stop_before_the_preview_gives_none(data):
    pairs, view = data
    stop = threading.Event()

    def press_stop(ev):
        if isinstance(ev, Evaluation):  # the user presses Stop as the scores come
            stop.set()

    seen, result = events_of(pairs, view, stop, press_stop)
    assert result.stopped and result.steps_done == 2
    assert not any(isinstance(e, Preview) for e in seen)


def test_stop_while_the_preview_segments_ends_it(data):
    pairs, view = data
    stop = threading.Event()

    def view_then_stop():
        stop.set()  # Stop pressed (or napari closed) once the preview has begun
        return view

    seen, result = events_of(pairs, view_then_stop, stop)
    assert result.stopped and result.steps_done == 2
    assert not any(isinstance(e, Preview) for e in seen)


def test_the_preview_comes_without_a_stop(data):
    pairs, view = data
    shown = []

    def keep(ev):
        if isinstance(ev, Preview):
            shown.append(ev)

    seen, result = events_of(pairs, view, lambda: len(shown) > 0, keep)  # Stop once shown
    assert shown and shown[0].labels.shape == view.shape
    assert result.steps_done == 2
