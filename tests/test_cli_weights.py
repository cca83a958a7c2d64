"""``napari-unet weights``: files in, weight map and target out, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet import target_and_weights
from napari_unet.cli import main


def touching_labels(shape=(64, 80)) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    labels[10:50, 8:40] = 4
    labels[10:50, 40:72] = 9
    labels[52:60, 20:30] = 2
    return labels


def test_weights_tiff_in_tiff_out(tmp_path, capsys):
    labels = touching_labels()
    tifffile.imwrite(tmp_path / "cells.tif", labels)
    out, target = tmp_path / "w.tif", tmp_path / "t.png"
    argv = ["weights", str(tmp_path / "cells.tif"), "-o", str(out), "--target", str(target)]
    assert main(argv + ["--w0", "5", "--sigma", "3", "--gap", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    ref_t, ref_w = target_and_weights(labels, w0=5, sigma=3, gap=1)
    np.testing.assert_array_equal(tifffile.imread(out), ref_w)
    np.testing.assert_array_equal(np.asarray(Image.open(target)), ref_t)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind


@pytest.mark.parametrize("gap", ["2.0", "2.5", "two"])
def test_a_gap_written_as_a_float_is_whole_pixels_or_refused(tmp_path, capsys, gap):
    """As ``weight_map(gap=2.0)`` takes it; before, ``--gap 2.0`` was refused by argparse."""
    tifffile.imwrite(tmp_path / "cells.tif", touching_labels())
    out = tmp_path / "w.tif"
    argv = ["weights", str(tmp_path / "cells.tif"), "-o", str(out), "--gap", gap]
    if gap != "2.0":
        with pytest.raises(SystemExit):
            main(argv)
        assert "whole number of pixels" in capsys.readouterr().err and not out.exists()
        return
    assert main(argv) == 0
    np.testing.assert_array_equal(tifffile.imread(out), target_and_weights(touching_labels())[1])


def test_a_stack_target_as_png_is_refused_before_anything_is_written(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([touching_labels()] * 3))
    out, target = tmp_path / "w.tif", tmp_path / "t t.png"
    assert main(["weights", str(tmp_path / "stack.tif"), "-o", str(out), "--target",
                 str(target)]) == 2  # fmt: skip
    assert "PNG holds 2D" in capsys.readouterr().err
    assert not out.exists() and not target.exists()


def test_a_png_output_is_refused_before_the_weights_are_computed(tmp_path, capsys, monkeypatch):
    from napari_unet.core.training import weightmap

    tifffile.imwrite(tmp_path / "stack.tif", np.stack([touching_labels()] * 3))
    computed = []
    real = weightmap.iter_target_and_weights
    monkeypatch.setattr(weightmap, "iter_target_and_weights",
                        lambda *a, **k: computed.append(1) or real(*a, **k))  # fmt: skip
    args = ["weights", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "w.tif")]
    assert main([*args, "--target", str(tmp_path / "t.png")]) == 2
    assert "PNG holds 2D" in capsys.readouterr().err and not computed


def test_weights_png_labels_class_weights_and_mask(tmp_path):
    labels = touching_labels().astype(np.uint8)
    Image.fromarray(labels).save(tmp_path / "cells.png")
    mask = np.zeros(labels.shape, np.uint8)
    mask[:, :50] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "w.tif"
    argv = ["weights", str(tmp_path / "cells.png"), "-o", str(out), "--mask"]
    assert main(argv + [str(tmp_path / "mask.png"), "--class-weights", "1,3"]) == 0
    ref = target_and_weights(labels, class_weights=(1, 3), mask=mask > 0)[1]
    np.testing.assert_array_equal(tifffile.imread(out), ref)
    assert np.all(ref[:, 50:] == 0)


def test_a_mask_painted_in_any_colour_counts_and_an_empty_one_is_refused(tmp_path, capsys):
    labels = touching_labels()
    tifffile.imwrite(tmp_path / "cells.tif", labels)
    green = np.zeros((*labels.shape, 3), np.uint8)
    green[:, :50, 1] = 255  # painted green: its red channel is all 0
    Image.fromarray(green).save(tmp_path / "green.png")
    out = tmp_path / "w.tif"
    argv = ["weights", str(tmp_path / "cells.tif"), "-o", str(out), "--mask"]
    assert main(argv + [str(tmp_path / "green.png")]) == 0
    ref = target_and_weights(labels, mask=green[..., 1] > 0)[1]
    np.testing.assert_array_equal(tifffile.imread(out), ref)  # before: all weights 0
    Image.fromarray(np.zeros(labels.shape, np.uint8)).save(tmp_path / "empty.png")
    out.unlink()
    assert main(argv + [str(tmp_path / "empty.png")]) == 2
    assert "the mask is empty" in capsys.readouterr().err


def test_weights_zarr_stack_with_progress(tmp_path, capsys):
    da = pytest.importorskip("dask.array")
    stack = np.stack([touching_labels(), touching_labels()[::-1], touching_labels()[:, ::-1]])
    da.from_array(stack, chunks=(1, 32, 40)).to_zarr(str(tmp_path / "cells.zarr"))
    out = tmp_path / "w.zarr"
    argv = ["weights", str(tmp_path / "cells.zarr"), "-o", str(out), "--mode", "3class"]
    assert main(argv + ["--target", str(tmp_path / "t.zarr")]) == 0
    assert "3/3" in capsys.readouterr().err  # the tqdm bar for stacks
    ref_t, ref_w = target_and_weights(stack, mode="3class")
    np.testing.assert_array_equal(da.from_zarr(str(out)).compute(), ref_w)
    np.testing.assert_array_equal(da.from_zarr(str(tmp_path / "t.zarr")).compute(), ref_t)
    # Its own Zarr outputs are replaced with --overwrite (a store is a folder: refused before)
    assert main(argv + ["--target", str(tmp_path / "t.zarr")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv[:-2], "--target", str(tmp_path / "t.zarr"), "--overwrite"]) == 0
    np.testing.assert_array_equal(da.from_zarr(str(out)).compute(), target_and_weights(stack)[1])
    (tmp_path / "plain.zarr").mkdir()  # a folder that is no store is still refused
    assert main([*argv[:2], "-o", str(tmp_path / "plain.zarr"), "--overwrite"]) == 2
    assert "it is a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        (np.zeros((16, 16), np.float32), [], "integer"),
        (np.full((16, 16), -3, np.int16), [], ">= 0"),
        (np.zeros((16, 16), np.uint16), ["--sigma", "0"], "sigma"),
        (np.zeros((16, 16), np.uint16), ["--class-weights", "heavy"], "class-weights"),
        (np.zeros((16, 16), np.uint16), ["--class-weights", "1,2,3"], "2 finite numbers"),
    ],
)
def test_weights_bad_input_is_one_error_line(tmp_path, capsys, data, extra, message):
    tifffile.imwrite(tmp_path / "in.tif", data)
    out = tmp_path / "w.tif"
    assert main(["weights", str(tmp_path / "in.tif"), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-unet weights: error:") and message in err
    assert "\n" not in err and not out.exists()


def test_weights_missing_file_and_rgb_and_mask_shape(tmp_path, capsys):
    assert main(["weights", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "w.tif")]) == 2
    assert "no such file" in capsys.readouterr().err
    Image.fromarray(np.full((16, 16, 3), [0, 90, 0], np.uint8)).save(tmp_path / "rgb.png")
    assert main(["weights", str(tmp_path / "rgb.png"), "-o", str(tmp_path / "w.tif")]) == 2
    assert "RGB" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "l.tif", touching_labels())
    tifffile.imwrite(tmp_path / "m.tif", np.ones((8, 8), np.uint8))
    argv = ["weights", str(tmp_path / "l.tif"), "-o", str(tmp_path / "w.tif")]
    assert main(argv + ["--mask", str(tmp_path / "m.tif")]) == 2
    assert "same" in capsys.readouterr().err
    assert main(argv + ["--target", str(tmp_path / "t.png"), "--w0", "-1"]) == 2
    assert "w0" in capsys.readouterr().err


def test_weights_refuses_to_overwrite_input_and_float_png(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "l.tif", touching_labels())
    assert main(["weights", str(tmp_path / "l.tif"), "-o", str(tmp_path / "l.tif")]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["weights", str(tmp_path / "l.tif"), "-o", str(tmp_path / "w.png")]) == 2
    assert ".tif" in capsys.readouterr().err
    # The mask is an input too, and the two outputs must differ.
    tifffile.imwrite(tmp_path / "m.tif", np.ones((64, 80), np.uint8))
    mask_before = (tmp_path / "m.tif").read_bytes()
    args = ["weights", str(tmp_path / "l.tif"), "--mask", str(tmp_path / "m.tif")]
    assert main([*args, "-o", str(tmp_path / "m.tif")]) == 2
    assert "is an input" in capsys.readouterr().err
    assert (tmp_path / "m.tif").read_bytes() == mask_before
    w = str(tmp_path / "w.tif")
    assert main([*args, "-o", w, "--target", w]) == 2
    assert "give two file names" in capsys.readouterr().err


def test_weights_on_real_nuclei_masks(tmp_path, shared_data, capsys):
    labels_path = shared_data / "stardist_nuclei2d" / "mask2d.tif"
    out = tmp_path / "w.tif"
    assert (
        main(["weights", str(labels_path), "-o", str(out), "--target", str(tmp_path / "t.tif")])
        == 0
    )
    labels = tifffile.imread(labels_path)
    ref_t, ref_w = target_and_weights(labels)
    np.testing.assert_array_equal(tifffile.imread(out), ref_w)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "t.tif"), ref_t)
    # Touching nuclei were separated, and the gaps carry the heaviest weights.
    gaps = (labels > 0) & (ref_t == 0)
    assert gaps.sum() > 50 and ref_w[gaps].mean() > 2 * ref_w[ref_t == 1].mean()


def test_weights_never_replaces_an_existing_file_without_overwrite(tmp_path, capsys):
    """`-o` named an existing file (say, another image's labels) and it was replaced."""
    tifffile.imwrite(tmp_path / "l.tif", touching_labels())
    kept = tmp_path / "other_labels.tif"
    tifffile.imwrite(kept, np.ones((8, 8), np.uint16))
    before = kept.read_bytes()
    argv = ["weights", str(tmp_path / "l.tif")]
    assert main([*argv, "-o", str(kept)]) == 2
    assert "--overwrite" in capsys.readouterr().err and kept.read_bytes() == before
    assert main([*argv, "-o", str(tmp_path / "w.tif"), "--target", str(kept)]) == 2
    assert kept.read_bytes() == before and not (tmp_path / "w.tif").exists()
    assert main([*argv, "-o", str(kept), "--overwrite"]) == 0
    assert tifffile.imread(kept).dtype == np.float32


@pytest.mark.parametrize("flag", ["-o", "--target"])
def test_an_output_store_holding_the_labels_is_refused_even_with_overwrite(tmp_path, flag, capsys):
    """`-o project.zarr` of `project.zarr/cells`: the store, replaced whole, took the labels."""
    zarr = pytest.importorskip("zarr")
    store = tmp_path / "project.zarr"
    group = zarr.open_group(str(store), mode="w", zarr_format=2)
    group.create_array("cells", data=touching_labels(), chunks=(32, 32))
    other = str(tmp_path / ("t.tif" if flag == "-o" else "w.tif"))
    outputs = {flag: str(store), ("--target" if flag == "-o" else "-o"): other}
    argv = ["weights", str(store / "cells"), *[a for kv in outputs.items() for a in kv]]
    assert main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds an input" in err and str(store / "cells") in err
    np.testing.assert_array_equal(zarr.open_array(str(store / "cells"))[:], touching_labels())


def test_an_ome_zarr_image_given_as_labels_is_refused_with_its_label_images(tmp_path, capsys):
    """Its grey levels were read as object ids (a weight map of 1s), as measure refuses them."""
    zarr = pytest.importorskip("zarr")
    from napari_unet.core.images.omezarr import add_label_name, create_labels

    image = tmp_path / "cells.ome.zarr"
    group = zarr.open_group(str(image), mode="w", zarr_format=2)
    group.create_array("0", data=(np.arange(64 * 80) % 251).astype(np.uint8).reshape(64, 80))
    axes = [{"name": a, "type": "space"} for a in "yx"]
    scale = [{"type": "scale", "scale": [1.0, 1.0]}]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": scale}]}]  # fmt: skip
    (level,) = create_labels(image / "labels" / "cells", (64, 80), (64, 80), 1, source="../../")
    level[:] = touching_labels()
    add_label_name(image, "cells", "0.4")
    out = tmp_path / "w.tif"
    assert main(["weights", str(image), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a label image" in err and str(image / "labels" / "cells") in err
    assert "give its label image(s) instead" in err and "--images" not in err
    assert not out.exists()
    assert main(["weights", str(image / "labels" / "cells"), "-o", str(out)]) == 0


def test_rgb_labels_are_refused_before_a_progress_bar_is_drawn(tmp_path, capsys):
    Image.fromarray(np.full((32, 32, 3), [0, 90, 0], np.uint8)).save(tmp_path / "rgb.png")
    assert main(["weights", str(tmp_path / "rgb.png"), "-o", str(tmp_path / "w.tif")]) == 2
    err = capsys.readouterr().err
    assert "RGB" in err and "plane" not in err  # before: "0/32 planes" above the error
