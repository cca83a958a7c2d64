"""Sample data for napari's File > Open Sample menu.

Each function returns napari layer-data tuples: the image and its ground-truth instance
labels, so a user can try weight maps, training and evaluation at once.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

#: Where the shipped nuclei sample came from (see docs/index.md for the attribution).
NUCLEI_SOURCE = "DSB2018 stage1_train image 0402a81e7526 (BBBC038, CC0)"


def touching_cells_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the synthetic touching-cells image (float32) and labels (int32)."""
    from napari_unet.core.images.synthetic import touching_cells

    return touching_cells(shape=(384, 384), n_cells=90, seed=seed)


def nuclei_data() -> tuple[np.ndarray, np.ndarray]:
    """Return the shipped fluorescence nuclei image (uint8) and its labels (uint16)."""
    import tifffile

    folder = resources.files("napari_unet") / "data"
    with resources.as_file(folder / "nuclei.tif") as path:
        image = tifffile.imread(path)
    with resources.as_file(folder / "nuclei_labels.tif") as path:
        labels = tifffile.imread(path)
    return image, labels


def touching_cells_sample() -> list[tuple]:
    """Synthetic fluorescence-like cells touching in clusters, with ground truth."""
    image, labels = touching_cells_data()
    return [
        (image, {"name": "touching cells", "colormap": "gray"}, "image"),
        (labels, {"name": "touching cells ground truth", "opacity": 0.4}, "labels"),
    ]


def nuclei_sample() -> list[tuple]:
    """A real fluorescence image of touching nuclei (DSB2018), with ground truth."""
    image, labels = nuclei_data()
    meta = {"source_image": NUCLEI_SOURCE}
    return [
        (image, {"name": "nuclei", "colormap": "gray", "metadata": meta}, "image"),
        (labels, {"name": "nuclei ground truth", "opacity": 0.4, "metadata": meta}, "labels"),
    ]
