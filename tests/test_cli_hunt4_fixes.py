"""CLI bug hunt 4: an input given twice, a model named as an image, the log of a refused
train run, and a hold-out strip of no cell (cells painted in one row)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_cli_train_hunt import _pair  # noqa: E402

from napari_unet import touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """An untrained tiny network as a model file: predict only has to run it."""
    from napari_unet import save_model
    from napari_unet.core.models import UNet

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same")
    return save_model(tmp_path_factory.mktemp("model") / "m.safetensors", model)


def _cells(seed: int = 0):
    img, lab = touching_cells((64, 64), n_cells=6, seed=seed)
    return (img * 255).astype(np.uint8), lab.astype(np.uint16)


@pytest.fixture
def folder(tmp_path):
    """``in/a.tif`` and ``in/b.tif``."""
    d = tmp_path / "in"
    d.mkdir()
    for i, name in enumerate(("a", "b")):
        write_image(d / f"{name}.tif", _cells(i)[0])
    return d


# -- 1. the same input twice: predicted once --------------------------------------------


@pytest.mark.parametrize("twice", ["file", "folder and file", "another spelling"])
def test_an_input_given_twice_is_predicted_once(model_file, folder, tmp_path, capsys, twice):
    """Before: refused as "two inputs would both write .../a_labels.tif; rename one"."""
    a = folder / "a.tif"
    inputs = {
        "file": [a, a],
        "folder and file": [folder, folder / "b.tif"],
        "another spelling": [a, folder / ".." / folder.name / "a.tif"],
    }[twice]
    out = tmp_path / "out"
    rc = main(["predict", str(model_file), *map(str, inputs), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "rename one" not in captured.err
    assert "given more than once" in captured.err
    written = sorted(p.name for p in out.iterdir())
    assert written == (["a_labels.tif", "b_labels.tif"] if twice == "folder and file"
                       else ["a_labels.tif"])  # fmt: skip
    assert captured.out.count("->") == len(written)  # each predicted once


def test_inputs_given_twice_keep_their_first_order(folder, capsys):
    from napari_unet.cli.predict import collect_inputs

    b, a = folder / "b.tif", folder / "a.tif"
    assert collect_inputs([b, folder, a, b]) == [b, a]
    err = capsys.readouterr().err
    assert f"2 input(s) given more than once ({b}, {a})" in err


# -- 2. a model file named as an image: refused before any work --------------------------


def _train(image, labels, *extra):
    return main(["train", "--images", str(image), "--labels", str(labels), *extra, *FAST])


@pytest.mark.parametrize("name", ["model.tif", "model.PNG", "model.jpg", "model.zarr"])
def test_train_refuses_a_model_named_as_an_image(tmp_path, capsys, name):
    """Before: model.tif and model.best.tif were written; predict on their folder then
    read them as damaged images."""
    data = tmp_path / "data"
    data.mkdir()
    image, labels = _pair(data)
    out = tmp_path / "out"
    out.mkdir()
    assert _train(image, labels, "--steps", "2", "-o", str(out / name)) == 2
    err = capsys.readouterr().err
    assert f"a model file ends in .safetensors; {name} looks like an image" in err
    assert list(out.iterdir()) == []  # nothing written, not even the log


def test_check_model_name_keeps_names_without_an_image_ending():
    from napari_unet import InputError
    from napari_unet.core.training.checkpoint import check_model_name

    for name in ("m.safetensors", "m", "nuclei.v1", "m.unet"):
        check_model_name(name)
    with pytest.raises(InputError, match="looks like an image"):
        check_model_name("dir/m.TIFF")


def test_the_python_api_refuses_a_model_named_as_an_image_too(tmp_path):
    from failing_runs import quick

    from napari_unet import InputError, make_pairs, train

    image, labels = touching_cells((96, 96), n_cells=8, seed=0)
    with pytest.raises(InputError, match="model.tif looks like an image"):
        train(make_pairs([image], [labels]), quick(2), output=tmp_path / "model.tif")
    assert list(tmp_path.iterdir()) == []


# -- 3. a train run refused before any work writes no log ------------------------------


def test_a_refused_resume_writes_no_log_and_leaves_an_existing_one_untouched(tmp_path, capsys):
    """Before: the log was opened (created, 0 bytes) before iter_train refused the steps."""
    image, labels = _pair(tmp_path)
    first = tmp_path / "m.safetensors"
    assert _train(image, labels, "--steps", "2", "--val-fraction", "0", "-o", str(first)) == 0
    log = first.with_suffix(".jsonl")
    before = log.read_bytes()
    assert before  # the run's events
    capsys.readouterr()
    second = tmp_path / "m2.safetensors"
    resume = ["--steps", "2", "--resume", str(first)]
    assert _train(image, labels, *resume, "-o", str(second)) == 2
    assert "already trained for 2 steps" in capsys.readouterr().err
    assert not second.with_suffix(".jsonl").exists()
    assert not second.exists()
    assert _train(image, labels, *resume, "-o", str(first)) == 2  # in place: its own log
    assert log.read_bytes() == before
    assert _train(image, labels, "--steps", "3", "--resume", str(first), "-o", str(first)) == 0
    after = log.read_bytes()
    assert after.startswith(before) and len(after) > len(before)  # still appended


@pytest.mark.skipif(torch.cuda.is_available(), reason="refused only where CUDA is missing")
def test_a_device_refused_writes_no_log(tmp_path, capsys):
    image, labels = _pair(tmp_path)
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--images", str(image), "--labels", str(labels), "--steps", "2",
               "-o", str(out), *FAST, "--device", "cuda"])  # fmt: skip
    assert rc == 2
    assert "cuda" in capsys.readouterr().err.lower()
    assert not out.with_suffix(".jsonl").exists()


# -- 4. cells painted in a single row: no strip of no cell -----------------------------


def one_pixel_cell(shape=(256, 256), row=100):
    from napari_unet.core.training.pairs import make_pairs

    image = np.random.default_rng(0).random(shape).astype(np.float32)
    labels = np.zeros(shape, np.uint16)
    labels[row, 100] = 1
    return make_pairs([image], [labels])


def test_one_painted_cell_is_not_validated_on_a_strip_without_it():
    """Before: the strip below row ~205 was held out, 0 cells, scored AP50 1.000."""
    from napari_unet.core.training.validation import split_holdout

    (pair,) = one_pixel_cell()
    with pytest.warns(RuntimeWarning, match="no validation"):
        train, val = split_holdout([pair], 0.2)
    assert val == [] and train[0] is pair


def test_one_row_of_cells_is_held_out_when_another_image_trains():
    """The strip moves up to the cells' row: it holds them, the other image trains."""
    from napari_unet.core.training.pairs import make_pairs
    from napari_unet.core.training.validation import split_holdout

    (pair,) = one_pixel_cell()
    image, labels = touching_cells((48, 48), n_cells=3, seed=1)
    (small,) = make_pairs([image], [labels])
    train, (val,) = split_holdout([small, pair], 0.2)
    assert val.n_cells == 1 and (val.labels > 0).any()
    assert train[0] is small


def test_a_painted_cell_in_the_first_annotated_row_gives_no_validation_and_says_so():
    from napari_unet.core.training.pairs import make_pairs
    from napari_unet.core.training.validation import split_holdout

    (pair,) = one_pixel_cell(row=0)
    (small,) = make_pairs(*[[a] for a in touching_cells((48, 48), n_cells=3, seed=1)])
    with pytest.warns(RuntimeWarning, match="lies in row 0"):
        train, val = split_holdout([small, pair], 0.2)
    assert val == []


def test_train_with_one_painted_cell_runs_without_validation(tmp_path, capsys):
    image = write_image(tmp_path / "img.tif", np.full((128, 128), 9, np.uint8))
    labels = np.zeros((128, 128), np.uint16)
    labels[50, 60] = 1
    labels = write_image(tmp_path / "img_labels.tif", labels)
    out = tmp_path / "m.safetensors"
    assert _train(image, labels, "--steps", "2", "-o", str(out)) == 0
    err = capsys.readouterr().err
    assert "warning: no validation" in err
    assert "0 for validation (0 cells)" in err
    assert not (tmp_path / "m.best.safetensors").exists()


def test_measure_takes_a_label_file_given_twice_once(tmp_path, capsys):
    """Before: "two label files are for the image 'a'", for the same file."""
    import csv

    _, labels = touching_cells((96, 96), n_cells=8, seed=0)
    path = write_image(tmp_path / "a_labels.tif", labels.astype(np.uint16))
    out = tmp_path / "objects.csv"
    assert main(["measure", str(path), str(tmp_path), "-o", str(out)]) == 0
    assert "napari-unet measure: note: 1 input(s) given more than once" in capsys.readouterr().err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(np.unique(labels)) - 1  # each object once
