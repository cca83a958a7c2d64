"""The Evaluate section pairs a prediction with its own image's ground truth, never another's."""

import numpy as np

from napari_unet.widgets.evaluate import EvaluateWidget

SEG = "{} segmentation (nuclei)"


def labels(k: int) -> np.ndarray:
    lab = np.zeros((30, 30), dtype=np.int32)
    lab[2 + k : 10 + k, 3:12] = 1
    return lab


def docked(viewer) -> EvaluateWidget:
    widget = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Evaluate")
    return widget


def names(widget) -> tuple:
    pred, gt = widget._prediction.value, widget._ground_truth.value
    return (pred and pred.name, gt and gt.name)


def test_a_ground_truth_picked_for_image_a_is_not_kept_for_image_b(make_napari_viewer):
    viewer = make_napari_viewer()
    for k, image in enumerate(("cropA", "cropB")):
        viewer.add_image(np.zeros((30, 30)), name=image)
        viewer.add_labels(labels(k), name=f"{image} ground truth")
    mine = viewer.add_labels(labels(0), name="my truth")
    widget = docked(viewer)
    for image in ("cropA", "cropB"):
        viewer.add_labels(labels(2), name=SEG.format(image))
        widget.suggest(image, SEG.format(image))
    assert names(widget) == (SEG.format("cropB"), "cropB ground truth")
    widget._prediction.value = viewer.layers[SEG.format("cropA")]  # back to A's prediction
    widget._ground_truth.value = mine  # the user's, for A's prediction
    widget.suggest("cropB", SEG.format("cropB"))  # B predicted again
    assert names(widget) == (SEG.format("cropB"), "cropB ground truth")
    assert "'cropB ground truth'" in widget._status.value
    widget.suggest("cropA", SEG.format("cropA"))  # A predicted again: the user's pick stays
    assert names(widget) == (SEG.format("cropA"), "my truth")


def test_picking_another_image_prediction_picks_its_own_ground_truth(make_napari_viewer):
    viewer = make_napari_viewer()
    for k, image in enumerate(("cropA", "cropB")):
        viewer.add_labels(labels(k), name=f"{image} ground truth")
        viewer.add_labels(labels(2), name=SEG.format(image))
    widget = docked(viewer)
    assert names(widget) == (SEG.format("cropB"), "cropB ground truth")
    widget._prediction.value = viewer.layers[SEG.format("cropA")]
    assert names(widget) == (SEG.format("cropA"), "cropA ground truth")


def test_opened_on_two_images_layers_it_pairs_each_prediction_with_its_own(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    for k, image in enumerate(("cropA", "cropB")):
        viewer.add_image(np.zeros((30, 30)), name=image)
        viewer.add_labels(labels(k), name=SEG.format(image))
        viewer.add_labels(labels(k), name=f"{image} annotations")
    widget = docked(viewer)
    assert names(widget) == (SEG.format("cropB"), "cropB annotations")
    assert widget._status.value == (
        "Press Evaluate to score 'cropB segmentation (nuclei)' against 'cropB annotations'."
    )


def test_without_its_own_ground_truth_none_is_picked_and_the_status_says_so(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    viewer.add_labels(labels(0), name=SEG.format("cropA"))
    viewer.add_labels(labels(1), name="cropB annotations")
    widget = docked(viewer)
    assert names(widget) == (SEG.format("cropA"), None)  # never cropB's annotations
    assert "'cropA' has no annotations layer" in widget._status.value
    user = viewer.layers["cropB annotations"]
    widget._ground_truth.value = user  # the user's own pick is kept as layers come
    viewer.add_labels(labels(2), name="other")
    assert names(widget) == (SEG.format("cropA"), "cropB annotations")


def test_annotations_made_after_the_prediction_are_picked(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((30, 30)), name="cropB")
    widget = docked(viewer)
    viewer.add_labels(labels(0), name=SEG.format("cropB"))
    widget.suggest("cropB", SEG.format("cropB"))
    assert "'cropB' has no annotations layer" in widget._status.value
    viewer.add_labels(labels(1), name="cropB annotations")  # Annotate's Start
    assert names(widget) == (SEG.format("cropB"), "cropB annotations")
    assert widget._status.value == (
        "Press Evaluate to score 'cropB segmentation (nuclei)' against 'cropB annotations'."
    )
