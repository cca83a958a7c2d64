"""Closing napari while a dock works: the Train dock saves and ends at once, the Weight map
dock adds nothing and touches no deleted widget.

napari's close quits every worker it knows (its task manager's ``cancel_all``); a quit
generator worker leaves its generator suspended. The Train dock then waited for a job that
would never end: 30 s, twice (about 60 s of a frozen window), and its run was not saved.
"""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")

from test_worker_failures import tiny_train_dock  # noqa: E402

from napari_unet import load_model, touching_cells  # noqa: E402


def held_weight_maps(monkeypatch) -> dict:
    """Weight-map runs wait until ``gate["open"]`` (the dock is closed meanwhile)."""
    from napari_unet.widgets import weightmap as weightmap_module

    gate = {"open": False}
    real = weightmap_module.iter_target_and_weights

    def held(labels, **kwargs):
        while not gate["open"]:
            time.sleep(0.01)
        return (yield from real(labels, **kwargs))

    monkeypatch.setattr(weightmap_module, "iter_target_and_weights", held)
    return gate


@pytest.mark.usefixtures("one_thread")
def test_closing_napari_mid_training_saves_the_run_and_ends_it(
    make_napari_viewer, qtbot, tmp_path
):
    viewer = make_napari_viewer(show=True)
    out = tmp_path / "m.safetensors"
    widget = tiny_train_dock(viewer, out, steps=100_000)
    widget._start.native.click()
    qtbot.waitUntil(lambda: bool(widget._stepped), timeout=60_000)
    assert not widget._done.is_set()  # still training
    viewer.close()  # napari quits the worker, then the dock's shutdown waits for the run
    assert widget._done.is_set()  # before: never, within the 30 s waited twice
    steps = load_model(out)[1]["provenance"]["steps"]
    assert 0 < steps < 100_000  # the run was stopped and saved, not abandoned


def test_closing_napari_mid_weight_map_adds_nothing(make_napari_viewer, qtbot, monkeypatch):
    from napari_unet.widgets.weightmap import WeightMapWidget

    gate = held_weight_maps(monkeypatch)
    viewer = make_napari_viewer()
    viewer.add_labels(touching_cells((64, 64), n_cells=6, seed=1)[1], name="cells")
    widget = WeightMapWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    viewer.layers.selection.active = viewer.layers["cells"]
    widget._run.native.click()
    viewer.window.remove_dock_widget(dock)  # removed mid-run: its result is dropped
    gate["open"] = True
    qtbot.wait(500)
    assert [ly.name for ly in viewer.layers] == ["cells"]
    assert widget._worker is None


def test_a_weight_map_dock_added_back_is_ready_and_a_removed_one_computes_nothing(
    make_napari_viewer, qtbot, monkeypatch
):
    """A review found the re-added dock stuck on "Computing..." of the dropped run, and a
    removed dock updating on change still adding its layers after an edit."""
    from napari_unet.widgets.weightmap import WeightMapWidget

    gate = held_weight_maps(monkeypatch)
    viewer = make_napari_viewer()
    labels = touching_cells((64, 64), n_cells=6, seed=1)[1]
    layer = viewer.add_labels(labels, name="cells")
    widget = WeightMapWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    viewer.layers.selection.active = layer
    widget._live.value = True
    widget._run.native.click()
    viewer.window.remove_dock_widget(dock)
    gate["open"] = True
    edited = labels.copy()
    edited[:5, :5] = 99
    layer.data = edited  # an edit while the dock is out of napari
    qtbot.wait(1000)
    assert [ly.name for ly in viewer.layers] == ["cells"]  # nothing computed, nothing added
    viewer.window.add_dock_widget(widget)
    assert widget._status.value.startswith("Ready: press Compute weight map")
    widget._run.native.click()
    qtbot.waitUntil(lambda: "cells weights" in viewer.layers, timeout=20_000)
