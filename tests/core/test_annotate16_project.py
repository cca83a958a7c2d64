"""save_project makes the project folder itself, never a missing folder above it.

Before, it made the whole path: a data folder moved or renamed during a session was made
again at its old path by the next autosave, which wrote the new strokes there (away from
the moved image's project) and said "Saved".
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.annotation.project import save_project
from napari_unet.core.errors import InputError


def test_a_missing_folder_above_the_project_is_never_made(tmp_path):
    gone = tmp_path / "exp1"  # renamed to exp1_done meanwhile
    with pytest.raises(InputError, match=r"exp1, which does not exist \(moved, renamed"):
        save_project(gone / "cells.napari-unet", np.ones((4, 4), np.uint16))
    assert not gone.exists()
    made = save_project(tmp_path / "cells.napari-unet", np.ones((4, 4), np.uint16))
    assert (made / "annotations.tif").is_file()  # the project folder itself is made
