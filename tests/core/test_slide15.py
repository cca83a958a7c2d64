"""Whole-slide labelling: the labels list under a lock, slide advice, and the store's name.

Before, two ``slide`` runs adding different names to one image at once could each write
back the ``labels`` list it had read, and one name was lost (its label image written but
not listed); the foreground warning of a slide told to "give the object size", which
``slide`` and ``segment_slide`` refuse; and ``segment_slide(out="x.tif")`` wrote a Zarr
folder named ``x.tif``, which ``napari-unet slide -o x.tif`` refuses.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.errors import InputError
from napari_unet.core.images import omezarr
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.inference.slide import iter_label_foreground
from napari_unet.core.inference.slide_checks import slide_warnings
from napari_unet.core.progress import drain

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

N_RUNS = 6
LOCK_NAME = ".napari-unet.lock"  # core.images.metalock's (not imported: the old code lacks it)


def _listed(image, version: str) -> list[str]:
    if version == "0.5":
        meta = json.loads((image / "labels" / "zarr.json").read_text())
        return meta["attributes"]["ome"]["labels"]
    return json.loads((image / "labels" / ".zattrs").read_text())["labels"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_names_added_at_once_are_all_listed(tmp_path, monkeypatch, version):
    """Each run reads the list, then waits (up to 0.2 s) until every run has read it.

    Without a lock all six read the same empty list and each writes back its own name
    alone; with it, each reads the list the one before wrote.
    """
    image = tmp_path / "img.ome.zarr"
    image.mkdir()
    arrived, lock = [0], threading.Lock()
    everyone = threading.Event()
    write = zarr.Group.update_attributes

    def slow_write(self, new):
        with lock:
            arrived[0] += 1
            if arrived[0] >= N_RUNS:
                everyone.set()
        everyone.wait(0.2)
        return write(self, new)

    monkeypatch.setattr(zarr.Group, "update_attributes", slow_write)
    failed = []

    def add(name):
        try:
            omezarr.add_label_name(image, name, version)
        except Exception as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    threads = [threading.Thread(target=add, args=(f"run{i}",)) for i in range(N_RUNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failed == []
    assert sorted(_listed(image, version)) == [f"run{i}" for i in range(N_RUNS)]
    assert not (image / "labels" / LOCK_NAME).exists()  # nothing left in the image


def test_a_lock_file_left_behind_does_not_block(tmp_path):
    """A killed run's lock file holds no lock (the file system's lock died with it)."""
    image = tmp_path / "img.ome.zarr"
    (image / "labels").mkdir(parents=True)
    (image / "labels" / LOCK_NAME).write_bytes(b"")
    omezarr.add_label_name(image, "cells", "0.4")
    omezarr.add_label_name(image, "nuclei", "0.4")
    assert _listed(image, "0.4") == ["cells", "nuclei"]
    assert not (image / "labels" / LOCK_NAME).exists()


def test_a_slides_foreground_warning_never_asks_for_the_object_size():
    predictor = SimpleNamespace(bright=None, in_channels=1, channel_axis=None, channel=None)
    image = np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8)
    (text,) = slide_warnings(predictor, image, 0.9)
    assert "90% of the image was called foreground" in text
    assert "object size" not in text  # slide and segment_slide refuse one
    assert "pyramid level or a resized copy" in text and "choose a model" in text


def test_segment_slide_refuses_a_store_not_named_zarr(random_valid, tmp_path):
    src = tmp_path / "in.zarr"
    da.zeros((64, 64), chunks=32, dtype=np.uint8).to_zarr(str(src))
    with pytest.raises(InputError, match=r"x\.tif'?: the labels are a Zarr store; .*\.zarr"):
        nu.segment_slide(random_valid, src, tmp_path / "x.tif", tile=64, device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]  # nothing written
    nu.segment_slide(random_valid, src, tmp_path / "X.ZARR", tile=64, device="cpu")
    assert (tmp_path / "X.ZARR").is_dir()  # any case, as the command line takes it


def test_label_foreground_refuses_a_store_not_named_zarr(tmp_path):
    fg = tmp_path / "fg.zarr"
    zarr.open_array(str(fg), mode="w", shape=(64, 64), chunks=(32, 32), dtype="f4")[:] = 0
    with pytest.raises(InputError, match="give a name ending in .zarr"):
        drain(iter_label_foreground(fg, tmp_path / "labels.tif", Postprocess(), block=32))
    assert not (tmp_path / "labels.tif").exists()
