"""Tile geometry: legal sizes, output sizes, halos (pure Python, checked by brute force)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from napari_unet import InputError
from napari_unet.core.models.geometry import IllegalTileSize, TileGeometry


def trace(size: int, n_pools: int, padding: str, trim_per_block: int = 4) -> int | None:
    """Follow one axis through a U-Net layer by layer; None where a layer fails."""
    r = trim_per_block if padding == "valid" else 0
    s = size
    for _ in range(n_pools):
        s -= r
        if s < 2 or s % 2:
            return None
        s //= 2
    s -= r
    if s < 1:
        return None
    for _ in range(n_pools):
        s = 2 * s - r
        if s < 1:
            return None
    return s


geometries = st.builds(
    TileGeometry, n_pools=st.integers(0, 5), padding=st.sampled_from(["valid", "same"])
)


def test_paper_numbers():
    g = TileGeometry(n_pools=4, padding="valid")
    assert g.divisor == 16
    assert g.output_size(572) == 388
    assert g.input_size(388) == 572
    assert g.halo == 92 == (572 - 388) // 2
    assert g.min_input_size == 188 and g.output_size(188) == 4
    assert g.is_legal(572) and not g.is_legal(570) and not g.is_legal(512)


def test_same_padding_numbers():
    g = TileGeometry(n_pools=4, padding="same")
    assert g.output_size(512) == 512 and g.input_size(256) == 256
    assert g.min_input_size == 16
    # the recommended overlap covers the receptive field and keeps tiles on the pooling grid
    assert g.halo == 112 and g.halo % g.divisor == 0 and g.halo >= g.receptive_radius == 107
    assert TileGeometry(n_pools=4, padding="valid").receptive_radius == 92


@given(geometries, st.integers(1, 1200))
def test_legality_and_output_match_layer_by_layer_trace(g, size):
    expected = trace(size, g.n_pools, g.padding)
    assert g.is_legal(size) == (expected is not None)
    if expected is None:
        with pytest.raises(IllegalTileSize):
            g.output_size(size)
    else:
        assert g.output_size(size) == expected
        assert g.input_size(expected) == size
        if g.padding == "valid":
            assert size - expected == 2 * g.halo


@given(geometries, st.integers(-5, 1200))
def test_nearest_legal_is_legal_and_nearest(g, size):
    n = g.nearest_legal(size)
    assert g.is_legal(n) and n >= g.min_input_size
    legal = [s for s in range(1, 1400) if trace(s, g.n_pools, g.padding) is not None]
    assert min(legal) == g.min_input_size
    assert abs(n - size) == min(abs(s - size) for s in legal)


@given(geometries, st.integers(0, 600), st.integers(0, 600))
def test_legal_sizes_lists_exactly_the_legal_ones(g, lo, span):
    hi = lo + span
    expected = [s for s in range(max(lo, 1), hi + 1) if trace(s, g.n_pools, g.padding) is not None]
    assert g.legal_sizes(lo, hi) == expected


def test_illegal_size_message_names_the_nearest_legal_sizes():
    g = TileGeometry(n_pools=4, padding="valid")
    with pytest.raises(IllegalTileSize, match=r"570.*556 and 572"):
        g.output_size(570)
    with pytest.raises(IllegalTileSize, match=r"too small.*188"):
        g.output_size(100)
    with pytest.raises(IllegalTileSize, match=r"390.*388 and 404"):
        g.input_size(390)
    with pytest.raises(IllegalTileSize, match=r"500.*496 and 512"):
        TileGeometry(n_pools=4, padding="same").output_size(500)
    assert issubclass(IllegalTileSize, InputError) and issubclass(IllegalTileSize, ValueError)


def test_output_shape_applies_per_axis():
    g = TileGeometry(n_pools=4, padding="valid")
    assert g.output_shape((572, 204)) == (388, 20)
    with pytest.raises(IllegalTileSize):
        g.output_shape((572, 205))


@given(geometries)
def test_dict_round_trip_through_json(g):
    d = json.loads(json.dumps(g.to_dict()))
    assert TileGeometry.from_dict(d) == g
    assert d["halo"] == g.halo and d["divisor"] == g.divisor


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_pools": 4, "padding": "reflect"},
        {"n_pools": -1, "padding": "valid"},
        {"n_pools": 4, "padding": "valid", "kernel_size": 2},
    ],
)
def test_bad_geometry_is_an_input_error(kwargs):
    with pytest.raises(InputError):
        TileGeometry(**kwargs)
    with pytest.raises(InputError, match="n_pools"):
        TileGeometry.from_dict({"padding": "valid"})


def test_geometry_import_does_not_import_torch():
    code = (
        "import sys\nfrom napari_unet.core.models import TileGeometry, IllegalTileSize\n"
        "from napari_unet.core.models.geometry import TileGeometry\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
