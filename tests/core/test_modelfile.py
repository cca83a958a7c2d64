"""Safe model files: exact round trips, and clear refusals that never execute file content."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from napari_unet import InputError, __version__, build_model, load_model, read_metadata, save_model
from napari_unet.core.models import UNet
from napari_unet.core.models.modelfile import FORMAT_VERSION, ModelFileError


def tiny_model(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return UNet(base_channels=4, depth=3, **kw)


@pytest.fixture
def saved(tmp_path):
    model = tiny_model(batch_norm=True)
    path = save_model(
        tmp_path / "m.safetensors",
        model,
        normalization={"method": "percentile", "low": 2.0, "high": 99.0},
        class_names=["bg", "nucleus"],
        provenance={"data": "dsb2018", "steps": 10, "metrics": {"iou": 0.8}},
        notes="tiny test model",
    )
    return model, path


def test_round_trip_is_bit_exact(saved, tmp_path):
    model, path = saved
    loaded, meta = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    ref, got = model.state_dict(), loaded.state_dict()
    assert list(ref) == list(got)
    for k in ref:
        assert got[k].dtype == ref[k].dtype and torch.equal(got[k], ref[k]), k
    # save what load returned: the file is byte-identical
    again = save_model(tmp_path / "again.safetensors", loaded, **meta)
    assert again.read_bytes() == path.read_bytes()
    x = torch.rand(1, 1, 60, 60)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


def test_metadata_contents(saved):
    model, path = saved
    meta = read_metadata(path)
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["config"] == model.config and meta["config"]["arch"] == "unet"
    assert meta["geometry"] == model.geometry.to_dict()
    assert meta["normalization"] == {"method": "percentile", "low": 2.0, "high": 99.0}
    assert meta["class_names"] == ["bg", "nucleus"]
    prov = meta["provenance"]
    assert prov["package_version"] == __version__ and prov["date"].startswith("20")
    assert prov["data"] == "dsb2018" and prov["metrics"] == {"iou": 0.8}
    assert meta["notes"] == "tiny test model"
    assert load_model(path)[1] == meta


def test_defaults_and_numpy_values(tmp_path):
    path = save_model(tmp_path / "d.safetensors", tiny_model(), provenance={"steps": np.int64(5)})
    meta = read_metadata(path)
    assert meta["normalization"] == {"method": "percentile", "low": 1.0, "high": 99.8}
    assert meta["class_names"] == ["background", "cell"]
    assert meta["provenance"]["steps"] == 5
    assert read_metadata(save_model(tmp_path / "c.safetensors", tiny_model(n_classes=3)))[
        "class_names"
    ] == ["background", "class 1", "class 2"]


def test_not_jsonable_metadata_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="JSON-able.*extra"):
        save_model(tmp_path / "x.safetensors", tiny_model(), extra=object())
    with pytest.raises(InputError, match="class_names must be 2"):
        save_model(tmp_path / "x.safetensors", tiny_model(), class_names=["a", "b", "c"])
    with pytest.raises(InputError, match="'config'.*disagrees"):
        save_model(tmp_path / "x.safetensors", tiny_model(), config={"arch": "unetpp"})
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_write_is_atomic_on_failure(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, model)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_file_replaced_while_it_loads_gives_one_whole_model(saved, tmp_path, monkeypatch):
    """A training run saving its best checkpoint over the file a reader is loading."""
    from napari_unet.core.models import modelfile

    model, path = saved
    other = tiny_model(batch_norm=True)
    with torch.no_grad():
        other.head.weight.add_(1.0)  # a later checkpoint: other weights
    newer = save_model(tmp_path / "newer.safetensors", other)
    check = modelfile.check_against_config

    def replaced_meanwhile(*args):
        check(*args)
        os.replace(newer, path)  # atomically, as save_model writes

    monkeypatch.setattr(modelfile, "check_against_config", replaced_meanwhile)
    loaded, meta = load_model(path)  # not "corrupted (tensor checksum mismatch)"
    assert meta["notes"] == "tiny test model"
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


class _Evil:
    """Unpickling this would create a marker file."""

    marker = ""

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.fixture
def evil(tmp_path):
    _Evil.marker = str(tmp_path / "PWNED")
    return _Evil(), tmp_path / "PWNED"


def test_torch_zip_checkpoint_is_refused_without_unpickling(tmp_path, evil):
    payload, marker = evil
    path = tmp_path / "model.pth"
    torch.save({"state_dict": tiny_model().state_dict(), "evil": payload}, path)
    for fn in (load_model, read_metadata):
        with pytest.raises(ModelFileError, match="pickled PyTorch checkpoint.*never unpickles"):
            fn(path)
    assert not marker.exists()


def test_legacy_pickle_is_refused_without_unpickling(tmp_path, evil):
    payload, marker = evil
    path = tmp_path / "legacy.pt"
    torch.save({"evil": payload}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelFileError, match="pickled file.*never unpickles"):
        load_model(path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(ModelFileError, match="pickled file"):
        load_model(raw)
    assert not marker.exists()


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("these are not the weights you are looking for\n")
    with pytest.raises(ModelFileError, match="text file"):
        load_model(path)


def test_truncated_file_is_refused(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    for cut in (len(data) - 100, 200, 20, 4, 0):
        short = tmp_path / f"cut{cut}.safetensors"
        short.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated|too short"):
            load_model(short)


def test_corrupted_tensor_bytes_are_detected(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    read_metadata(bad)  # the header is still fine
    with pytest.raises(ModelFileError, match="corrupted.*checksum"):
        load_model(bad)


def _write_safetensors(path, tensors: dict, info: dict | None):
    from safetensors.torch import save_file

    meta = {"napari_unet": json.dumps(info)} if info is not None else None
    save_file(tensors, str(path), metadata=meta)


def test_wrong_tensor_shape_is_refused(saved, tmp_path):
    _, path = saved
    info = read_metadata(path)
    info.pop("tensors_sha256")
    wider = build_model(info["config"] | {"base_channels": 8}).state_dict()
    bad = tmp_path / "wrongshape.safetensors"
    _write_safetensors(bad, wider, info)
    with pytest.raises(ModelFileError, match=r"tensor '.*' has shape \(8, .*needs \(4, "):
        load_model(bad)


def test_missing_tensors_are_refused(saved, tmp_path):
    _, path = saved
    info = read_metadata(path)
    state = tiny_model(batch_norm=True).state_dict()
    state.pop("head.weight")
    bad = tmp_path / "missing.safetensors"
    _write_safetensors(bad, state, info)
    with pytest.raises(ModelFileError, match="missing.*head.weight"):
        load_model(bad)


def test_unknown_architecture_and_newer_version(saved, tmp_path):
    _, path = saved
    info = read_metadata(path)
    state = tiny_model(batch_norm=True).state_dict()
    unknown = tmp_path / "unknown.safetensors"
    _write_safetensors(unknown, state, info | {"config": info["config"] | {"arch": "transunet"}})
    with pytest.raises(ModelFileError, match="unknown architecture 'transunet'"):
        load_model(unknown)
    newer = tmp_path / "newer.safetensors"
    _write_safetensors(newer, state, info | {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(ModelFileError, match="format version 2 is newer.*upgrade"):
        read_metadata(newer)


def test_plain_safetensors_without_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    _write_safetensors(path, {"w": torch.zeros(3)}, None)
    with pytest.raises(ModelFileError, match="without napari-unet metadata"):
        load_model(path)


def test_other_binary_formats_are_named(tmp_path):
    png = tmp_path / "image.safetensors"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ModelFileError, match="image"):
        load_model(png)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(struct.pack("<Q", 10**12) + bytes(range(256)))
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load_model(junk)
    broken_json = tmp_path / "json.safetensors"
    broken_json.write_bytes(struct.pack("<Q", 5) + b"{abcd")
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(broken_json)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "absent.safetensors")


def test_compiled_model_is_saved_as_the_plain_network(tmp_path):
    class Compiled(torch.nn.Module):  # what torch.compile returns, without importing dynamo
        def __init__(self, mod):
            super().__init__()
            self._orig_mod = mod

    model = tiny_model()
    compiled = Compiled(model)
    assert any(k.startswith("_orig_mod.") for k in compiled.state_dict())
    loaded, _ = load_model(save_model(tmp_path / "c.safetensors", compiled))
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True)
    )


def test_device_choice(saved, monkeypatch):
    _, path = saved
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model, _ = load_model(path, device="auto")
    assert next(model.parameters()).device.type in ("cpu", "mps")
    with pytest.raises(InputError, match="CUDA is not available"):
        load_model(path, device="cuda")


def test_model_file_errors_are_input_errors():
    assert issubclass(ModelFileError, InputError)


# -- hostile headers: refused before anything is built or allocated ---------------------


def _raw_file(path, header: dict, data: bytes = b""):
    """A safetensors container with exactly this JSON header (no library checks)."""
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("normalization", 5, "'normalization' must be a dict"),
        ("normalization", {"method": "fixed", "min": [0], "max": [255]}, "normalisation is unu"),
        ("normalization", {"method": "percentile", "low": None}, "normalisation is unusable"),
        ("normalization", {"method": "fixed", "min": 1, "max": 1}, "normalisation is unusable"),
        ("class_names", "bg,cell", "'class_names' must be a list"),
        ("class_names", ["bg", 3], "class_names must be strings"),
        ("separation_gap", "2", "'separation_gap' must be a int"),
        ("postprocess", [0.5], "'postprocess' must be a dict"),
        ("config", "unet", "'config' must be a dict"),
        ("format_version", "1", "format_version must be a whole number"),
    ],
)
def test_metadata_of_the_wrong_type_is_refused(saved, tmp_path, key, value, message):
    _, path = saved
    info = read_metadata(path) | {key: value}
    bad = tmp_path / "bad.safetensors"
    _write_safetensors(bad, tiny_model(batch_norm=True).state_dict(), info)
    with pytest.raises(ModelFileError, match=message):
        load_model(bad)


def test_an_unusable_normalisation_is_refused_when_saved(saved, tmp_path):
    model, _ = saved
    for spec in ({"method": "fixed", "min": [0], "max": [255]}, {"method": "percentile",
                 "low": "1"}, {"method": "fixed", "min": 0, "max": float("nan")}):  # fmt: skip
        with pytest.raises(InputError, match="normalisation|percentiles"):
            save_model(tmp_path / "n.safetensors", model, normalization=spec)
    assert not (tmp_path / "n.safetensors").exists()


@pytest.mark.parametrize("offsets", [[0], ["0", "4"], [8, 4], [0, 8], [-4, 0], None, [0, 4.0]])
def test_malformed_data_offsets_are_refused(tmp_path, offsets):
    info = {"format_version": 1, "config": {"arch": "unet"}}
    header = {"__metadata__": {"napari_unet": json.dumps(info)},
              "w": {"dtype": "F32", "shape": [1], "data_offsets": offsets}}  # fmt: skip
    bad = _raw_file(tmp_path / "offsets.safetensors", header, b"\0" * 4)
    with pytest.raises(ModelFileError, match="offsets|bytes|corrupted"):
        read_metadata(bad)


@pytest.mark.parametrize(
    "config",
    [
        {"arch": "unet", "base_channels": 20000},
        {"arch": "unet", "depth": 40},
        {"arch": "unet", "base_channels": 512, "depth": 6},  # allowed sizes, wrong tensors
    ],
)
def test_a_small_file_asking_for_a_huge_network_is_refused_without_allocating(
    saved, tmp_path, config
):
    import resource

    _, path = saved
    info = read_metadata(path) | {"config": config}
    info.pop("tensors_sha256")
    bad = tmp_path / "huge.safetensors"
    _write_safetensors(bad, tiny_model(batch_norm=True).state_dict(), info)
    assert bad.stat().st_size < 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelFileError, match="beyond what a network may have|do not match"):
        load_model(bad)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"the refusal allocated {grown_mb:.0f} MB"


def test_nan_weights_are_refused(saved, tmp_path):
    _, path = saved
    info = read_metadata(path)
    info.pop("tensors_sha256")
    state = tiny_model(batch_norm=True).state_dict()
    state["head.weight"][:] = float("nan")
    bad = tmp_path / "nan.safetensors"
    _write_safetensors(bad, state, info)
    with pytest.raises(ModelFileError, match="NaN or infinite.*head.weight|head.weight.*NaN"):
        load_model(bad)


@pytest.mark.parametrize("size", [(13.3, 125), -1, "12", True])
def test_an_object_size_that_is_not_one_positive_number_is_refused(tmp_path, size):
    # median_diameter gives (diameter, n_objects): the pair was written, and refused only
    # when the model was later used with an object size
    from napari_unet import pretrained

    model, metadata = pretrained("nuclei")
    with pytest.raises(InputError, match="object_size must be a positive number"):
        save_model(tmp_path / "m.safetensors", model, **{**metadata, "object_size": size})
    assert not (tmp_path / "m.safetensors").exists()
