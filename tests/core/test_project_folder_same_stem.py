"""Two images of one stem keep their own project folders, also once one of them is moved away."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_unet.core.annotation.project import (
    image_identity,
    load_project,
    project_folder_for,
    project_image_name,
    save_project,
)


def _annotate(image, value):
    """Save a project for ``image`` in its default folder, every pixel labelled ``value``."""
    pixels = np.full((4, 4), value, np.uint8)
    ident = image_identity(pixels, image.stem, pixels.shape, source=image)
    folder = project_folder_for(image)
    save_project(folder, np.full((4, 4), value, np.uint16), identity=ident, image=image)
    return folder


def test_an_image_keeps_its_own_folder_when_the_other_file_of_its_stem_is_moved_away(tmp_path):
    """cells.tif in cells.napari-unet, cells.png in cells.png.napari-unet; cells.tif moved
    away: cells.png loaded cells.tif's cells, autosave rewrote that folder as cells.png's,
    and cells.tif, back again, started an empty project."""
    tif, png = tmp_path / "cells.tif", tmp_path / "cells.png"
    tifffile.imwrite(tif, np.zeros((4, 4), np.uint8))
    png.write_bytes(b"another image")
    tif_folder, png_folder = _annotate(tif, 1), _annotate(png, 2)
    assert (tif_folder.name, png_folder.name) == ("cells.napari-unet", "cells.png.napari-unet")

    moved = tif.rename(tmp_path / "cells.tif.bak")
    assert project_folder_for(png) == png_folder
    assert set(np.unique(load_project(png_folder, (4, 4), png).annotations)) == {2}
    assert project_image_name(tif_folder) == "cells.tif"  # left as cells.tif's

    moved.rename(tif)  # back again: still its own project
    assert project_folder_for(tif) == tif_folder
    assert project_folder_for(png) == png_folder
