"""Other tools' bioimage.io packages in the Predict dock (run by bioimageio.core)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("bioimageio.core")

import foreign_package as fp  # noqa: E402

from napari_unet.widgets.predict import PredictWidget  # noqa: E402


@pytest.fixture(scope="module")
def image():
    from napari_unet.sample_data import nuclei_data

    return nuclei_data()[0].astype(np.float32)[:120, :150]


@pytest.fixture(scope="module")
def packages(image, tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign-dock")
    return {
        "probabilities": fp.build(root / "tinynet", image[:64, :64]),
        "labels": fp.build(root / "masks", image[:64, :64], formats=("torchscript",),
                           labels=True),
    }  # fmt: skip


def _dock(viewer, image, package):
    viewer.add_image(image, name="nuclei", scale=(0.5, 0.5))
    dock = PredictWidget(viewer)
    dock._image.value = viewer.layers["nuclei"]
    dock._tile.value = 48  # several blocks with the package's 4 px halo
    dock._model_file.value = package
    assert "bioimage.io package" in dock._model_label.value
    return dock


def test_a_probability_package_gives_its_probabilities_and_instances(
    run_predict, make_napari_viewer, image, packages
):
    viewer = make_napari_viewer()
    dock = _dock(viewer, image, packages["probabilities"])
    dock._min_size.value = 0
    dock._split.value = 0.0
    run_predict(dock)
    assert not dock._status.value.startswith("Error"), dock._status.value
    probs = viewer.layers["nuclei segmentation (tinynet) probabilities"]
    expected = fp.reference(fp.tiny_net(), image)[0]
    assert probs.data.shape == image.shape and np.abs(probs.data - expected).max() <= 1e-4
    assert tuple(probs.scale) == (0.5, 0.5)
    from skimage.measure import label

    labels = viewer.layers["nuclei segmentation (tinynet)"].data
    threshold = dock._threshold.value
    assert np.array_equal(labels, label(expected > threshold, connectivity=1))
    assert "another tool's package: probabilities (1 channel)" in dock._model_label.value
    assert "objects in" in dock._status.value
    with pytest.raises(Exception, match="share that package itself"):
        dock._form.export_source()


def test_a_labels_package_gives_a_labels_layer(run_predict, make_napari_viewer, image, packages):
    viewer = make_napari_viewer()
    dock = _dock(viewer, image, packages["labels"])
    run_predict(dock)
    assert not dock._status.value.startswith("Error"), dock._status.value
    labels = viewer.layers["nuclei segmentation (masks)"]
    expected = (fp.reference(fp.tiny_net(), image)[0] > 0.5).astype(np.int32)
    assert labels.data.dtype == np.int32 and np.array_equal(labels.data, expected)
    assert "the package's labels" in dock._status.value
    assert not [ly for ly in viewer.layers if "probabilities" in ly.name]
