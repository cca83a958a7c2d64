"""``napari-unet slide``: an interrupt while the cluster closes, after the labels are written.

Before, Ctrl-C (or SIGTERM) during the local cluster's teardown, which takes seconds and
comes after the labels are committed and listed, reported "interrupted" and exited 130
while the labels stayed: a success reported as a failure.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import test_cli_predict
import test_cli_slide

from napari_unet.cli import main
from napari_unet.cli import slide as cli_slide
from napari_unet.cli._signals import Terminated

zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("one_thread")

model_file = test_cli_predict.model_file  # the same tiny model file fixture
ome_slide = test_cli_slide.ome_slide  # an NGFF 0.4 image of discs (128 x 128)


@pytest.mark.parametrize("signal", [KeyboardInterrupt, Terminated], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_while_the_cluster_closes_is_a_success(
    model_file, ome_slide, monkeypatch, capsys, signal
):
    @contextmanager
    def closing_interrupted(args):
        yield None  # the run in this process; the teardown is interrupted
        raise signal()

    monkeypatch.setattr(cli_slide, "_scheduler", closing_interrupted)
    code = main(["slide", str(model_file), str(ome_slide), "--tile", "64", "--name", "cells"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "the labels are complete" in err and "interrupted while closing the cluster" in err
    assert f"-> {ome_slide / 'labels' / 'cells'} (" in out  # the summary, as on success
    listed = json.loads((ome_slide / "labels" / ".zattrs").read_text())["labels"]
    assert listed == ["cells"] and (ome_slide / "labels" / "cells" / "0").is_dir()


def test_an_interrupt_before_the_labels_are_written_still_stops_the_run(
    model_file, ome_slide, monkeypatch, capsys
):
    @contextmanager
    def interrupted_at_once(args):
        raise KeyboardInterrupt
        yield None  # pragma: no cover

    monkeypatch.setattr(cli_slide, "_scheduler", interrupted_at_once)
    assert main(["slide", str(model_file), str(ome_slide), "--tile", "64"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (ome_slide / "labels").exists()


def test_slide_and_segment_slide_refuse_the_same_store_name(model_file, ome_slide, tmp_path,
                                                              capsys):  # fmt: skip
    out = tmp_path / "labels.tif"
    assert main(["slide", str(model_file), str(ome_slide), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"-o {out}: the labels are a Zarr store; give a name ending in .zarr" in err
    assert not out.exists()
