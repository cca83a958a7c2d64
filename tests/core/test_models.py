"""The U-Net family: exact paper numbers, shape tables, geometry vs real outputs, training."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from napari_unet.core.errors import InputError
from napari_unet.core.models import (
    ARCHITECTURES,
    IllegalTileSize,
    TileGeometry,
    UNet,
    build_model,
)
from napari_unet.core.models.registry import default_config

torch.set_num_threads(min(2, torch.get_num_threads()))

# (arch, extra config) for every architecture/padding the library offers, at tiny widths.
FAMILY = [
    ("unet", {"padding": "valid"}),
    ("unet", {"padding": "same"}),
    ("unet", {"padding": "same", "batch_norm": True, "dropout": 0.3}),
]
FAMILY_IDS = [f"{a}-{'-'.join(str(v) for v in c.values())}" for a, c in FAMILY]


def tiny(arch: str, extra: dict, **kw) -> nn.Module:
    return build_model({"arch": arch, "base_channels": 4, **extra, **kw})


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_unet_parameter_count_and_572_to_388():
    model = UNet(in_channels=1, n_classes=2, base_channels=64, depth=5, padding="valid")
    assert n_params(model) == 31_030_658
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert len(convs) == 23  # the paper's "23 convolutional layers" (18 + 4 up-convs + head)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    assert model.geometry.output_size(572) == 388 and model.geometry.halo == 92


def test_default_constructor_is_the_paper_network():
    assert (
        UNet().config
        == default_config("unet")
        == {
            "arch": "unet",
            "in_channels": 1,
            "n_classes": 2,
            "base_channels": 64,
            "depth": 5,
            "padding": "valid",
            "batch_norm": False,
            "dropout": 0.0,
        }
    )


def test_he_initialisation_matches_the_paper():
    model = UNet(base_channels=16, depth=3)
    conv = model.encoder[2][2]  # 3x3 conv with 64 input channels -> N = 9 * 64
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.05)
    up = model.up[0]  # 2x2 stride-2 up-conv: one input pixel (x 64 channels) per output pixel
    assert up.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.05)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in (conv, up))


@pytest.mark.parametrize(("arch", "extra"), FAMILY, ids=FAMILY_IDS)
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("n_classes", [1, 2, 4])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_shape_table(arch, extra, in_channels, n_classes, depth):
    model = tiny(arch, extra, in_channels=in_channels, n_classes=n_classes, depth=depth).eval()
    g = model.geometry
    assert isinstance(g, TileGeometry) and g.n_pools == depth - 1
    h, w = g.nearest_legal(40), g.nearest_legal(56)
    with torch.no_grad():
        out = model(torch.rand(2, in_channels, h, w))
    assert out.shape == (2, n_classes, g.output_size(h), g.output_size(w))
    assert out.dtype == torch.float32
    assert model.in_channels == in_channels and model.n_classes == n_classes


@pytest.mark.parametrize(("arch", "extra"), FAMILY, ids=FAMILY_IDS)
@settings(max_examples=15, deadline=None)
@given(
    depth=st.integers(1, 4),
    h=st.integers(1, 140),
    w=st.integers(1, 140),
    snap=st.booleans(),
)
def test_geometry_predicts_the_real_output_size(arch, extra, depth, h, w, snap):
    model = build_model({"arch": arch, "base_channels": 2, "depth": depth, **extra}).eval()
    g = model.geometry
    if snap:  # half of the examples on legal sizes, the rest mostly illegal
        h, w = g.nearest_legal(h), g.nearest_legal(w)
    x = torch.rand(1, 1, h, w)
    if g.is_legal(h) and g.is_legal(w):
        with torch.no_grad():
            assert model(x).shape[-2:] == (g.output_size(h), g.output_size(w))
    else:
        with pytest.raises(IllegalTileSize, match="nearest|smallest"):
            model(x)


@pytest.mark.parametrize(("arch", "extra"), FAMILY, ids=FAMILY_IDS)
def test_gradients_reach_every_parameter(arch, extra):
    model = tiny(arch, extra, depth=3, n_classes=3).train()
    s = model.geometry.nearest_legal(48)
    out = model(torch.rand(2, 1, s, s))
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


@pytest.mark.parametrize(("arch", "extra"), FAMILY[:2], ids=FAMILY_IDS[:2])
def test_tiny_network_overfits_one_tiny_image(arch, extra):
    torch.manual_seed(0)
    model = build_model({"arch": arch, "base_channels": 8, "depth": 3, **extra})
    g = model.geometry
    size = g.nearest_legal(64)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    target_full = (((yy - 24) ** 2 + (xx - 30) ** 2) < 12**2) | (
        ((yy - 44) ** 2 + (xx - 42) ** 2) < 9**2
    )
    image = target_full.float()[None, None] * 0.6 + 0.2 + 0.1 * torch.randn(1, 1, size, size)
    out_size = g.output_size(size)
    c = (size - out_size) // 2
    target = target_full[c : c + out_size, c : c + out_size].long()[None]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(image), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    accuracy = (model(image).argmax(1) == target).float().mean().item()
    assert losses[-1] < 0.25 * losses[0]
    assert accuracy > 0.97


@pytest.mark.parametrize(("arch", "extra"), FAMILY, ids=FAMILY_IDS)
def test_config_round_trips_through_json_and_registry(arch, extra):
    model = tiny(arch, extra, in_channels=2, n_classes=3, depth=3)
    config = json.loads(json.dumps(model.config))
    assert config["arch"] == arch in ARCHITECTURES
    rebuilt = build_model(config)
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
    assert rebuilt.geometry == model.geometry


@pytest.mark.parametrize(("arch", "extra"), FAMILY, ids=FAMILY_IDS)
def test_forward_all_ends_with_forward(arch, extra):
    model = tiny(arch, extra, depth=3).eval()
    x = torch.rand(1, 1, *(2 * [model.geometry.nearest_legal(40)]))
    with torch.no_grad():
        outs = model.forward_all(x)
        assert torch.equal(outs[-1], model(x))


def test_dropout_only_in_training():
    model = UNet(base_channels=4, depth=3, padding="same", dropout=0.5)
    x = torch.rand(1, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    assert any(isinstance(m, nn.Dropout2d) for m in model.modules())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"arch": "segnet"}, "unknown architecture 'segnet'.*unet"),
        ({"padding": "same"}, "'arch'"),
        ({"arch": "unet", "channels": 4}, "no option.*channels.*base_channels"),
        ({"arch": "unet", "padding": "reflect"}, "padding"),
        ({"arch": "unet", "depth": 0}, "depth"),
        ({"arch": "unet", "dropout": 1.5}, "dropout"),
        ({"arch": "unet", "base_channels": 2.5}, "base_channels"),
    ],
)
def test_bad_configs_are_input_errors(config, message):
    with pytest.raises(InputError, match=message):
        build_model(config)


def test_wrong_input_channels_is_an_input_error():
    model = UNet(in_channels=3, base_channels=2, depth=2, padding="same")
    with pytest.raises(InputError, match=r"\(N, 3, H, W\).*\(1, 1, 32, 32\)"):
        model(torch.rand(1, 1, 32, 32))
