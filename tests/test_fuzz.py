"""Fuzzing every reader of user files: random bytes and random-but-plausible headers.

Whatever a file holds, a reader either returns data or raises ``InputError`` (whose message
names the file), never another exception, and nothing is written beside the file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napari_unet as nu
from napari_unet.core.annotation.project import (
    ANNOTATIONS_FILE,
    PROJECT_FILE,
    REGION_FILE,
    load_project,
)
from napari_unet.core.training.checkpoint import load_optimizer

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

TIFF_HEADERS = [b"II*\x00", b"MM\x00*", b"II+\x00"]
PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def read_only(read, path: Path):
    """Call ``read(path)``: data or InputError only, and the folder keeps its files."""
    before = sorted(p.name for p in path.parent.iterdir())
    try:
        result = read(path)
        if hasattr(result, "compute"):
            np.asarray(result)  # a lazy reader decodes when computed: that must hold too
    except nu.InputError as exc:
        assert str(exc)
    assert sorted(p.name for p in path.parent.iterdir()) == before


@pytest.fixture
def folder(tmp_path):
    return tmp_path


# -- images -------------------------------------------------------------------------------


@FUZZ
@given(content=st.binary(max_size=2000), suffix=st.sampled_from([".tif", ".png", ".jpg", ".bmp"]))
def test_random_bytes_as_an_image(folder, content, suffix):
    path = folder / f"x{suffix}"
    path.write_bytes(content)
    read_only(nu.read_image, path)
    read_only(lambda p: nu.read_image(p, lazy=True), path)


def _tiff(width, height, bits, compression, count, offset, extra):
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, bits), (259, 3, 1, compression),
            (262, 3, 1, 1), (273, 4, 1, offset), (277, 3, 1, count), (278, 4, 1, height),
            (279, 4, 1, min(width * height * max(bits // 8, 1), 2**32 - 1))]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + extra


@FUZZ
@given(
    width=st.integers(0, 2**31 - 1),
    height=st.integers(0, 2**31 - 1),
    bits=st.sampled_from([1, 8, 16, 32, 64, 7]),
    compression=st.sampled_from([1, 5, 8, 32773, 50000]),
    count=st.integers(0, 6),
    offset=st.integers(0, 4000),
    extra=st.binary(max_size=600),
)
def test_plausible_tiff_headers(folder, width, height, bits, compression, count, offset, extra):
    path = folder / "x.tif"
    path.write_bytes(_tiff(width, height, bits, compression, count, offset, extra))
    read_only(nu.read_image, path)


@FUZZ
@given(head=st.sampled_from([*TIFF_HEADERS, PNG_HEADER]), rest=st.binary(max_size=800))
def test_a_valid_signature_followed_by_noise(folder, head, rest):
    path = folder / ("x.png" if head == PNG_HEADER else "x.tif")
    path.write_bytes(head + rest)
    read_only(nu.read_image, path)


# -- model files ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(content=st.binary(max_size=3000))
def test_random_bytes_as_a_model_file(folder, content):
    path = folder / "m.safetensors"
    path.write_bytes(content)
    read_only(nu.load_model, path)


@FUZZ
@given(
    info=st.fixed_dictionaries(
        {"format_version": st.sampled_from([1, "1", 2, None, 1.0]), "config": JSON},
        optional={
            "normalization": JSON,
            "class_names": JSON,
            "postprocess": JSON,
            "separation_gap": JSON,
            "geometry": JSON,
        },  # fmt: skip
    ),
    tensors=st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.fixed_dictionaries(
            {
                "dtype": st.sampled_from(["F32", "F16", "I64", "X9", 3]),
                "shape": st.lists(st.integers(-2, 2**33), max_size=4) | JSON,
                "data_offsets": st.lists(st.integers(-8, 2**34), max_size=3) | JSON,
            }  # fmt: skip
        ),
        max_size=4,
    ),
    data=st.binary(max_size=256),
)
def test_plausible_model_file_headers(folder, info, tensors, data):
    header = {"__metadata__": {"napari_unet": json.dumps(info)}, **tensors}
    raw = json.dumps(header).encode()
    path = folder / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    read_only(nu.read_metadata, path)
    read_only(nu.load_model, path)


@FUZZ
@given(
    config=st.fixed_dictionaries(
        {"arch": st.sampled_from(["unet", "unetpp", "unet3p", "other"])},
        optional={
            "base_channels": st.integers(-5, 10**6),
            "depth": st.integers(-2, 60),
            "n_classes": st.integers(-1, 10**5),
            "padding": JSON,
        },  # fmt: skip
    )
)
def test_a_real_file_with_any_config_is_refused_without_building_it(folder, config):
    net = nu.build_model({"arch": "unet", "in_channels": 1, "base_channels": 4, "depth": 2})
    path = nu.save_model(folder / "real.safetensors", net)
    from safetensors.torch import load_file, save_file

    info = nu.read_metadata(path) | {"config": config}
    info.pop("tensors_sha256")
    edited = folder / "edited.safetensors"
    save_file(load_file(str(path)), str(edited), metadata={"napari_unet": json.dumps(info)})
    read_only(nu.load_model, edited)


# -- project folders and optimiser state -----------------------------------------------------


@FUZZ
@given(
    region=st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()),
    project=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()),
    annotations=st.binary(max_size=600),
)
def test_damaged_project_folders(folder, region, project, annotations):
    project_folder = folder / "img.napari-unet"
    project_folder.mkdir(exist_ok=True)
    (project_folder / REGION_FILE).write_bytes(region)
    (project_folder / PROJECT_FILE).write_bytes(project)
    (project_folder / ANNOTATIONS_FILE).write_bytes(annotations)
    read_only(lambda p: load_project(p.parent, (32, 32)), project_folder / REGION_FILE)


@FUZZ
@given(content=st.binary(max_size=2000))
def test_random_bytes_as_an_optimiser_state(folder, content):
    path = folder / "m.optim.safetensors"
    path.write_bytes(content)
    read_only(load_optimizer, path)
