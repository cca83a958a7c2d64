"""A view or plane predicted into a result layer tells the docks that watch it.

Before, the dock wrote the part in place and only redrew: Evaluate's tables scoring that
layer stayed current (a cross-dock hunt: "AP 0.466" shown for a segmentation rewritten
since), and the Weight map's "update on change" missed it, while a whole-image Predict
told them.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from test_predict_keeps_edits import _sample  # noqa: E402

from napari_unet.widgets._layers import camera  # noqa: E402
from napari_unet.widgets.predict import VIEW, result_name  # noqa: E402


def test_a_view_predicted_in_place_greys_the_tables_that_score_it(
    run_predict, make_napari_viewer, qtbot, tiny
):
    viewer, widget = _sample(make_napari_viewer, tiny)
    widget._threshold.value = 0.8
    run_predict(widget)
    seg = viewer.layers[result_name("touching cells", "A")]
    truth = viewer.add_labels(
        np.array(seg.data), name="touching cells annotations", scale=seg.scale,
        translate=seg.translate,
    )  # fmt: skip
    panel = widget._evaluate.panel
    panel.suggest("touching cells")
    panel._run.native.click()
    qtbot.waitUntil(lambda: bool(panel._run.enabled and panel.results is not None), timeout=60_000)
    assert panel._show_idle()  # current: scored just now
    heard = []
    seg.events.data.connect(lambda event: heard.append(event))
    before = np.array(seg.data)
    widget._scope.value = VIEW
    widget._threshold.value = 0.5
    camera(viewer).center = (10 + 0.5 * 100, 20 + 0.5 * 100)
    camera(viewer).zoom = 3 * camera(viewer).zoom
    run_predict(widget)
    assert viewer.layers[result_name("touching cells", "A")] is seg  # written in place
    assert not np.array_equal(seg.data, before)
    assert heard
    assert not panel._show_idle()  # out of date now
    assert seg.name in panel._edits.names
    assert truth in viewer.layers
