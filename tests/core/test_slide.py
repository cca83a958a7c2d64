"""Whole-slide labelling: block-wise instances equal the whole image's, ids agree across blocks.

Small images cut in tiny blocks (64 px) so that many objects cross block borders; the
whole-image post-processing (``probabilities_to_labels``) is the reference, compared up to
the ids' values (the same partition of the pixels).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from napari_unet import Predictor, drain, separate_touching, touching_cells
from napari_unet.core.errors import InputError
from napari_unet.core.inference.chunklabels import label_blockwise
from napari_unet.core.inference.postprocess import Postprocess, probabilities_to_labels
from napari_unet.core.inference.slide import SlideProgress, iter_segment_slide

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` and ``b`` label the same pixels with the same groups (ids aside)."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def crossing(labels: np.ndarray, block: int) -> int:
    """How many objects lie in more than one block."""
    boxes = [b for b in ndimage.find_objects(labels) if b is not None]
    return sum(any(s.start // block != (s.stop - 1) // block for s in box) for box in boxes)


def probability_map(seed: int, shape=(256, 256), n_cells=70) -> np.ndarray:
    """A foreground probability like the network's: touching cells with gaps, blurred, noisy."""
    _, labels = touching_cells(shape, n_cells=n_cells, seed=seed)
    target = (np.asarray(separate_touching(labels, gap=2)) > 0).astype(float)
    noisy = ndimage.gaussian_filter(target, 0.7)
    noisy += np.random.default_rng(seed).normal(0, 0.12, shape)
    return np.clip(noisy, 0, 1).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "post",
    [
        Postprocess(min_size=0, gap=0),
        Postprocess(min_size=25, gap=0),
        Postprocess(min_size=10, gap=2),
        Postprocess(min_size=10, gap=2, split=1.0),
    ],
    ids=["components", "min-size", "gaps", "split"],
)
def test_blocks_equal_the_whole_image(seed, post):
    fg = probability_map(seed)
    ref = probabilities_to_labels(fg, **post.as_dict())
    assert crossing(ref, 64) >= 10  # the test means something: objects cut by block borders
    got = label_blockwise(fg, 64, post, margin=128)
    assert got.max() >= ref.max() and same_partition(ref, got)


def test_a_winding_object_joined_far_away_is_one_instance():
    # A U whose arms meet only in the bottom row of blocks, and a comb of teeth joined by
    # a bar: the union over faces must chain through several blocks.
    fg = np.zeros((200, 200), np.float32)
    fg[10:190, 20:26] = fg[10:190, 150:156] = fg[184:190, 20:156] = 1  # the U
    fg[5:8, 30:140] = 1  # the comb's bar, cut by blocks at 32, 64, 96, 128
    for x in range(30, 140, 9):
        fg[5:60, x : x + 2] = 1
    post = Postprocess(min_size=0, gap=0)
    got = label_blockwise(fg, 32, post)
    assert len(np.unique(got[got > 0])) == 2
    assert same_partition(probabilities_to_labels(fg, **post.as_dict()), got)


def test_objects_too_large_for_the_margin_stay_whole_everywhere():
    fg = probability_map(3)
    post = Postprocess(min_size=10, gap=2, split=1.0)
    got = label_blockwise(fg, 64, post, margin=24)  # nothing fits: no object is split
    whole = label_blockwise(fg, 64, Postprocess(min_size=10, gap=2))
    assert same_partition(got, whole)


@pytest.fixture(scope="module")
def tiny(trained_same):
    model, meta = trained_same
    return Predictor(model, tile=64, chunk=64, metadata=meta)


def _zarr_image(path, seed=1, shape=(256, 256)):
    image, _ = touching_cells(shape, n_cells=60, seed=seed)
    da.from_array((image * 4000).astype(np.uint16), chunks=50).to_zarr(str(path))
    return image


@pytest.mark.usefixtures("one_thread")
def test_zarr_slide_equals_the_in_memory_segmentation(tiny, tmp_path, monkeypatch):
    from napari_unet.core.inference import slide

    monkeypatch.setattr(slide, "TOP_LEVEL", 64)  # a pyramid of 256 -> 128 -> 64
    _zarr_image(tmp_path / "in.zarr")
    post = Postprocess(min_size=10, gap=2)
    events = []
    result = drain(
        iter_segment_slide(tiny, post, tmp_path / "in.zarr", tmp_path / "out.zarr", block=64),
        events.append,
    )
    stages = [e.stage for e in events if isinstance(e, SlideProgress)]
    assert stages[0] == "predict" and stages[-1] == "finish" and "label" in stages
    assert events[-1].done == events[-1].total == result.blocks == 16
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    got = group["0"][:]
    image = da.from_zarr(str(tmp_path / "in.zarr"))
    fg = tiny.foreground(tiny.lazy_probabilities(image)).compute()
    ref = probabilities_to_labels(fg, **post.as_dict())
    assert crossing(ref, 64) >= 5 and result.n_objects == ref.max()
    assert same_partition(ref, got)
    # The pyramid: every second pixel of the level below; the metadata says so.
    assert result.levels == 3
    np.testing.assert_array_equal(group["1"][:], got[::2, ::2])
    np.testing.assert_array_equal(group["2"][:], got[::4, ::4])
    meta = group.attrs["multiscales"][0]
    assert [d["path"] for d in meta["datasets"]] == [str(k) for k in range(result.levels)]
    assert meta["datasets"][1]["coordinateTransformations"][0]["scale"] == [2.0, 2.0]
    assert "image-label" in group.attrs
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def _ome_image(path, data):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=(64, 64))
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.5, 0.5]}]}
            ],
        }
    ]


@pytest.mark.usefixtures("one_thread")
def test_ome_zarr_input_gets_a_labels_group(tiny, tmp_path):
    image, _ = touching_cells((200, 180), n_cells=40, seed=2)
    src = tmp_path / "image.zarr"
    _ome_image(src, (image * 255).astype(np.uint8))
    result = drain(iter_segment_slide(tiny, Postprocess(), src, name="cells", block=64))
    assert result.path == src / "labels" / "cells"
    labels_attrs = json.loads((src / "labels" / ".zattrs").read_text())
    assert labels_attrs["labels"] == ["cells"]
    attrs = json.loads((src / "labels" / "cells" / ".zattrs").read_text())
    assert attrs["image-label"]["source"]["image"] == "../../"
    assert attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] == [
        0.5,
        0.5,
    ]
    assert attrs["multiscales"][0]["name"] == "cells"
    assert zarr.open_array(str(src / "labels" / "cells" / "0"), mode="r").shape == (200, 180)
    # Elsewhere (-o): a standalone store; the image's label list is left alone.
    drain(iter_segment_slide(tiny, Postprocess(), src, tmp_path / "apart.zarr", block=64))
    apart = json.loads((tmp_path / "apart.zarr" / ".zattrs").read_text())
    assert "source" not in apart["image-label"] and apart["multiscales"][0]["name"] == "napari-unet"
    assert json.loads((src / "labels" / ".zattrs").read_text())["labels"] == ["cells"]
    with pytest.raises(InputError, match="overwrite"):  # a second run needs overwrite
        drain(iter_segment_slide(tiny, Postprocess(), src, name="cells", block=64))
    drain(iter_segment_slide(tiny, Postprocess(), src, name="cells", block=64, overwrite=True))
    assert json.loads((src / "labels" / ".zattrs").read_text())["labels"] == ["cells"]


def test_bad_inputs_are_clear_errors(tiny, tmp_path):
    _zarr_image(tmp_path / "in.zarr", shape=(80, 80))
    with pytest.raises(InputError, match="output store"):
        drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "in.zarr"))
    with pytest.raises(InputError, match="inside the input"):
        drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "in.zarr", tmp_path / "in.zarr"))
    # A folder that holds the input (as `predict -o OUTDIR` takes one), even with overwrite:
    # the store would replace the folder and the input with it.
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds the input"):
        drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "in.zarr", tmp_path,
                                 overwrite=True))  # fmt: skip
    assert (tmp_path / "notes.txt").read_text() == "keep me" and (tmp_path / "in.zarr").is_dir()
    stack = tmp_path / "stack.zarr"
    da.zeros((3, 80, 80), chunks=40, dtype=np.float32).to_zarr(str(stack))
    with pytest.raises(InputError, match="planes"):
        drain(iter_segment_slide(tiny, Postprocess(), stack, tmp_path / "o.zarr"))
    with pytest.raises(InputError, match="margin"):
        drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "in.zarr", tmp_path / "o.zarr",
                                 margin=-1))  # fmt: skip
    with pytest.raises(InputError, match="no such"):
        drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "nope.zarr", tmp_path / "o.zarr"))


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_a_local_cluster_gives_the_same_labels(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    _zarr_image(tmp_path / "in.zarr")
    post = Postprocess(min_size=10, gap=2, split=1.0)
    here = drain(
        iter_segment_slide(tiny, post, tmp_path / "in.zarr", tmp_path / "a.zarr", block=64)
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        there = drain(
            iter_segment_slide(
                tiny, post, tmp_path / "in.zarr", tmp_path / "b.zarr", block=64, scheduler=client
            )
        )
    a = zarr.open_array(str(tmp_path / "a.zarr" / "0"), mode="r")[:]
    b = zarr.open_array(str(tmp_path / "b.zarr" / "0"), mode="r")[:]
    np.testing.assert_array_equal(a, b)  # the same ids, not only the same partition
    assert here.n_objects == there.n_objects


@pytest.mark.usefixtures("one_thread")
def test_the_api_function_follows_the_model_file_and_reports_progress(trained_same, tmp_path):
    import napari_unet as nu

    model, meta = trained_same
    _zarr_image(tmp_path / "in.zarr", shape=(128, 128))
    events = []
    result = nu.segment_slide(
        model, tmp_path / "in.zarr", tmp_path / "out.zarr", metadata=meta, tile=64, chunk=64,
        block=64, min_size=5, progress=events.append,
    )  # fmt: skip
    assert isinstance(result, nu.SlideResult) and result.blocks == 4
    assert all(isinstance(e, nu.SlideProgress) for e in events)
    got = zarr.open_array(str(tmp_path / "out.zarr" / "0"), mode="r")[:]
    fg = Predictor(model, tile=64, metadata=meta).lazy_probabilities(
        np.asarray(da.from_zarr(str(tmp_path / "in.zarr")))
    )[1]
    ref = probabilities_to_labels(np.asarray(fg), min_size=5, gap=2)  # the file's gap: 2
    assert same_partition(ref, np.asarray(got))


def test_a_foreground_store_is_labelled_like_the_whole_array(tmp_path):
    from napari_unet.core.inference.slide import iter_label_foreground

    fg = probability_map(5, shape=(200, 230))
    da.from_array(fg, chunks=70).to_zarr(str(tmp_path / "fg.zarr"))
    post = Postprocess(min_size=10, gap=2, split=1.0)
    gen = iter_label_foreground(tmp_path / "fg.zarr", tmp_path / "l.zarr", post, block=64)
    result = drain(gen)
    got = zarr.open_array(str(tmp_path / "l.zarr" / "0"), mode="r")[:]
    assert result.blocks == 16 and result.n_whole == 0
    assert same_partition(probabilities_to_labels(fg, **post.as_dict()), got)
    for holding in (tmp_path, tmp_path / "fg.zarr"):  # the input's folder, the input itself
        with pytest.raises(InputError, match="input"):
            drain(iter_label_foreground(tmp_path / "fg.zarr", holding, post, overwrite=True))
    assert np.array_equal(zarr.open_array(str(tmp_path / "fg.zarr"), mode="r")[:], fg)


@pytest.mark.usefixtures("one_thread")
def test_the_count_is_of_the_objects_written_split_pieces_too(tiny, tmp_path):
    # It was the count before the split: 39 objects reported, 43 written
    _zarr_image(tmp_path / "in.zarr", seed=3)
    post = Postprocess(min_size=10, gap=2, split=1.0)
    result = drain(iter_segment_slide(tiny, post, tmp_path / "in.zarr", tmp_path / "out.zarr",
                                      block=64))  # fmt: skip
    got = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")["0"][:]
    ids = np.unique(got[got > 0])
    unsplit = drain(iter_segment_slide(tiny, Postprocess(min_size=10, gap=2), tmp_path / "in.zarr",
                                       tmp_path / "whole.zarr", block=64))  # fmt: skip
    assert result.n_objects == len(ids) > unsplit.n_objects  # the split made pieces here
