"""The Predict and Weight map docks' steps of ``benchmarks/big_image_gui.py``.

- Predict: Predict the whole image until the result layer is shown; Predict again (nothing
  painted: the result goes into the same layer). The model is a tiny U-Net (8 base channels,
  3 levels, ``tests/tiny_model.py``) trained for a few seconds before the steps, or with
  ``--predict-model nuclei`` the built-in 'nuclei' model (minutes per run at 8192 x 8192 on
  2 CPU cores);
- Weight map: Compute until the weight map is shown; a brush stroke, then Compute again;
  Compute with a polygon Shapes region covering about half of the image.
"""

from __future__ import annotations

import numpy as np

#: The Predict dock's models: a tiny U-Net trained here, or the built-in 'nuclei' model.
PREDICT_MODELS = ("tiny", "nuclei")


def _tiny_model():
    """``(model, metadata)`` of the tiny U-Net the widget tests use (trained in seconds)."""
    from tiny_model import train_tiny  # tests/ is on sys.path (big_image_gui.py)

    return train_tiny("same", steps=150)


def predict(bench, steps, image: np.ndarray, model: str = "tiny") -> None:
    """The Predict dock on the whole image, twice (the second run into the same layer)."""
    from napari_unet.widgets._predict_form import BUILTINS
    from napari_unet.widgets.predict import PredictWidget, result_name

    viewer, app = bench.new_viewer()
    layer = viewer.add_image(image, name="cells")
    dock = PredictWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Predict")
    if model == "tiny":
        dock.set_model(*_tiny_model(), name="tiny")
    else:
        dock._source.value = next(k for k, v in BUILTINS.items() if v == model)
    dock._image.value = layer
    bench.pump(app, 0.5)
    name = result_name("cells", dock._form.model_name or model)

    def run(what: str) -> None:
        dock._run.native.click()
        bench.wait(app, lambda: dock._worker is None and dock._run.enabled, what)
        if name not in viewer.layers:
            raise RuntimeError(f"Predict showed no result: {dock._status.value}")
        bench.pump(app, 0.5)

    with steps.step("Predict", f"Predict whole image (model '{model}') until shown"):
        run("the prediction")
    shown = viewer.layers[name]
    with steps.step("Predict", "Predict again (into the same layer)"):
        run("the second prediction")
    labels = [ly for ly in viewer.layers if type(ly).__name__ == "Labels"]
    if viewer.layers[name] is not shown or len(labels) != 1:
        raise RuntimeError("the second prediction did not go into the same layer")
    bench.close_viewer(viewer, app)


def weightmap(bench, steps, cells: np.ndarray) -> None:
    """The Weight map dock: Compute; a stroke and Compute; Compute inside a polygon region."""
    from napari_unet.widgets.weightmap import WeightMapWidget

    size = cells.shape[0]
    viewer, app = bench.new_viewer()
    labels = viewer.add_labels(cells.astype(np.int32), name="cells")
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    viewer.layers.selection.active = labels
    dock._labels_box.value = labels
    bench.pump(app, 0.5)

    def compute(what: str) -> None:
        shown = viewer.layers["cells weights"].data if "cells weights" in viewer.layers else None
        dock._run.native.click()
        idle = lambda: dock._worker is None and not dock._timer.isActive() and not dock._pending  # noqa: E731
        bench.wait(app, idle, what)
        if "cells weights" not in viewer.layers or viewer.layers["cells weights"].data is shown:
            raise RuntimeError(f"Weight map showed no new map: {dock._status.value}")
        bench.pump(app, 0.5)

    with steps.step("Weight map", "Compute until shown"):
        compute("the weight map")
    with steps.step("Weight map", "a brush stroke, then Compute"):
        labels._begin_stroke()
        for j in range(20):
            labels.paint((size // 3 + 3 * j, size // 3 + 2 * j), int(cells.max()) + 1)
        labels._commit_stroke()
        bench.pump(app, 0.2)
        compute("the weight map after the stroke")
    # A polygon (not a rectangle: rasterised by the scanline fill) over about half the image.
    s = size - 1
    polygon = np.array([[0, 0], [0, s], [s * 0.45, s], [s * 0.55, s * 0.5], [s * 0.55, 0]])
    region = viewer.add_shapes([polygon], shape_type="polygon", name="region")
    viewer.layers.selection.active = labels
    bench.pump(app, 0.5)
    dock._mask.value = region
    with steps.step("Weight map", "Compute with a polygon region (half the image)"):
        compute("the weight map in the region")
    bench.close_viewer(viewer, app)
