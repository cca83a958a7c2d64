"""A label image may not take the name of a Zarr group's own metadata file.

``napari-unet slide --name .zattrs`` made the folder ``labels/.zattrs``: the labels group's
metadata file could no longer be written, the run failed after all its work with a bare
"[Errno 21] Is a directory", and so did every later run on the image.
"""

from __future__ import annotations

import pytest
import test_cli_predict
import test_cli_slide

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.images.omezarr import check_label_name, plain_name

pytest.importorskip("zarr")

model_file = test_cli_predict.model_file  # the same tiny model file fixture
ome_slide = test_cli_slide.ome_slide  # an NGFF 0.4 image of discs (128 x 128)

RESERVED = [".zattrs", ".zgroup", ".zarray", ".zmetadata", "zarr.json", ".napari-unet.lock",
            ".ZATTRS"]  # fmt: skip


@pytest.mark.parametrize("name", RESERVED)
def test_a_metadata_file_name_is_no_label_name(name):
    assert not plain_name(name)
    with pytest.raises(InputError, match="not one of .zattrs"):
        check_label_name(name)
    assert check_label_name("cells.zattrs") == "cells.zattrs"  # only the names themselves


def test_slide_refuses_it_before_any_work_and_leaves_the_image_as_it_was(
    model_file, ome_slide, capsys
):
    before = sorted(p.relative_to(ome_slide) for p in ome_slide.rglob("*"))
    assert main(["slide", str(model_file), str(ome_slide), "--name", ".zattrs"]) == 2
    err = capsys.readouterr().err
    assert "labels name '.zattrs'" in err and "Errno" not in err
    assert sorted(p.relative_to(ome_slide) for p in ome_slide.rglob("*")) == before
    # an ordinary run afterwards works and its labels are listed
    assert main(["slide", str(model_file), str(ome_slide), "--tile", "64", "--name", "cells"]) == 0
    import json

    listed = json.loads((ome_slide / "labels" / ".zattrs").read_text())["labels"]
    assert listed == ["cells"]
