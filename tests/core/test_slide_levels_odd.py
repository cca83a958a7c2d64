"""Whole-slide labels: every pyramid level, whatever the block side; a TIFF refused plainly.

Each test here failed before its fix: the label pyramid stopped at the first power of two
that did not divide the block side (the prediction's first chunk by default, which absorbs
a short remainder: a 1001 px tall strip got 1 level, ``--block 333`` on 2048 x 2560 too),
and ``slide`` on a TIFF printed the Zarr library's "ArrayNotFoundError".
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_unet import Predictor, drain, separate_touching, touching_cells
from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import Postprocess, probabilities_to_labels
from napari_unet.core.inference.slide import iter_label_foreground, iter_segment_slide

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

TOP = 32  # the top level's longer side, small for small images (1024 px for slides)


def _levels_wanted(shape) -> int:
    """Levels halving the image until its longer side is at most :data:`TOP`."""
    levels = 1
    while max(-(-n // 2 ** (levels - 1)) for n in shape) > TOP:
        levels += 1
    return levels


def _check_pyramid(path, shape, levels, scale=(1.0, 1.0), translation=None) -> np.ndarray:
    """Level k is level 0 every 2**k-th pixel, in whole chunks, placed as the metadata says."""
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    datasets = attrs.get("ome", attrs)["multiscales"][0]["datasets"]
    assert (
        sorted(group.array_keys())
        == [str(k) for k in range(levels)]
        == [d["path"] for d in datasets]
    )
    full = group["0"][:]
    assert full.shape == shape
    for k, dataset in enumerate(datasets):
        level = group[str(k)]
        assert all(c << k == c0 for c, c0 in zip(level.chunks, group["0"].chunks, strict=True))
        np.testing.assert_array_equal(level[:], full[:: 2**k, :: 2**k])
        place = [{"type": "scale", "scale": [s * 2**k for s in scale]}]
        if translation is not None:
            place.append({"type": "translation", "translation": list(translation)})
        assert dataset["coordinateTransformations"] == place
    top = group[str(levels - 1)].shape
    assert max(top) <= TOP < 2 * max(top) or levels == 1
    return full


def _foreground(path, shape, seed=0):
    _, cells = touching_cells(shape, n_cells=shape[0] * shape[1] // 600, seed=seed)
    fg = ndimage.gaussian_filter((np.asarray(separate_touching(cells, gap=2)) > 0) * 1.0, 0.7)
    zarr.open_array(str(path), mode="w", shape=shape, chunks=(64, 64), dtype="f4")[:] = fg
    return fg


@pytest.mark.parametrize(
    ("shape", "block"),
    [((101, 300), 101), ((130, 260), 65), ((128, 160), 21), ((64, 400), 50)],
    ids=["odd-strip", "twice-odd", "block-21", "wide"],
)
def test_every_level_whatever_the_block(tmp_path, monkeypatch, shape, block):
    from napari_unet.core.inference import slide

    monkeypatch.setattr(slide, "TOP_LEVEL", TOP)
    fg = _foreground(tmp_path / "fg.zarr", shape)
    post = Postprocess(min_size=10, gap=2)
    out = tmp_path / "labels.zarr"
    result = drain(iter_label_foreground(tmp_path / "fg.zarr", out, post, block=block))
    levels = _levels_wanted(shape)
    assert levels >= 3 and result.levels == levels  # before: 1 level (2 for 130 x 260)
    full = _check_pyramid(out, shape, levels)
    # One block is one chunk of every level (no two blocks write into one chunk): the block
    # side is rounded up to a multiple of 2**(levels - 1), by less than that.
    side = zarr.open_group(str(out), mode="r")["0"].chunks
    step = 2 ** (levels - 1)
    assert all(c % step == 0 for c in side)
    rounded = -(-block // step) * step
    assert side == tuple(min(rounded, -(-n // step) * step) for n in shape)
    assert result.blocks == np.prod([-(-n // rounded) for n in shape])
    ref = probabilities_to_labels(fg, **post.as_dict())
    assert result.n_objects == len(np.unique(ref)) - 1 > 5
    assert np.array_equal(ref > 0, full > 0)  # the same partition, ids aside
    pairs = np.unique(np.stack([ref[ref > 0], full[full > 0]]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _ome_strip(path, shape, scale, shift):
    image, _ = touching_cells(shape, n_cells=30, seed=5)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=(image * 255).astype(np.uint8), chunks=(64, 64))
    place = [{"type": "scale", "scale": scale}, {"type": "translation", "translation": shift}]
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    level = {"path": "0", "coordinateTransformations": place}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level]}]
    return image


@pytest.mark.usefixtures("one_thread")
def test_the_default_block_of_an_odd_first_chunk_keeps_every_level(
    trained_same, tmp_path, monkeypatch
):
    # The default block is the prediction's first chunk, which absorbed a short remainder
    # (a 1001 px tall strip: 1001 rows): before, such a strip got no pyramid at all.
    from napari_unet.core.inference import slide

    monkeypatch.setattr(slide, "TOP_LEVEL", TOP)
    model, meta = trained_same
    tiny = Predictor(model, tile=64, chunk=64, metadata=meta)
    scale, shift = [0.5, 0.25], [100.0, -20.0]
    shape = (97, 200)
    image = _ome_strip(tmp_path / "strip.ome.zarr", shape, scale, shift)
    first = tiny.lazy_probabilities(image).chunks[-2][0]
    assert first % 2 == 1  # the precondition: an odd default block
    result = drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "strip.ome.zarr"))
    assert result.levels == _levels_wanted(shape) == 4 and result.n_objects > 5
    _check_pyramid(result.path, shape, 4, scale, shift)


def test_slide_on_a_tiff_says_what_slide_reads(tmp_path, capsys):
    from napari_unet import write_image

    tif = write_image(tmp_path / "cells.tif", np.zeros((64, 64), np.uint8))
    assert main(["slide", "nuclei", str(tif), "-o", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err
    assert "not a Zarr store" in err and "napari-unet predict" in err, err
    assert "write_image" in err and "ArrayNotFoundError" not in err
    assert not (tmp_path / "o.zarr").exists()
    folder = tmp_path / "images"
    folder.mkdir()
    assert main(["slide", "nuclei", str(folder), "-o", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err
    assert "not a Zarr store" in err and "ArrayNotFoundError" not in err, err


def test_the_conversion_it_suggests_runs(tmp_path, monkeypatch):
    import shlex

    from napari_unet import write_image
    from napari_unet.core.inference.slidestore import check_slide_input

    monkeypatch.chdir(tmp_path)
    image = (np.arange(64 * 80) % 251).astype(np.uint8).reshape(64, 80)
    write_image("cells.tif", image)
    with pytest.raises(InputError, match="not a Zarr store") as caught:
        check_slide_input("cells.tif")
    command = str(caught.value).split("convert it to Zarr first: ", 1)[1]
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-c"]
    exec(argv[2], {})  # noqa: S102 - the one line the message suggests
    np.testing.assert_array_equal(zarr.open_array("cells.zarr", mode="r")[:], image)
    check_slide_input(tmp_path / "cells.zarr")  # a Zarr store passes
