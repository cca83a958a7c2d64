"""The U-Net family: exact paper numbers, shape tables, geometry vs real outputs, training."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from napari_unet import InputError, build_model
from napari_unet.core.models import (
    ARCHITECTURES,
    IllegalTileSize,
    TileGeometry,
    UNet,
    UNet3Plus,
    UNetPlusPlus,
)
from napari_unet.core.models.registry import default_config

torch.set_num_threads(min(2, torch.get_num_threads()))

# (arch, extra config) for every architecture/padding the library offers, at tiny widths.
FAMILY = [
    ("unet", {"padding": "valid"}),
    ("unet", {"padding": "same"}),
    ("unet", {"padding": "same", "batch_norm": True, "dropout": 0.3}),
    ("unetpp", {}),
    ("unetpp", {"deep_supervision": True, "batch_norm": False}),
    ("unet3p", {}),
    ("unet3p", {"deep_supervision": True, "cgm": True, "dropout": 0.2}),
]
FAMILY_IDS = [f"{a}-{'-'.join(str(v) for v in c.values())}" for a, c in FAMILY]


def tiny(arch: str, extra: dict, **kw) -> nn.Module:
    return build_model({"arch": arch, "base_channels": 4, **extra, **kw})


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_unet_parameter_count_and_572_to_388():
    # On the meta device torch runs the real module code with shape-only tensors: the exact
    # output shape of the full network in a second, without 2-20 s of CPU arithmetic.
    with torch.device("meta"):
        model = UNet(in_channels=1, n_classes=2, base_channels=64, depth=5, padding="valid")
        out = model(torch.empty(1, 1, 572, 572))
    assert n_params(model) == 31_030_658
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert len(convs) == 23  # the paper's "23 convolutional layers" (18 + 4 up-convs + head)
    assert out.shape == (1, 2, 388, 388)
    assert model.geometry.output_size(572) == 388 and model.geometry.halo == 92


def test_full_width_unet_computes_on_a_small_legal_tile():
    model = UNet().eval()  # the paper's network, real arithmetic, on its smallest tile
    with torch.no_grad():
        out = model(torch.rand(1, 1, 188, 188))
    assert out.shape == (1, 2, 4, 4) and torch.isfinite(out).all()


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
@pytest.mark.parametrize(("in_channels", "n_classes"), [(1, 2), (3, 1), (2, 4)])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_shape_table(arch, extra, in_channels, n_classes, depth):
    if arch != "unet" and depth == 1:  # UNet++ and UNet 3+ need at least one pooling
        with pytest.raises(InputError, match="depth must be an integer >= 2"):
            build_model({"arch": arch, "depth": 1, **extra})
        return
    model = build_model(
        {"arch": arch, "base_channels": 2, "in_channels": in_channels, "n_classes": n_classes}
        | {"depth": depth, **extra}
    ).eval()
    g = model.geometry
    assert isinstance(g, TileGeometry) and g.n_pools == depth - 1
    h, w = g.nearest_legal(40), g.nearest_legal(56)
    with torch.no_grad():
        out = model(torch.rand(2, in_channels, h, w))
    assert out.shape == (2, n_classes, g.output_size(h), g.output_size(w))
    assert out.dtype == torch.float32
    assert model.in_channels == in_channels and model.n_classes == n_classes


@pytest.mark.parametrize(("arch", "extra"), FAMILY, ids=FAMILY_IDS)
@settings(max_examples=10, deadline=None)
@given(
    depth=st.integers(2, 4),
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
    outs = model.forward_all(torch.rand(2, 1, s, s))  # every supervised head
    loss = sum(o.square().mean() for o in outs)
    if getattr(model, "cls_logits", None) is not None:
        loss = loss + model.cls_logits.square().mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


@pytest.mark.parametrize(
    ("arch", "extra"), [FAMILY[i] for i in (0, 1, 3, 5)], ids=[FAMILY_IDS[i] for i in (0, 1, 3, 5)]
)
def test_tiny_network_overfits_one_tiny_image(arch, extra):
    torch.manual_seed(0)
    model = build_model({"arch": arch, "base_channels": 8, "depth": 3, **extra})
    g = model.geometry
    # a 40x40 output: 40 px input with same padding, 80 px with valid padding (halo 20)
    size = g.input_size(40)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = size // 2
    target_full = (((yy - c + 6) ** 2 + (xx - c + 4) ** 2) < 8**2) | (
        ((yy - c - 8) ** 2 + (xx - c - 7) ** 2) < 6**2
    )
    image = target_full.float()[None, None] * 0.6 + 0.2 + 0.1 * torch.randn(1, 1, size, size)
    out_size = g.output_size(size)
    m = (size - out_size) // 2
    target = target_full[m : m + out_size, m : m + out_size].long()[None]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(image), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    accuracy = (model.eval()(image).argmax(1) == target).float().mean().item()
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


def test_published_parameter_counts_of_the_variants():
    # UNet++ paper (Zhou et al. 2018, table 1): 9.04M; UNet 3+ paper (Huang et al. 2020): 26.97M
    assert round(n_params(UNetPlusPlus(batch_norm=False)) / 1e6, 2) == 9.04
    assert round(n_params(UNet3Plus()) / 1e6, 2) == 26.97
    model = UNet3Plus()
    assert {m[0].in_channels for m in model.fuse} == {320}  # decoder: 5 x 64 = 320 channels


def test_unetpp_deep_supervision_heads_and_pruning():
    torch.manual_seed(0)
    model = UNetPlusPlus(base_channels=4, depth=4, deep_supervision=True).eval()
    x = torch.rand(2, 1, 32, 40)
    with torch.no_grad():
        outs = model.forward_all(x)
        assert len(outs) == 3 and all(o.shape == (2, 2, 32, 40) for o in outs)
        assert torch.equal(model(x), outs[-1])
        for j in (1, 2):  # the pruned sub-network gives exactly head j of the full network
            model.inference_output = j
            assert torch.allclose(model(x), outs[j - 1], atol=1e-6)
        model.inference_output = "mean"
        assert torch.allclose(model(x), torch.stack(outs).mean(0), atol=1e-6)
    fast = build_model(model.config | {"inference_output": 1})
    assert fast.config["inference_output"] == 1
    with pytest.raises(InputError, match="deep_supervision=True"):
        UNetPlusPlus(inference_output=2)
    with pytest.raises(InputError, match="column 1..4"):
        UNetPlusPlus(deep_supervision=True, inference_output=5)


def test_unet3p_deep_supervision_and_classification_guided_module():
    torch.manual_seed(0)
    model = UNet3Plus(base_channels=4, depth=4, deep_supervision=True, cgm=True)
    x = torch.rand(3, 1, 24, 32)
    outs = model.train().forward_all(x)
    assert len(outs) == 4 and all(o.shape == (3, 2, 24, 32) for o in outs)
    assert model.cls_logits.shape == (3, 2)
    (sum(o.mean() for o in outs) + model.cls_logits.sum()).backward()
    assert model.classifier[1].weight.grad.abs().sum() > 0  # the classifier is trainable
    model.eval()
    with torch.no_grad():
        model.classifier[1].bias.copy_(torch.tensor([50.0, -50.0]))  # "no cells here"
        out = model(x)
        assert (out.argmax(1) == 0).all() and (out[:, 1] == -20).all()
        model.classifier[1].bias.copy_(torch.tensor([-50.0, 50.0]))  # "cells": untouched
        plain = UNet3Plus(base_channels=4, depth=4, deep_supervision=True)
        plain.load_state_dict(
            {k: v for k, v in model.state_dict().items() if not k.startswith("classifier")}
        )
        assert torch.allclose(model(x), plain.eval()(x))


def _positive(model: nn.Module) -> nn.Module:
    """Strictly positive weights: the network becomes monotone, so influence is never hidden."""
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_().add_(1e-3)
    return model


def _influence_radius(model: nn.Module, q: int, height: int, width: int) -> int:
    """Smallest R such that input rows farther than R from row q leave output row q unchanged."""
    zero = torch.zeros(1, model.in_channels, height, width)
    with torch.no_grad():
        ref = model(zero)[0, :, q]
        lo, hi = 0, height
        while lo < hi:
            mid = (lo + hi) // 2
            x = zero.clone()
            x[:, :, : max(q - mid, 0)] = 1000.0
            x[:, :, q + mid + 1 :] = 1000.0
            if torch.equal(model(x)[0, :, q], ref):
                hi = mid
            else:
                lo = mid + 1
    return lo


@pytest.mark.parametrize(
    ("arch", "extra"),
    [("unet", {"padding": "same"}), ("unetpp", {}), ("unet3p", {"deep_supervision": True})],
)
@pytest.mark.parametrize("depth", [2, 3])
def test_receptive_field_radius_is_exact(arch, extra, depth):
    model = _positive(build_model({"arch": arch, "base_channels": 1, "depth": depth, **extra}))
    g = model.geometry
    height = g.nearest_legal(4 * g.receptive_radius + 4 * g.divisor)
    centre = height // 2 // g.divisor * g.divisor
    radii = [_influence_radius(model, centre + p, height, g.divisor) for p in range(g.divisor)]
    assert max(radii) == g.receptive_radius
    assert g.halo >= g.receptive_radius and g.halo % g.divisor == 0


@pytest.mark.parametrize(("arch", "extra"), [FAMILY[i] for i in (1, 3, 5)])
def test_tile_centres_match_whole_image_prediction(arch, extra):
    # With tiles on the pooling grid and `halo` context, tiled = whole-image prediction.
    torch.manual_seed(0)
    model = build_model({"arch": arch, "base_channels": 2, "depth": 3, **extra}).eval()
    g = model.geometry
    h = g.halo
    image = torch.rand(1, 1, 3 * h + 2 * g.divisor, 4 * h)
    with torch.no_grad():
        whole = model(image)
        top, left = g.divisor, 2 * g.divisor
        tile = image[..., top : top + 2 * h + g.divisor, left : left + 2 * h + 2 * g.divisor]
        part = model(tile)
    centre = part[..., h:-h, h:-h]
    expected = whole[
        ..., top + h : top + h + centre.shape[-2], left + h : left + h + centre.shape[-1]
    ]
    assert centre.numel() > 0
    assert torch.allclose(centre, expected, atol=1e-5)
