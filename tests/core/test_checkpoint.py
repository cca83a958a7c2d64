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
