"""Whole-slide labelling: what it takes from the input and where it may write.

Each test here failed before its fix: labels that dropped the image's translation (they
opened misplaced), an NGFF 0.3 image predicted in full and refused at the end, a ``name``
that escaped the image, a ``block`` larger than the image used as the label chunk, an
``object_size`` ending in a bare TypeError and a missing output folder reported as a
hidden scratch folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_unet import Predictor, drain, touching_cells
from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.inference.slide import iter_label_foreground, iter_segment_slide

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

SCALE, SHIFT = [0.5, 0.25], [1000.0, 2000.0]


@pytest.fixture(scope="module")
def tiny(trained_same):
    model, meta = trained_same
    return Predictor(model, tile=64, chunk=64, metadata=meta)


def _ome(path, shape=(128, 128), version="0.4", transforms=None):
    """An OME-Zarr image of touching cells (one level), with ``transforms`` for its level."""
    image, _ = touching_cells(shape, n_cells=20, seed=3)
    fmt = 3 if version == "0.5" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    group.create_array("0", data=(image * 255).astype(np.uint8), chunks=(64, 64))
    transforms = transforms or [{"type": "scale", "scale": [1.0, 1.0]}]
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    entry = {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": transforms}]}
    if fmt == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [entry]}
    else:
        group.attrs["multiscales"] = [{"version": version, **entry}]
    return path


def _multiscales(path) -> dict:
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    return attrs.get("ome", attrs)["multiscales"][0]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_keep_the_images_translation_and_open_on_it(tiny, tmp_path, monkeypatch, version):
    from napari_unet.core.inference import slide
    from napari_unet.reader import get_reader

    monkeypatch.setattr(slide, "TOP_LEVEL", 32)  # a pyramid of 128 -> 64 -> 32
    transforms = [{"type": "scale", "scale": SCALE}, {"type": "translation", "translation": SHIFT}]
    src = _ome(tmp_path / "tile.ome.zarr", version=version, transforms=transforms)
    result = drain(iter_segment_slide(tiny, Postprocess(), src, name="cells", block=64))
    assert result.levels == 3
    # Level k keeps every 2**k-th pixel: its pixel i is pixel i * 2**k of level 0, at
    # i * (2**k * scale) + translation, so every level has the same translation.
    for k, dataset in enumerate(_multiscales(result.path)["datasets"]):
        assert dataset["coordinateTransformations"] == [
            {"type": "scale", "scale": [s * 2**k for s in SCALE]},
            {"type": "translation", "translation": SHIFT},
        ]
    layers = get_reader(str(src))(str(src))
    (_, image, _), (_, labels, kind) = layers
    assert kind == "labels" and labels["translate"] == image["translate"] == SHIFT
    assert labels["scale"] == image["scale"] == SCALE
    # A standalone store (-o) keeps the placement too.
    apart = drain(iter_segment_slide(tiny, Postprocess(), src, tmp_path / "apart.zarr", block=64))
    [(_, alone, _)] = get_reader(str(apart.path))(str(apart.path))
    assert alone["translate"] == SHIFT and alone["scale"] == SCALE


@pytest.mark.usefixtures("one_thread")
def test_an_older_ngff_image_is_refused_before_any_work_or_labelled_apart(tiny, tmp_path):
    src = _ome(tmp_path / "old.ome.zarr", version="0.3")
    gen = iter_segment_slide(tiny, Postprocess(), src, name="cells")
    with pytest.raises(InputError, match=r"0\.3.*output store"):
        next(gen)  # before the first prediction: nothing predicted, nothing yielded
    assert sorted(p.name for p in src.iterdir()) == [".zattrs", ".zgroup", "0"]  # no labels/
    # With an output store the labels are a standalone NGFF 0.4 store; the image is untouched.
    result = drain(iter_segment_slide(tiny, Postprocess(), src, tmp_path / "apart.zarr"))
    assert json.loads((result.path / ".zattrs").read_text())["multiscales"][0]["version"] == "0.4"
    assert sorted(p.name for p in src.iterdir()) == [".zattrs", ".zgroup", "0"]
    # A version napari-unet does not know is refused at once, wherever the labels would go.
    future = _ome(tmp_path / "future.ome.zarr", version="0.9")
    gen = iter_segment_slide(tiny, Postprocess(), future, tmp_path / "f.zarr")
    with pytest.raises(InputError, match=r"0\.9"):
        next(gen)
    assert not (tmp_path / "f.zarr").exists()


@pytest.mark.usefixtures("one_thread")
def test_a_failed_first_labelling_leaves_no_labels_folder_in_the_image(tiny, tmp_path, monkeypatch):
    from napari_unet.core.inference import slide

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(slide, "_label_task", broken)
    src = _ome(tmp_path / "img.ome.zarr", shape=(64, 64))
    with pytest.raises(OSError, match="disk full"):
        drain(iter_segment_slide(tiny, Postprocess(), src, name="cells"))
    assert not (src / "labels").exists()


@pytest.mark.parametrize("name", ["../../precious.zarr", "../cells", "a/b", "..", ".", "", " "])
def test_the_labels_name_is_one_plain_folder_name(tiny, tmp_path, name):
    src = _ome(tmp_path / "img.ome.zarr", shape=(64, 64))
    (src / "labels").mkdir()  # as after any earlier labelling
    precious = zarr.open_array(str(tmp_path / "precious.zarr"), mode="w", shape=(4, 4), dtype="u1")
    precious[:] = 7
    gen = iter_segment_slide(tiny, Postprocess(), src, name=name, overwrite=True)
    with pytest.raises(InputError, match="one plain folder name"):
        next(gen)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "precious.zarr"))[:], 7)
    assert list((src / "labels").iterdir()) == []


def test_a_block_larger_than_the_image_is_clamped_to_it(tmp_path):
    fg = np.zeros((80, 90), np.float32)
    fg[10:30, 10:30] = fg[50:70, 40:80] = 1
    da.from_array(fg, chunks=40).to_zarr(str(tmp_path / "fg.zarr"))
    post = Postprocess(min_size=0, gap=0)
    result = drain(iter_label_foreground(tmp_path / "fg.zarr", tmp_path / "l.zarr", post,
                                         block=4096))  # fmt: skip
    level = zarr.open_group(str(tmp_path / "l.zarr"), mode="r")["0"]
    assert result.blocks == 1 and level.chunks == (80, 90)  # was (4096, 4096): 64 MiB
    assert len(np.unique(level[:])) == 3


def test_segment_slide_refuses_an_object_size_with_a_clear_message(random_valid, tmp_path):
    import napari_unet as nu

    da.zeros((64, 64), chunks=32, dtype=np.uint8).to_zarr(str(tmp_path / "in.zarr"))
    with pytest.raises(InputError, match="object_size.*own scale.*[Rr]escale"):
        nu.segment_slide(random_valid, tmp_path / "in.zarr", tmp_path / "out.zarr", tile=64,
                         object_size=25)  # fmt: skip
    assert not (tmp_path / "out.zarr").exists()
    for own in ("auto", "none", None):  # segment's default, passed along: the image's scale
        out = tmp_path / f"{own}.zarr"
        nu.segment_slide(random_valid, tmp_path / "in.zarr", out, tile=64, object_size=own)
        assert out.exists()


def test_a_missing_output_folder_is_named(tiny, tmp_path):
    da.zeros((64, 64), chunks=32, dtype=np.uint8).to_zarr(str(tmp_path / "in.zarr"))
    out = tmp_path / "nofolder" / "out.zarr"
    with pytest.raises(InputError, match="nofolder does not exist") as info:
        drain(iter_segment_slide(tiny, Postprocess(), tmp_path / "in.zarr", out))
    assert "scratch" not in str(info.value)
    with pytest.raises(InputError, match="nofolder does not exist"):
        drain(iter_label_foreground(tmp_path / "in.zarr", out, Postprocess()))
    assert not (tmp_path / "nofolder").exists()
