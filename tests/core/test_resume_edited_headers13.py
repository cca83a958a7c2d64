"""A resumed run's files with an edited (valid) header: one InputError, before training.

Before: KeyError, JSONDecodeError, AttributeError, ValueError, TypeError, a message that
contradicted itself ("another step: step 10; the model: step 10"), and a history without
'val' that failed only after a step had trained, when saving the run failed too.
"""

import json
import shutil
import warnings

import pytest

torch = pytest.importorskip("torch")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from napari_unet import TrainConfig, make_pairs, touching_cells, train  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.core.training import checkpoint  # noqa: E402
from napari_unet.core.training.checkpoint import load_resume, optimizer_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def quick(**kw):
    base = dict(model="tiny", steps=2, batch_size=2, crop_size=48, val_every=1, device="cpu",
                prefetch=0, event_interval=0.0)  # fmt: skip
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def pairs():
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    return make_pairs([img], [lab])


@pytest.fixture(scope="module")
def run_dir(pairs, tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    train(pairs, quick(), output=d / "m.safetensors")
    return d


def header(path):
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def copy_run(run_dir, tmp_path):
    tmp_path.mkdir()
    for f in run_dir.iterdir():
        shutil.copy(f, tmp_path)
    return tmp_path / "m.safetensors"


def optim_cases(meta, tensors):
    extra = json.loads(meta["extra"])
    renamed = {("bad" if i == 0 else k): v for i, (k, v) in enumerate(tensors.items())}
    return {
        "no plain_state": ({k: v for k, v in meta.items() if k != "plain_state"}, tensors),
        "extra not JSON": (meta | {"extra": "{oops"}, tensors),
        "extra a list": (meta | {"extra": "[]"}, tensors),
        "tensor name odd": (meta, renamed),
        "param_groups null": (meta | {"param_groups": "null"}, tensors),
        "steps_done text": (meta | {"extra": json.dumps(extra | {"steps_done": "2"})}, tensors),
        "config missing": (meta | {"extra": json.dumps(extra | {"config": None})}, tensors),
    }


def training_cases(training):
    return {
        "history a list": training | {"history": []},
        "history without val": training | {"history": {"train": training["history"]["train"]}},
        "val point without ap50": training | {"history": {"train": [], "val": [{"step": 1}]}},
        "best_metrics a number": training | {"best_metrics": 1},
        "stopped text": training | {"stopped": "no"},
    }


def test_an_edited_optimiser_state_is_an_input_error(run_dir, tmp_path):
    meta, tensors = header(optimizer_path(run_dir / "m.safetensors"))
    for name, (m, t) in optim_cases(meta, tensors).items():
        out = copy_run(run_dir, tmp_path / name.replace(" ", "_"))
        save_file(t, str(optimizer_path(out)), metadata=m)
        with pytest.raises(InputError, match="damaged optimiser-state file") as info:
            load_resume(out)
        assert "\n" not in str(info.value), name


def test_an_edited_training_record_is_refused_before_any_step(run_dir, pairs, tmp_path):
    meta, tensors = header(run_dir / "m.safetensors")
    top = json.loads(meta["napari_unet"])
    for name, training in training_cases(top["training"]).items():
        out = copy_run(run_dir, tmp_path / name.replace(" ", "_"))
        edited = {"napari_unet": json.dumps(top | {"training": training})}
        save_file(tensors, str(out), metadata=edited)
        before = out.read_bytes()
        with pytest.raises(InputError, match="training record is damaged"):
            train(pairs, quick(steps=4), resume=out, output=out)
        assert out.read_bytes() == before, name  # nothing trained, nothing replaced
        assert not list(out.parent.glob("*unsaved*")), name


def test_a_save_failing_otherwise_falls_back_to_a_free_name(pairs, tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    real = checkpoint.save_result

    def broken_for_the_output(result, path):
        if path == out:
            raise KeyError("val")  # an error no disk check foresees
        return real(result, path)

    monkeypatch.setattr(checkpoint, "save_result", broken_for_the_output)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(pairs, quick(val_every=1000), output=out)
    assert any("could not save the model" in str(w.message) for w in caught)
    assert result.saved_to is not None and result.saved_to.name.startswith("m.unsaved-")
    assert result.saved_to.exists() and not out.exists()


def test_damaged_settings_of_the_previous_optimiser_file_name_that_file(run_dir, tmp_path):
    """After a crash between the two writes, --resume reads NAME.optim.prev; its damaged
    settings were said to be those of NAME.optim.safetensors."""
    model = copy_run(run_dir, tmp_path / "crash")
    current, previous = optimizer_path(model), optimizer_path(model, previous=True)
    meta, tensors = header(current)
    extra = json.loads(meta["extra"])
    damaged = {**extra, "config": {**extra["config"], "crop_size": "big"}}
    save_file(tensors, str(previous), {**meta, "extra": json.dumps(damaged)})
    bumped = {**extra, "steps_done": extra["steps_done"] + 1}  # a later step: not this model's
    save_file(tensors, str(current), {**meta, "extra": json.dumps(bumped)})
    with pytest.raises(InputError, match=r"m\.optim\.prev"):
        load_resume(model)
