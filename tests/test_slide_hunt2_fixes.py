"""Whole-slide and Zarr-output fixes: a malformed --scheduler address fails at once and
leaves no half-built Client behind (before: a 60 s hang at exit), ``slide --overwrite``
replaces only label stores (before: a plain Zarr array holding an image was replaced), and
``predict`` writes an OME-Zarr input's labels as an OME-Zarr label image with the input's
scale, translation and units (before: a bare array at scale 1 and at the origin)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import weakref

import numpy as np
import pytest
import test_cli_predict

from napari_unet.cli import main
from napari_unet.core.errors import InputError

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("one_thread")

model_file = test_cli_predict.model_file  # the same tiny model file fixture


def _discs(size=128):
    from tiny_model import separate_discs

    image, _ = separate_discs(seed=4, size=size)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def _ome(path, data, version="0.4", scale=(0.5, 0.5), translation=(10.0, 20.0)):
    """An OME-Zarr image of ``data`` (y, x) in micrometres, placed by scale and translation."""
    fmt = 3 if version == "0.5" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    group.create_array("0", data=data, chunks=(64, 64))
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    place = [{"type": "scale", "scale": list(scale)},
             {"type": "translation", "translation": list(translation)}]  # fmt: skip
    entry = {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": place}]}
    if fmt == 2:
        group.attrs["multiscales"] = [{"version": "0.4", **entry}]
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [entry]}
    return path


# 1. A malformed scheduler address: refused before any Client is built ---------------------


class _FailingClient:
    """Stands in for ``distributed.Client``: records itself, then fails in ``__init__``."""

    built: list = []

    def __init__(self, *args, **kwargs):
        type(self).built.append(weakref.ref(self))
        raise ValueError("missing port number (raised inside Client.__init__)")


@pytest.fixture
def failing_client(monkeypatch):
    distributed = pytest.importorskip("distributed")
    _FailingClient.built = []
    monkeypatch.setattr(distributed, "Client", _FailingClient)
    return _FailingClient


@pytest.mark.parametrize("address", ["localhost", "foo://x:1", "tcp://host:port"])
def test_a_malformed_scheduler_address_is_refused_before_any_client(failing_client, address):
    import dask

    from napari_unet.core.inference.chunked import iter_tasks

    with pytest.raises(InputError, match="tcp://host:8786") as caught:
        next(iter_tasks([dask.delayed(int)(1)], address))
    assert address in str(caught.value)
    assert failing_client.built == []  # the address was checked first: no Client at all


def test_a_client_that_fails_in_init_is_not_kept_alive_by_the_error(failing_client):
    """The InputError carried the Client's ValueError as its context: its traceback held
    the half-built Client, whose ``__del__`` then hung the interpreter's exit for 60 s."""
    import dask

    from napari_unet.core.inference.chunked import iter_tasks

    with pytest.raises(InputError, match="tcp://host:8786") as caught:
        next(iter_tasks([dask.delayed(int)(1)], "tcp://127.0.0.1:8786"))  # well-formed
    error = caught.value  # kept, as an interactive session keeps the last error
    gc.collect()
    assert len(failing_client.built) == 1
    assert failing_client.built[0]() is None, "the half-built Client is still alive"
    assert error.__context__ is None and error.__cause__ is None


def test_a_well_formed_unreachable_address_still_gives_dasks_error():
    pytest.importorskip("distributed")
    import dask

    from napari_unet.core.inference.chunked import iter_tasks

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # fails fast
        with pytest.raises(OSError, match="127.0.0.1:1"):
            next(iter_tasks([dask.delayed(int)(1)], "tcp://127.0.0.1:1"))


def test_slide_with_a_malformed_scheduler_exits_at_once_without_a_traceback(model_file, tmp_path):
    """Before: the error line, then a 60 s wait at exit and "Exception ignored in:
    <function Client.__del__>" with a TimeoutError."""
    pytest.importorskip("distributed")
    src = tmp_path / "small.zarr"
    da.from_array(_discs(128), chunks=64).to_zarr(str(src))
    args = ["slide", str(model_file), str(src), "-o", str(tmp_path / "out.zarr"),
            "--tile", "64", "--scheduler", "localhost"]  # fmt: skip
    code = f"import sys; from napari_unet.cli import main; sys.exit(main({args!r}))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=50)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "tcp://host:8786" in run.stderr
    assert "Exception ignored" not in run.stderr and "TimeoutError" not in run.stderr
    assert time.monotonic() - start < 50  # well under the 60 s Client.__del__ waited
    assert not (tmp_path / "out.zarr").exists()


# 2. slide --overwrite replaces label stores only ------------------------------------------


def test_slide_overwrite_refuses_a_plain_array_holding_an_image(model_file, tmp_path, capsys):
    image = (_discs(128).astype(np.uint16) * 200).astype(np.uint16)
    src, victim = tmp_path / "small.zarr", tmp_path / "victim.zarr"
    da.from_array(image, chunks=64).to_zarr(str(src))
    da.from_array(image, chunks=64).to_zarr(str(victim))  # a copy of the input
    rc = main(["slide", str(model_file), str(src), "-o", str(victim), "--tile", "64",
               "--overwrite"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "plain Zarr array (uint16, 128 x 128 px)" in err
    assert "another output name" in err and "remove it yourself" in err
    kept = zarr.open_array(str(victim), mode="r")
    assert kept.dtype == np.uint16
    np.testing.assert_array_equal(kept[:], image)  # untouched


def test_slide_overwrite_refuses_a_plain_zarr_group(tmp_path):
    from napari_unet.core.inference.slidestore import check_output

    src, group = tmp_path / "in.zarr", tmp_path / "data.zarr"
    da.from_array(_discs(64), chunks=64).to_zarr(str(src))
    zarr.open_group(str(group), mode="w").create_array("raw", data=np.ones((4, 4)))
    with pytest.raises(InputError, match="Zarr group without OME-Zarr metadata"):
        check_output(group, src, overwrite=True)


def test_slide_overwrite_replaces_the_labels_either_command_wrote(model_file, tmp_path, capsys):
    """``predict``'s labels (a marked plain array, an OME-Zarr label image) and ``slide``'s
    own are label stores: --overwrite replaces them."""
    from napari_unet.core.inference.slidestore import LABELS_MARK, check_output

    image = _discs(128)
    plain, ome = tmp_path / "plain.zarr", _ome(tmp_path / "ome.zarr", image)
    da.from_array(image, chunks=64).to_zarr(str(plain))
    out = tmp_path / "out"
    assert main(["predict", str(model_file), str(plain), str(ome), "-o", str(out),
                 "--tile", "64"]) == 0, capsys.readouterr().err  # fmt: skip
    marked = zarr.open_array(str(out / "plain_labels.zarr"), mode="r")
    assert dict(marked.attrs) == LABELS_MARK
    for store in (out / "plain_labels.zarr", out / "ome_labels.zarr"):
        check_output(store, plain, overwrite=True)  # accepted
        rc = main(["slide", str(model_file), str(plain), "-o", str(store), "--tile", "64",
                   "--overwrite"])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        assert "image-label" in zarr.open_group(str(store), mode="r").attrs


def test_slide_into_the_images_labels_folder_names_the_label_image_as_listed(
    model_file, tmp_path, capsys
):
    """``-o IMAGE.zarr/labels/mine.zarr``: before, listed as mine.zarr but named napari-unet."""
    ome = _ome(tmp_path / "ome.zarr", _discs(128))
    out = ome / "labels" / "mine.zarr"
    assert main(["slide", str(model_file), str(ome), "-o", str(out), "--tile", "64"]) == 0, (
        capsys.readouterr().err
    )
    listed = zarr.open_group(str(ome / "labels"), mode="r").attrs["labels"]
    multiscales = zarr.open_group(str(out), mode="r").attrs["multiscales"]
    assert listed == ["mine.zarr"] and multiscales[0]["name"] == "mine.zarr"


# 3. predict writes an OME-Zarr input's labels as an OME-Zarr label image ------------------


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_predict_carries_an_ome_zarr_inputs_placement_into_its_labels(
    model_file, tmp_path, capsys, version
):
    from napari_unet.core.images.io import read_image
    from napari_unet.core.images.omezarr import ome_kind, pixel_size_um
    from napari_unet.reader import get_reader

    image = _discs(128)
    src = _ome(tmp_path / "ome.zarr", image, version)
    plain = tmp_path / "plain.zarr"
    da.from_array(image, chunks=64).to_zarr(str(plain))
    out = tmp_path / "out"
    assert main(["predict", str(model_file), str(src), str(plain), "-o", str(out),
                 "--tile", "64"]) == 0, capsys.readouterr().err  # fmt: skip
    labels_path = out / "ome_labels.zarr"
    assert ome_kind(labels_path) == "labels"
    assert pixel_size_um(labels_path) == (0.5, 0.5)
    reader = get_reader(str(labels_path))
    assert reader is not None, "napari-unet's reader declined the labels"
    [(data, meta, kind)] = reader(str(labels_path))
    assert kind == "labels"
    assert meta["scale"] == [0.5, 0.5] and meta["translate"] == [10.0, 20.0]
    level0 = np.asarray(data[0] if meta["multiscale"] else data)
    same = np.asarray(read_image(out / "plain_labels.zarr"))  # the same pixels, plain
    np.testing.assert_array_equal(level0, same)
    assert level0.max() > 0
    root = json.loads((labels_path / ("zarr.json" if version == "0.5" else ".zattrs")).read_text())
    meta_root = root["attributes"]["ome"] if version == "0.5" else root
    axes = meta_root["multiscales"][0]["axes"]
    assert [a.get("unit") for a in axes] == ["micrometer", "micrometer"]


def test_predict_keeps_a_plain_zarr_inputs_labels_a_plain_array(model_file, tmp_path, capsys):
    src = tmp_path / "plain.zarr"
    da.from_array(_discs(96), chunks=48).to_zarr(str(src))
    out = tmp_path / "out"
    assert main(["predict", str(model_file), str(src), "-o", str(out), "--tile", "64"]) == 0
    capsys.readouterr()
    labels = da.from_zarr(str(out / "plain_labels.zarr"))  # still a bare array
    assert labels.shape == (96, 96) and int(labels.max()) > 0
