"""Whole-slide fixes: live scratch kept, non-store outputs refused, a stopped cluster run
waits for its tasks, labels keep the image's units, big input chunks warned about, and a
bioformats2raw root named."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import test_cli_predict

from napari_unet.cli import main

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("one_thread")

model_file = test_cli_predict.model_file  # the same tiny model file fixture


def _ome(path, data, *, unit=None, scale=(1.0, 1.0), outer=None, translation=None):
    """An NGFF 0.4 image of ``data`` (y, x), with optional units and transformations."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=(64, 64))
    axes = [{"name": a, "type": "space", **({"unit": unit} if unit else {})} for a in "yx"]
    place = [{"type": "scale", "scale": list(scale)}]
    if translation:
        place.append({"type": "translation", "translation": list(translation)})
    entry = {"version": "0.4", "axes": axes,
             "datasets": [{"path": "0", "coordinateTransformations": place}]}  # fmt: skip
    if outer:
        entry["coordinateTransformations"] = outer
    group.attrs["multiscales"] = [entry]
    return path


def _discs(size=128):
    from tiny_model import separate_discs

    image, _ = separate_discs(seed=4, size=size)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


# 1. A second run never removes a running one's scratch ------------------------------------


def test_a_running_writers_temporaries_are_never_stale_and_other_names_never_match(tmp_path):
    from napari_unet.core.files import stale_temporaries

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)  # fmt: skip
    dead = int(gone.stdout)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".cells.{alive.pid}.k3j9x_2a.scratch.tmp"  # hours into a run
        other = tmp_path / f".cells.v2.{dead}.q8w7e6r5.scratch.tmp"  # labels "cells.v2"
        other_live = tmp_path / f".cells.v2.{alive.pid}.a1b2c3d4.tmp"
        debris = tmp_path / f".cells.{dead}.z9y8x7w6.scratch.tmp"  # a killed run's
        for folder in (live, other, other_live, debris):
            folder.mkdir()
            old = time.time() - 5 * 3600
            os.utime(folder, (old, old))
        assert stale_temporaries(tmp_path / "cells") == [debris]
        assert stale_temporaries(tmp_path / "cells.v2") == [other]
    finally:
        alive.kill()
        alive.wait()


# 2. --overwrite never replaces what is not a label store ------------------------------------


def test_slide_overwrite_refuses_a_folder_that_is_not_a_store_or_an_image(
    model_file, tmp_path, capsys
):
    src = _ome(tmp_path / "img.ome.zarr", _discs())
    notes = tmp_path / "results.zarr"
    notes.mkdir()
    (notes / "notes.txt").write_text("my analysis notes")
    base = ["slide", str(model_file), str(src), "--tile", "64", "--overwrite", "-o"]
    assert main([*base, str(notes)]) == 2
    assert "not a Zarr store" in capsys.readouterr().err
    assert (notes / "notes.txt").read_text() == "my analysis notes"  # before: deleted
    other = _ome(tmp_path / "other.ome.zarr", _discs(64))
    assert main([*base, str(other)]) == 2
    assert "OME-Zarr image, not a label image" in capsys.readouterr().err
    assert zarr.open_group(str(other), mode="r")["0"].shape == (64, 64)  # kept whole
    assert main([*base, str(tmp_path / "labels.zarr")]) == 0, capsys.readouterr().err
    assert main([*base, str(tmp_path / "labels.zarr")]) == 0  # a label store is replaced


# 3. A stopped cluster run waits for its running tasks --------------------------------------

_EVENTS: dict[str, threading.Event] = {}


def _blocked_write(token: str, path: str) -> str:
    _EVENTS[token + "started"].set()
    _EVENTS[token + "release"].wait(30)
    time.sleep(0.2)
    with open(path, "w") as f:  # a block written after the run was stopped
        f.write("late")
    _EVENTS[token + "written"].set()
    return path


def test_closing_a_cluster_run_waits_until_no_task_is_running(tmp_path):
    """Before, the generator returned at once: the stores were removed while a worker was
    mid-task, whose write then put them back (scratch left inside the image)."""
    distributed = pytest.importorskip("distributed")
    import dask

    from napari_unet.core.inference.chunked import iter_tasks

    token = f"t{os.getpid()}{time.monotonic_ns()}"
    for name in ("started", "release", "written"):
        _EVENTS[token + name] = threading.Event()
    tasks = [dask.delayed(lambda: 0, pure=False)(),
             dask.delayed(_blocked_write, pure=False)(token, str(tmp_path / "late"))]  # fmt: skip
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        run = iter_tasks(tasks, client)
        assert next(run) == (0, 0)
        assert _EVENTS[token + "started"].wait(30)  # the second task is running
        threading.Timer(0.5, _EVENTS[token + "release"].set).start()
        run.close()  # Ctrl-C, an error: the clean-up comes next
        assert _EVENTS[token + "written"].is_set()  # the task had ended before close returned


# 4. Standalone labels keep the image's units; multiscales-level transformations count -----


def test_standalone_labels_keep_the_pixel_size_and_outer_transforms_are_composed(
    model_file, tmp_path, capsys
):
    from napari_unet.core.images.omezarr import open_image, pixel_size_um

    src = _ome(tmp_path / "img.ome.zarr", _discs(), unit="micrometer", scale=(0.5, 0.5))
    out = tmp_path / "labels.zarr"
    args = ["slide", str(model_file), str(src), "-o", str(out), "--tile", "64"]
    assert main(args) == 0, capsys.readouterr().err
    assert pixel_size_um(out) == (0.5, 0.5)  # before: None (bare axes)
    # NGFF 0.4: the multiscales entry's transformations apply after the level's own
    outer = [{"type": "scale", "scale": [0.5, 0.25]},
             {"type": "translation", "translation": [10.0, 20.0]}]  # fmt: skip
    glob = _ome(tmp_path / "g.ome.zarr", _discs(64), unit="micrometer", scale=(2.0, 2.0),
                translation=(4.0, 8.0), outer=outer)  # fmt: skip
    image = open_image(glob)
    assert image.scale == (1.0, 0.5) and image.translation == (12.0, 22.0)  # before: 2, 2
    assert pixel_size_um(glob) == (1.0, 0.5)
    assert image.units == ("micrometer", "micrometer")


# 5. Input chunks much larger than the blocks: warned about -----------------------------------


def test_a_store_in_chunks_much_larger_than_the_blocks_is_warned_about(tmp_path):
    import torch

    from napari_unet import Predictor
    from napari_unet.core.images.io import read_image
    from napari_unet.core.models import UNet

    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=4, depth=2, padding="same").eval()
    image = np.random.default_rng(0).random((384, 384)).astype(np.float32)
    whole, small = tmp_path / "whole.zarr", tmp_path / "small.zarr"
    da.from_array(image, chunks=384).to_zarr(str(whole))  # one chunk: read for every block
    da.from_array(image, chunks=128).to_zarr(str(small))
    predictor = Predictor(net, tile=32, chunk=96)  # 96 px blocks
    with pytest.warns(UserWarning, match=r"stored in chunks of 384 x 384 px.*[Rr]echunk"):
        predictor.lazy_probabilities(read_image(whole, lazy=True))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # chunks like the blocks: nothing to say
        predictor.lazy_probabilities(read_image(small, lazy=True))


# 6. A bioformats2raw root names the image to give --------------------------------------------


def test_a_bioformats2raw_root_names_the_image_inside_it(model_file, tmp_path, capsys):
    root = tmp_path / "slide.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    _ome(root / "0", _discs(64))
    assert main(["slide", str(model_file), str(root), "--tile", "64"]) == 2
    err = capsys.readouterr().err
    assert "bioformats2raw" in err and f"{root.as_posix()}/0" in err
    assert "ArrayNotFoundError" not in err
    assert main(["slide", str(model_file), str(root / "0"), "--tile", "64"]) == 0
