"""``napari-unet slide`` in-process: a Zarr image to an OME-Zarr label pyramid, and its errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import test_cli_predict

from napari_unet.cli import main

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("one_thread")

model_file = test_cli_predict.model_file  # the same tiny model file fixture


@pytest.fixture
def slide(tmp_path):
    from tiny_model import separate_discs

    image, _ = separate_discs(seed=4, size=192)  # 36 discs the tiny model finds
    path = tmp_path / "slide.zarr"
    da.from_array((np.clip(image, 0, 1) * 255).astype(np.uint8), chunks=64).to_zarr(str(path))
    return path


def test_slide_writes_labels_and_says_what_it_found(model_file, slide, tmp_path, capsys):
    out = tmp_path / "labels.zarr"
    args = ["slide", str(model_file), str(slide), "-o", str(out), "--block", "40"]
    assert main([*args, "--tile", "64"]) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    labels = zarr.open_group(str(out), mode="r")["0"][:]
    n = len(np.unique(labels)) - 1
    assert labels.shape == (192, 192) and n == 36  # discs cut by the blocks at 80 and 160 too
    assert f"({n} objects" in text and "25 blocks" in text
    assert main([*args, "--tile", "64"]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err


def test_slide_errors_are_one_line(model_file, slide, tmp_path, capsys):
    assert main(["slide", str(model_file), str(slide)]) == 2  # a plain array needs -o
    assert "output store" in capsys.readouterr().err
    assert main(["slide", str(model_file), str(tmp_path / "no.zarr"), "-o", "x.zarr"]) == 2
    assert "no such" in capsys.readouterr().err
    for bad in (["--workers", "-1"], ["--margin", "-3"], ["--block", "4"]):
        rc = main(["slide", str(model_file), str(slide), "-o", str(tmp_path / "o.zarr"), *bad])
        assert rc == 2 and "error:" in capsys.readouterr().err, bad
    with pytest.raises(SystemExit):  # one place to run: a scheduler or local workers
        main(["slide", str(model_file), str(slide), "--workers", "2", "--scheduler", "tcp://x:1"])


@pytest.fixture
def ome_slide(tmp_path):
    """An NGFF 0.4 OME-Zarr image of discs the tiny model finds (128 x 128)."""
    from tiny_model import separate_discs

    image, _ = separate_discs(seed=4, size=128)
    path = tmp_path / "img.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    group.create_array("0", data=data, chunks=(64, 64))
    transforms = [{"type": "scale", "scale": [1.0, 1.0]}]
    group.attrs["multiscales"] = [
        {"version": "0.4", "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
         "datasets": [{"path": "0", "coordinateTransformations": transforms}]}
    ]  # fmt: skip
    return path


def _hidden(folder):
    """Hidden entries of ``folder`` other than Zarr's own metadata files."""
    return sorted(p.name for p in folder.iterdir() if p.name[0] == "." and p.name[1] != "z")


def test_sigterm_ends_the_run_and_removes_its_scratch(model_file, ome_slide, monkeypatch, capsys):
    # A job's time limit or `kill` sends SIGTERM: before, the process died at once and left
    # the scratch stores (8 bytes a pixel) hidden in the image's labels/ for good.
    from napari_unet.core.inference import slide as core

    caught = []  # the test's own handler: without the command's, SIGTERM would end pytest

    def guard(*args):
        caught.append(args)

    before = signal.signal(signal.SIGTERM, guard)
    label = core._label_task

    def label_then_sigterm(*args):
        os.kill(os.getpid(), signal.SIGTERM)
        return label(*args)

    monkeypatch.setattr(core, "_label_task", label_then_sigterm)
    try:
        args = [str(model_file), str(ome_slide), "--tile", "64", "--block", "64"]
        rc = main(["slide", *args])
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert restored is guard and not caught  # the command handled it, then put ours back
    assert rc == 143 and "terminated" in capsys.readouterr().err
    assert not (ome_slide / "labels").exists()  # nothing left: not even an empty labels/


def test_a_later_run_removes_what_a_killed_run_left(model_file, ome_slide, capsys):
    # kill -9 (no clean-up at all): the next run into the same labels removes the debris
    script = (
        "import os, sys\n"
        "from napari_unet.core.inference import slide\n"
        "slide._label_task = lambda *a: os._exit(9)\n"  # killed in the middle of the run
        "from napari_unet.cli import main\n"
        "main(['slide', *sys.argv[1:]])\n"
    )
    args = [str(model_file), str(ome_slide), "--tile", "64", "--block", "64", "--name", "cells"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True)
    assert killed.returncode == 9, killed.stderr.decode()[-2000:]
    assert _hidden(ome_slide / "labels")  # the killed run's scratch and temporary store
    assert main(["slide", *args]) == 0, capsys.readouterr().err
    assert _hidden(ome_slide / "labels") == []
    names = sorted(p.name for p in (ome_slide / "labels").iterdir())
    assert names == [".zattrs", ".zgroup", "cells"]


def test_slide_auto_chooses_the_built_in_model_on_windows_of_the_slide(tmp_path, capsys):
    """``slide auto``: dark nuclei on a bright background get nuclei-brightfield, said once."""
    import napari_unet as nu

    image, _ = nu.nuclei_data()
    path = tmp_path / "dark.zarr"
    da.from_array(255 - image[:256, :256], chunks=128).to_zarr(str(path))
    out = tmp_path / "labels.zarr"
    assert main(["slide", "auto", str(path), "-o", str(out), "--tile", "128"]) == 0
    text = capsys.readouterr().out
    assert f"{path}: built-in model nuclei-brightfield (auto)" in text
    assert zarr.open_group(str(out), mode="r")["0"].shape == (256, 256)


def test_predict_keeps_zarr_labels_another_run_wrote_meanwhile(
    model_file, slide, tmp_path, capsys, monkeypatch
):
    # Two `predict` runs to one Zarr labels store without --overwrite: both passed the check
    # at their start, and the one finishing second replaced the first's labels.
    from napari_unet.cli import predict as predict_command
    from napari_unet.core.inference import slidestore

    out = tmp_path / "out" / "slide_labels.zarr"  # a Zarr input's labels
    args = ["predict", str(model_file), str(slide), "-o", str(out.parent), "--tile", "64"]
    original, predicted = slidestore.mark_labels, predict_command._predict_one

    def other_run():
        zarr.open_group(str(out), mode="w", zarr_format=2).attrs["run"] = "A"

    def while_writing(path):  # the other run finishes while this one writes its labels
        if Path(path).name.startswith(f".{out.name}."):
            other_run()
        original(path)

    def while_predicting(*a, **k):  # ... or while this one predicts (most of a run)
        labels = predicted(*a, **k)
        other_run()
        return labels

    for module, name, meanwhile in (
        (slidestore, "mark_labels", while_writing),
        (predict_command, "_predict_one", while_predicting),
    ):
        monkeypatch.setattr(module, name, meanwhile)
        assert main(args) == 2
        assert "another run wrote it" in capsys.readouterr().err
        assert zarr.open_group(str(out), mode="r").attrs["run"] == "A"  # kept
        monkeypatch.undo()
        shutil.rmtree(out)
    other_run()
    assert main([*args, "--overwrite"]) == 0, capsys.readouterr().err  # replaced when asked
    assert zarr.open_array(str(out), mode="r").shape == (192, 192)  # this run's labels
