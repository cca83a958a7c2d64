"""predict's scratch store for Zarr input, and train's progress bar off a terminal (hunt 15).

Before: every ``predict`` of a Zarr input without ``--probabilities`` used
``OUTDIR/.NAME.probabilities.tmp.zarr`` and deleted whatever was there at the end: a second
run deleted a running one's store, and a store of the user's it had refused to replace.
``train`` drew its progress bar into a redirected stderr (every other command hides it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.cli import main


def _zarr(tmp_path: Path, name: str = "plain") -> Path:
    import dask.array as da

    img, _ = touching_cells((64, 64), n_cells=5, seed=3)
    src = tmp_path / f"{name}.zarr"
    da.from_array(img.astype(np.float32), chunks=64).to_zarr(str(src))
    return src


def test_a_second_run_leaves_a_running_ones_store_alone(tmp_path, monkeypatch, capsys):
    """Run B, whole, while run A's store is complete and not yet read (A then read nothing)."""
    from napari_unet.core.inference.plan import Predictor

    src, out = _zarr(tmp_path), tmp_path / "out"
    args = ["predict", "nuclei", str(src), "-o", str(out), "--tile", "64", "--overwrite"]
    original, started, second, kept = Predictor.iter_to_zarr, [], [], []

    def racing(self, image, path, *rest, **kw):
        result = yield from original(self, image, path, *rest, **kw)
        if not started:  # run A: run B inside it (B's own store is not raced)
            started.append(path)
            second.append(main(args))  # the same command, in full
            kept.append(Path(path).is_dir())
        return result

    monkeypatch.setattr(Predictor, "iter_to_zarr", racing)
    code = main(args)
    err = capsys.readouterr().err
    assert second == [0], err
    assert kept == [True], "the second run removed the first one's store"
    assert code == 0, err
    assert [p.name for p in out.iterdir()] == ["plain_labels.zarr"]  # no scratch left


def test_a_store_of_the_users_named_as_the_old_scratch_is_left_alone(tmp_path, capsys):
    src, out = _zarr(tmp_path), tmp_path / "pz"
    mine = out / ".plain.probabilities.tmp.zarr"
    mine.mkdir(parents=True)
    (mine / ".zgroup").write_text('{"zarr_format": 2}')
    code = main(["predict", "nuclei", str(src), "-o", str(out), "--tile", "64"])
    assert code == 0, capsys.readouterr().err
    assert (mine / ".zgroup").read_text() == '{"zarr_format": 2}'
    assert sorted(p.name for p in out.iterdir()) == [mine.name, "plain_labels.zarr"]


def test_ctrl_c_and_a_killed_runs_scratch_leave_no_hidden_files(tmp_path, monkeypatch, capsys):
    from napari_unet.core.inference.plan import Predictor

    src, out = _zarr(tmp_path), tmp_path / "out"
    out.mkdir()
    dead = out / ".plain.probabilities.zarr.999999999.k1ll3d00.scratch.tmp"  # no such process
    (dead / "probabilities.zarr").mkdir(parents=True)
    original = Predictor.iter_to_zarr

    def interrupted(self, image, path, *rest, **kw):
        gen = original(self, image, path, *rest, **kw)
        yield next(gen)
        gen.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(Predictor, "iter_to_zarr", interrupted)
    args = ["predict", "nuclei", str(src), "-o", str(out), "--tile", "64"]
    assert main(args) == 130
    assert list(out.iterdir()) == []  # this run's scratch, and the killed run's, removed
    monkeypatch.undo()
    assert main(args) == 0, capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["plain_labels.zarr"]


def test_trains_progress_bar_is_hidden_when_stderr_is_no_terminal(tmp_path, capsys):
    from napari_unet.cli._train_report import _Log, _Reporter
    from napari_unet.core.training.events import TrainStarted, TrainStep

    for quiet in (False, True):
        report = _Reporter(_Log(tmp_path / f"log{quiet}.jsonl"), quiet=quiet)
        report(TrainStarted(0, 10, "cpu", 64, 64, 1, 0, lr=1e-3, lr_reason="given"))
        report(TrainStep(5, 10, 0.5, 1e-3, 2.0, 1.0))
        report.bar.close()
        err = capsys.readouterr().err
        assert "\r" not in err and "5/10" not in err, repr(err)
        assert "training on cpu" in err


@pytest.mark.parametrize("quiet", [False, True])
def test_trains_progress_bar_keeps_quiet_and_shows_on_a_terminal(quiet, tmp_path, monkeypatch):
    from napari_unet.cli import _train_report
    from napari_unet.core.training.events import TrainStarted

    seen = {}
    monkeypatch.setattr(_train_report, "progress_bar", lambda *a, **kw: seen.update(kw))
    report = _train_report._Reporter(_train_report._Log(tmp_path / "log.jsonl"), quiet=quiet)
    report(TrainStarted(0, 10, "cpu", 64, 64, 1, 0))
    report.log.close()
    assert seen["disable"] is (True if quiet else None)  # None: tqdm shows it on a terminal
