"""Python API hunt 10: careless but natural calls get the right answer or a clear InputError.

median_diameter of a stack measures each plane (ids per plane); arrays given to make_pairs
where it takes lists, a built-in name given to resume, and wrong inputs to summarize,
write_image, region_mask and touching_cells each say what to pass, not a raw traceback.
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu
from napari_unet import InputError


@pytest.fixture(scope="module")
def nuclei():
    return nu.nuclei_data()


# -- 1. median_diameter of a stack, a nested list, a 1-D array --------------------------------


def test_median_diameter_of_a_stack_measures_each_plane(nuclei):
    _, truth = nuclei
    size, n = nu.median_diameter(truth)
    # The same ids in every plane are 4 x n objects of the plane's size (before: n objects
    # of 4 times their area, twice their diameter).
    assert nu.median_diameter(np.stack([truth] * 4)) == (pytest.approx(size), 4 * n)
    assert nu.median_diameter(list(np.stack([truth] * 4))) == (pytest.approx(size), 4 * n)
    assert nu.median_diameter(truth[..., None]) == (pytest.approx(size), n)  # (Y, X, 1)


def test_median_diameter_of_a_stack_agrees_with_measure_objects(nuclei):
    _, truth = nuclei
    stack = np.stack([truth, truth[::-1], truth[:, ::-1]])
    table = nu.measure_objects(stack)
    size, n = nu.median_diameter(stack)
    assert n == len(table["label"])
    assert size == pytest.approx(np.median(2 * np.sqrt(table["area"] / np.pi)))


def test_median_diameter_refuses_a_nested_list_and_a_1d_array(nuclei):
    _, truth = nuclei
    with pytest.raises(InputError, match=r"np.asarray\(labels\)"):
        nu.median_diameter(truth.tolist())  # before: (3.57, 1705), its rows as images
    with pytest.raises(InputError, match="got 1D"):
        nu.median_diameter(truth[0])  # before: (4.22, 4)


# -- 2. make_pairs given arrays ------------------------------------------------------------


def test_make_pairs_given_arrays_says_to_pass_lists(nuclei):
    image, truth = nuclei
    for images, labels in ((image, truth), ([image], truth), (image, [truth])):
        with pytest.raises(InputError, match=r"make_pairs\(\[image\], \[labels\]\)"):
            nu.make_pairs(images, labels)
    assert len(nu.make_pairs([image], [truth])) == 1


# -- 3. resume from a built-in model name --------------------------------------------------


def test_resume_from_a_built_in_name_says_to_fine_tune(nuclei):
    image, truth = nuclei
    pairs = nu.make_pairs([image[:64, :64]], [truth[:64, :64]])
    with pytest.raises(nu.ModelFileError) as caught:
        nu.train(pairs, nu.TrainConfig(steps=1), resume="nuclei")
    message = str(caught.value)
    assert "no training state to resume" in message
    assert "init='nuclei'" in message and "--init nuclei" in message


def test_the_built_in_names_of_the_hint_are_the_built_in_models():
    from napari_unet.core.models.modelfile import _BUILTIN_NAMES
    from napari_unet.core.models.pretrained import AUTO, PRETRAINED

    assert set(_BUILTIN_NAMES) == {*PRETRAINED, AUTO}


# -- 4. clear errors, not tracebacks from inside ------------------------------------------


def test_summarize_refuses_what_evaluate_did_not_make(nuclei):
    _, truth = nuclei
    for bad in ([{"ap": 1.0}], [truth], nu.evaluate(truth, truth)):
        with pytest.raises(InputError, match="summarize takes a list of results of evaluate"):
            nu.summarize(bad)
    result = nu.evaluate(truth, truth)
    assert nu.summarize((result, result))["n_images"] == 2


def test_write_image_refuses_a_number(tmp_path):
    for name in ("x.tif", "x.png", "x.zarr"):
        with pytest.raises(InputError, match="at least 2 axes"):
            nu.write_image(tmp_path / name, np.uint8(3))
    with pytest.raises(InputError, match="at least 2 axes"):
        nu.write_image(tmp_path / "row.tif", np.arange(5, dtype=np.uint8))
    assert not list(tmp_path.iterdir())


def test_region_mask_refuses_vertices_that_are_not_finite():
    for bad in (np.nan, np.inf):
        poly = np.array([[10.0, 10.0], [10.0, 40.0], [bad, 30.0]])
        with pytest.raises(InputError, match="finite"):
            nu.region_mask([poly], ["polygon"], (64, 64))


def test_touching_cells_given_a_number_for_its_shape():
    with pytest.raises(InputError, match=r"touching_cells\(\(64, 64\)"):
        nu.touching_cells(64, 5, 0)
    image, labels = nu.touching_cells((64, 64), 5, 0)
    assert image.shape == labels.shape == (64, 64)


def test_region_mask_refuses_an_ellipse_or_rectangle_with_a_nan_corner():
    # Only polygons were checked: an ellipse marked nothing, with a warning from skimage.
    box = np.array([[10.0, 10.0], [10.0, 40.0], [40.0, 40.0], [np.nan, 10.0]])
    for kind in ("ellipse", "rectangle"):
        with pytest.raises(InputError, match="finite"):
            nu.region_mask([box], [kind], (64, 64))
