"""Read-only outputs are said in a sentence that names the path the run would write.

Before, ``slide`` into a read-only OME-Zarr image without a ``labels`` folder named
``IMAGE/napari-unet`` (a path it never writes) and gave no way out, and ``predict -o`` on a
read-only file system printed the bare ``[Errno 30] Read-only file system: 'out'``.
Root ignores permission bits, so the read-only folder is simulated where it is asked about.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import test_cli_predict
from test_slide_hunt2_fixes import _discs, _ome

from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

model_file = test_cli_predict.model_file  # the same tiny model file fixture


def test_slide_into_a_read_only_image_names_its_labels_folder(model_file, tmp_path, capsys,
                                                              monkeypatch):  # fmt: skip
    ome = _ome(tmp_path / "ome.zarr", _discs(128))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != ome and real(p, mode))
    assert main(["slide", str(model_file), str(ome), "--tile", "64"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {ome / 'labels' / 'napari-unet'}: the folder {ome} is not" in err, err
    assert "give -o" in err and "Traceback" not in err
    assert not (ome / "labels").exists()


def test_predict_into_a_folder_it_cannot_make_says_so(model_file, tmp_path, capsys, monkeypatch):
    src = tmp_path / "a.tif"
    import tifffile

    tifffile.imwrite(src, _discs(64))
    out = tmp_path / "ro" / "out"

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["predict", str(model_file), str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot make the output folder {out}: Read-only file system; choose" in err, err
