"""The Annotate dock: Start takes its image's own layers (renamed too), never another image's,
and the project folder box follows the image picked.

Each test fails on the dock before its fix: Start looked its layers up by name, so a removed
image's layers were re-attached to the next image of that name (its cells saved into that
image's project), and a renamed image (or region layer) got a new whole-image region; and
the folder box kept the previous image's folder, which the next image was then refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from test_annotate_hunt5 import _saved, _settle, _widget

from napari_unet.core.annotation.project import load_project, project_folder_for
from napari_unet.core.annotation.regions import region_mask

QUARTER = [np.array([[0, 0], [0, 25], [20, 25], [20, 0]], float)]  # of a 40 x 50 image


def _tif(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, (rng.random((40, 50)) * 200).astype(np.uint8))
    return path


def _warnings(monkeypatch) -> list[str]:
    """The warnings Start shows about another image's layers, collected."""
    warned: list[str] = []
    try:
        from napari_unet.widgets import _session_owner
    except ImportError:  # the dock before its fix: the test fails on what it does
        return warned
    monkeypatch.setattr(_session_owner, "show_warning", warned.append)
    return warned


def _start(widget, image) -> None:
    widget._image_combo.reset_choices()
    widget._image_combo.value = image
    widget._start_btn.native.click()


def _fraction(region) -> float:
    return float(region_mask(region.data, region.shape_type, (40, 50)).mean())


def test_a_removed_images_layers_are_not_taken_by_another_image_of_its_name(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, exp2/cells.tif took exp1's layers and autosave wrote cells 3, 4 into its project."""
    warned = _warnings(monkeypatch)
    a, b = _tif(tmp_path / "exp1" / "cells.tif"), _tif(tmp_path / "exp2" / "cells.tif", 1)
    viewer = make_napari_viewer()
    image_a = viewer.open(a)[0]
    widget = _widget(viewer, image_a)
    old_labels, old_region = widget._annotations, widget._region
    old_labels.paint((10, 10), 3)
    old_labels.paint((30, 30), 4)
    _settle(qtbot, widget)
    viewer.layers.remove(image_a)  # the annotation layers stay
    _start(widget, viewer.open(b)[0])  # named "cells" again
    assert widget._annotations is not old_labels and widget._region is not old_region
    assert not np.any(widget._annotations.data)
    assert old_labels.name == "cells annotations (old)" and 4 in old_labels.data  # kept
    assert old_region.name == "cells annotated region (old)"
    assert len(warned) == 2 and "an image removed from the viewer" in warned[0]
    widget._annotations.paint((20, 45), 9)
    _settle(qtbot, widget)
    assert set(np.unique(_saved(project_folder_for(b)))) == {0, 9}
    assert set(np.unique(_saved(project_folder_for(a)))) == {0, 3, 4}
    assert errors == []


def test_the_same_file_opened_again_takes_its_layers_back(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """The image removed and its file opened again: the layers are its own still."""
    a = _tif(tmp_path / "cells.tif")
    viewer = make_napari_viewer()
    image = viewer.open(a)[0]
    widget = _widget(viewer, image)
    labels, region = widget._annotations, widget._region
    labels.paint((10, 10), 3)
    _settle(qtbot, widget)
    viewer.layers.remove(image)
    _start(widget, viewer.open(a)[0])
    assert widget._annotations is labels and widget._region is region
    assert [ly.name for ly in viewer.layers].count("cells annotations") == 1
    assert errors == []


def test_a_renamed_image_keeps_its_region(make_napari_viewer, qtbot, errors):
    """Before, Start on image A renamed B made a new "B annotated region" over the whole image."""
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((40, 50), np.uint8), name="A")  # no file
    widget = _widget(viewer, image)
    labels, region = widget._annotations, widget._region
    labels.paint((10, 10), 3)
    region.data = QUARTER
    image.name = "B"
    _start(widget, image)
    assert widget._annotations is labels and widget._region is region
    assert not any(ly.name == "B annotated region" for ly in viewer.layers)
    assert _fraction(widget._region) < 0.5
    assert errors == []


def test_a_renamed_region_layer_is_taken_back_and_saved(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, a second region layer was made from the project; the renamed one's edits were
    never saved again."""
    path = _tif(tmp_path / "cells.tif")
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(path)[0])
    region = widget._region
    widget._annotations.paint((10, 10), 3)
    region.data = QUARTER
    _settle(qtbot, widget)
    region.name = "my region"
    widget._start_btn.native.click()
    assert widget._region is region
    assert [ly.name for ly in viewer.layers if "region" in ly.name] == ["my region"]
    region.data = [QUARTER[0] / 2]  # an eighth: saved
    _settle(qtbot, widget)
    saved = load_project(project_folder_for(path), (40, 50))
    assert region_mask(saved.region_data, saved.region_types, (40, 50)).mean() < 0.1
    assert errors == []


def test_the_folder_box_follows_the_picked_image(make_napari_viewer, qtbot, tmp_path, errors):
    """Before, b.tif took the sample's folder projA from the box and was refused it
    ("holds the annotations of the image 'sample'"), autosave off."""
    viewer = make_napari_viewer()
    sample = viewer.add_image(np.zeros((40, 50), np.uint8), name="sample")  # no file
    b_path = _tif(tmp_path / "b.tif")
    b = viewer.open(b_path)[0]
    proj_a = tmp_path / "projA"
    widget = _widget(viewer, sample, proj_a)
    widget._annotations.paint((10, 10), 3)
    _settle(qtbot, widget)
    widget._image_combo.value = b
    assert widget._folder.value is None  # b's own: beside its file
    widget._start_btn.native.click()
    assert widget._saver.folder == project_folder_for(b_path) and widget._saver.enabled
    widget._annotations.paint((20, 20), 5)
    _settle(qtbot, widget)
    assert set(np.unique(_saved(project_folder_for(b_path)))) == {0, 5}
    assert set(np.unique(_saved(proj_a))) == {0, 3}
    widget._image_combo.value = sample  # its folder again
    assert Path(widget._folder.value) == proj_a
    widget._start_btn.native.click()
    assert widget._saver.folder == proj_a and widget._saver.enabled
    assert errors == []
