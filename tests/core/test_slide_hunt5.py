"""Whole-slide labelling, fifth hunt: concurrent runs, strip blocks, remainder blocks.

Each test here failed before its fix: two ``slide`` runs without ``--overwrite`` on the same
labels both exited 0 and the one finishing second replaced the first's labels (so did
``predict_to_zarr`` and ``write_image(..., overwrite=False)`` to Zarr); the default
labelling blocks were square, of the prediction's y chunk (a 32 px tall strip labelled in
32 x 32 blocks); and a remainder the prediction's chunks joined became a sliver block of
its own (an 8192 px slide in 4 x 4 blocks, not the 3 x 3 of its prediction chunks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_unet import Predictor, drain
from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_folder
from napari_unet.core.inference.postprocess import Postprocess, probabilities_to_labels

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")


def _other_store(path: Path, run: str = "A") -> None:
    """What another run finished meanwhile: a Zarr group that says whose it is."""
    zarr.open_group(str(path), mode="w", zarr_format=2).attrs["run"] = run


def _whose(path: Path) -> str | None:
    return zarr.open_group(str(path), mode="r").attrs.get("run")


def _debris(folder: Path) -> list[str]:
    """Hidden temporaries left in ``folder`` (Zarr's own metadata files aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _pyramid(path: Path, levels: int) -> np.ndarray:
    """Level 0 of the label image at ``path``, every level checked to be its every 2**k-th."""
    group = zarr.open_group(str(path), mode="r")
    assert sorted(group.array_keys()) == [str(k) for k in range(levels)]
    full = group["0"][:]
    for k in range(1, levels):
        np.testing.assert_array_equal(group[str(k)][:], full[:: 2**k, :: 2**k])
    return full


# --- 1. a store another run wrote meanwhile is kept without overwrite ----------------------


def test_atomic_folder_keeps_a_store_that_appeared_meanwhile(tmp_path):
    dest = tmp_path / "labels.zarr"
    with pytest.raises(InputError, match="another run wrote it") as caught:
        with atomic_folder(dest, overwrite=False) as tmp:
            (tmp / "mine").write_text("B")
            _other_store(dest)  # run A finished while this one worked
    assert str(dest) in str(caught.value) and "--overwrite" in str(caught.value)
    assert _whose(dest) == "A" and not (dest / "mine").exists()
    assert _debris(tmp_path) == []  # this run's temporary folder removed


def test_atomic_folder_refuses_a_store_replaced_meanwhile(tmp_path):
    # The caller allowed the store found at the start (predict_to_zarr replaces its own
    # probabilities); another store put there meanwhile is another matter.
    dest = tmp_path / "p.zarr"
    _other_store(dest, "old")
    with atomic_folder(dest, overwrite=False) as tmp:  # unchanged: replaced as before
        (tmp / "new").write_text("1")
    assert (dest / "new").exists()
    with pytest.raises(InputError, match="another run wrote it"):
        with atomic_folder(dest, overwrite=False) as tmp:
            (tmp / "mine").write_text("B")
            aside = tmp_path / "moved"
            dest.rename(aside)
            _other_store(dest)  # another run replaced it
    assert _whose(dest) == "A" and _debris(tmp_path) == []


def test_atomic_folder_with_overwrite_replaces_as_before(tmp_path):
    dest = tmp_path / "labels.zarr"
    with atomic_folder(dest) as tmp:
        (tmp / "mine").write_text("B")
        _other_store(dest)
    assert (dest / "mine").exists() and _debris(tmp_path) == []
    empty = tmp_path / "empty.zarr"
    with pytest.raises(InputError, match="another run wrote it"):  # whatever appeared
        with atomic_folder(empty, overwrite=False) as tmp:
            (tmp / "mine").write_text("B")
            empty.mkdir()
    assert empty.is_dir() and not any(empty.iterdir()) and _debris(tmp_path) == []


def test_a_slide_run_finishing_second_keeps_the_first_ones_labels(tmp_path):
    from napari_unet.core.inference.slide import iter_label_foreground

    fg = np.zeros((96, 96), np.float32)
    fg[10:30, 10:30] = fg[50:90, 40:60] = 1
    zarr.open_array(str(tmp_path / "fg.zarr"), mode="w", shape=fg.shape, chunks=(48, 48),
                    dtype="f4")[:] = fg  # fmt: skip
    dest = tmp_path / "labels.zarr"
    gen = iter_label_foreground(tmp_path / "fg.zarr", dest, Postprocess(), block=48)
    with pytest.raises(InputError, match="another run wrote it"):
        for event in gen:
            if event.stage == "finish" and event.done == 1:
                _other_store(dest)  # the other run, checked at the same start, is done
    assert _whose(dest) == "A"
    assert _debris(tmp_path) == []  # scratch and temporary label store removed


def test_slide_command_says_another_run_wrote_the_labels(trained_same, tmp_path, monkeypatch,
                                                         capsys):  # fmt: skip
    from tiny_model import save_tiny

    from napari_unet.cli import main
    from napari_unet.core.inference import slide as core

    image, _ = __import__("napari_unet").touching_cells((96, 96), n_cells=12, seed=3)
    src = tmp_path / "img.ome.zarr"
    group = zarr.open_group(str(src), mode="w", zarr_format=2)
    group.create_array("0", data=(image * 255).astype(np.uint8), chunks=(48, 48))
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    place = [{"type": "scale", "scale": [1.0, 1.0]}]
    level = {"path": "0", "coordinateTransformations": place}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level]}]
    dest = src / "labels" / "napari-unet"
    real = core._label_passes

    def passes_while_another_run_finishes(*args, **kwargs):
        result = yield from real(*args, **kwargs)
        _other_store(dest)  # run A, started at the same time, wrote its labels first
        return result

    monkeypatch.setattr(core, "_label_passes", passes_while_another_run_finishes)
    model = save_tiny(tmp_path, *trained_same)
    rc = main(["slide", str(model), str(src), "--tile", "64", "--block", "48"])
    err = capsys.readouterr().err
    assert rc == 2 and "error:" in err and "another run wrote it" in err, err
    assert str(dest) in err and "--overwrite" in err
    assert _whose(dest) == "A" and _debris(src / "labels") == []


def test_predict_to_zarr_keeps_probabilities_another_run_wrote(tmp_path):
    from napari_unet.core.inference.chunked import iter_store

    dest = tmp_path / "probs.zarr"
    gen = iter_store(da.zeros((2, 32, 32), chunks=(2, 16, 16), dtype="f4"), dest)
    with pytest.raises(InputError, match="another run wrote it"):
        for _ in gen:
            if not dest.exists():
                _other_store(dest)
    assert _whose(dest) == "A" and _debris(tmp_path) == []


def test_write_image_without_overwrite_keeps_a_zarr_store_written_meanwhile(tmp_path):
    import dask

    from napari_unet import write_image

    dest = tmp_path / "out.zarr"

    def pixels_while_another_run_finishes():
        _other_store(dest)
        return np.ones((8, 8), np.uint8)

    lazy = da.from_delayed(dask.delayed(pixels_while_another_run_finishes)(), (8, 8), np.uint8)
    with pytest.raises(InputError, match="another run wrote it"):
        write_image(dest, lazy, overwrite=False)
    assert _whose(dest) == "A" and _debris(tmp_path) == []


def test_two_runs_making_the_labels_folder_at_once(tmp_path, monkeypatch):
    from napari_unet.core.inference.slidestore import labels_folder

    folder = tmp_path / "labels"
    real = Path.mkdir

    def made_by_the_other_run_first(self, *args, **kwargs):
        if self == folder and not self.exists():
            real(self)  # the other run's mkdir, between this one's check and its own
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", made_by_the_other_run_first)
    with pytest.raises(RuntimeError):
        with labels_folder(tmp_path, True):
            raise RuntimeError("this run fails")
    assert folder.is_dir()  # not this run's to remove: the other one made it


# --- 2. the default blocks follow the prediction's chunks along each axis ------------------


@pytest.mark.usefixtures("one_thread")
def test_a_strip_is_labelled_in_blocks_of_its_chunks(trained_same, tmp_path, monkeypatch):
    from napari_unet import touching_cells
    from napari_unet.core.inference import slide
    from napari_unet.core.inference.slide import iter_segment_slide

    monkeypatch.setattr(slide, "TOP_LEVEL", 32)  # a pyramid (6 levels) on a small strip
    model, meta = trained_same
    image, _ = touching_cells((32, 640), n_cells=80, seed=2)
    src = tmp_path / "strip.zarr"
    da.from_array((image * 255).astype(np.uint8), chunks=(32, 128)).to_zarr(str(src))
    tiny = Predictor(model, tile=64, chunk=128, metadata=meta)
    probs = tiny.lazy_probabilities(np.asarray(da.from_zarr(str(src))))
    chunks = probs.chunks[-2:]
    assert chunks == ((32,), (224, 224, 192))  # the prediction: 1 x 3 chunks
    post = Postprocess(min_size=5, gap=2)
    result = drain(iter_segment_slide(tiny, post, src, tmp_path / "out.zarr"))
    assert result.blocks == 3  # before: 20 blocks of 32 x 32 px
    assert result.levels == 6
    got = _pyramid(tmp_path / "out.zarr", 6)
    ref = probabilities_to_labels(np.asarray(probs[1]), **post.as_dict())
    cut = {int(i) for x in (224, 448) for i in np.intersect1d(ref[:, x - 1], ref[:, x])} - {0}
    assert len(np.unique(ref)) > 8 and len(cut) >= 2  # objects cut by the block borders
    assert _same_partition(ref, got)


# --- 3. a remainder the prediction joined is no sliver block of its own --------------------


@pytest.mark.usefixtures("one_thread")
def test_a_joined_remainder_is_no_sliver_block(trained_same, tmp_path, monkeypatch):
    from napari_unet import touching_cells
    from napari_unet.core.inference import slide
    from napari_unet.core.inference.slide import iter_segment_slide

    monkeypatch.setattr(slide, "TOP_LEVEL", 32)  # 5 levels: blocks on multiples of 16 px
    model, meta = trained_same
    shape = (488, 264)
    image, _ = touching_cells(shape, n_cells=180, seed=6)
    src = tmp_path / "slide.zarr"
    da.from_array((image * 255).astype(np.uint8), chunks=128).to_zarr(str(src))
    tiny = Predictor(model, tile=64, chunk=128, metadata=meta)
    probs = tiny.lazy_probabilities(np.asarray(da.from_zarr(str(src))))
    ys, xs = probs.chunks[-2:]
    assert ys == (224, 264) and xs == (264,)  # the prediction joined 40 px remainders
    post = Postprocess(min_size=5, gap=2)
    result = drain(iter_segment_slide(tiny, post, src, tmp_path / "out.zarr"))
    assert result.blocks == 2 * 1  # before: 3 x 2, slivers of 40 px among them
    got = _pyramid(tmp_path / "out.zarr", 5)
    ref = probabilities_to_labels(np.asarray(probs[1]), **post.as_dict())
    cut = {int(i) for i in np.intersect1d(ref[223], ref[224])} - {0}
    assert len(np.unique(ref)) > 20 and len(cut) >= 1 and _same_partition(ref, got)
    # A --block given is kept as given: 488 px in blocks of 224 px is 224, 224, 40.
    given = drain(iter_segment_slide(tiny, post, src, tmp_path / "b.zarr", block=224))
    assert given.blocks == 3 * 2


def test_an_8192_slide_is_labelled_in_3_x_3_blocks():
    from napari_unet.core.inference import slidestore

    sides, chunks, levels = slidestore.label_layout((8192, 8192), (2688, 2688), 1024)
    assert sides == chunks == (2688, 2688) and levels == 4
    blocks = [slidestore.axis_blocks(8192, s, join=True) for s in sides]
    assert blocks == [(2688, 2688, 2816)] * 2  # as the prediction's chunks, not + 128 px
    assert slidestore.axis_blocks(8192, 2688) == (2688, 2688, 2688, 128)  # a --block given
