import pytest

torch = pytest.importorskip("torch")

from napari_unet import InputError  # noqa: E402
from napari_unet.core.training.checkpoint import (  # noqa: E402
    load_optimizer,
    optimizer_path,
    save_optimizer,
)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_optimizer_state_round_trip(tmp_path, kind):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    if kind == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.99)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 3)).sum().backward()
        opt.step()
    path = save_optimizer(tmp_path / "m.optim.safetensors", opt.state_dict(), {"steps_done": 3})
    state, extra = load_optimizer(path)
    assert extra == {"steps_done": 3}
    opt2 = type(opt)(net.parameters(), lr=5.0)
    opt2.load_state_dict(state)
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for idx, st in a["state"].items():
        for name, value in st.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][idx][name]))
    # no pickle anywhere: the file is safetensors
    assert path.read_bytes()[8:9] == b"{"


def test_optimizer_path_and_bad_files(tmp_path):
    assert optimizer_path(tmp_path / "nuclei.safetensors").name == "nuclei.optim.safetensors"
    with pytest.raises(InputError, match="not found"):
        load_optimizer(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError):
        load_optimizer(bad)


# -- the model file and its optimiser state are one pair --------------------------------


@pytest.fixture(scope="module")
def pairs():
    from napari_unet import make_pairs, touching_cells

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    return make_pairs([img], [lab])


def quick(steps):
    from napari_unet import TrainConfig

    return TrainConfig(model="tiny", steps=steps, batch_size=2, crop_size=48, device="cpu",
                       prefetch=0, val_every=100)  # fmt: skip


@pytest.mark.usefixtures("one_thread")
def test_a_crash_between_the_two_writes_resumes_from_the_matching_pair(
    pairs, tmp_path, monkeypatch
):
    import napari_unet.core.models.modelfile as modelfile
    from napari_unet import train
    from napari_unet.core.training import checkpoint

    out = tmp_path / "m.safetensors"
    first = train(pairs, quick(4), output=out)
    assert first.run_id and optimizer_path(out).exists()
    # The next save is killed after the optimiser state is written, before the model.
    second = train(pairs, quick(6), resume=first)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a kill -9 leaves behind: no model write

    monkeypatch.setattr(modelfile, "save_model", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_result(second, out)
    monkeypatch.undo()
    # Model at step 4, optimiser states at 6 (new) and 4 (kept as .prev): the pair is found.
    resumed = checkpoint.load_resume(out)
    assert resumed.steps_done == 4 and resumed.run_id == first.run_id
    assert resumed.optimizer_state["state"][0]["step"] == 4


@pytest.mark.usefixtures("one_thread")
def test_another_runs_optimiser_state_is_refused(pairs, tmp_path):
    import shutil

    from napari_unet import train
    from napari_unet.core.training import checkpoint

    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    train(pairs, quick(3), output=a)
    train(pairs, quick(3), output=b)
    shutil.copy(optimizer_path(b), optimizer_path(a))  # same step, another run
    with pytest.raises(InputError, match="another run or step"):
        checkpoint.load_resume(a)
    optimizer_path(a).unlink()
    with pytest.raises(InputError, match="--init"):
        checkpoint.load_resume(a)
