"""Model sharing, second hunt: a package's YAML alias chain is refused unexpanded, a deeply
nested header is a clear error, the reader refuses the values save and import refuse, the
Predict dock's Export keeps a recorded name, one author string is one author and a dotted
file name is kept whole (each failed before its fix)."""

from __future__ import annotations

import json
import struct
import zipfile

import pytest

from napari_unet import build_model, save_model
from napari_unet.core.errors import InputError
from napari_unet.core.models.modelfile import ModelFileError, load_model, read_metadata

STATE_DICT = ("pytorch_state_dict",)


def _net():
    import torch

    torch.manual_seed(0)
    config = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2}
    return build_model(config).eval()


def _laughs(depth: int) -> str:
    """A small "billion laughs" chain: 10**depth items once expanded (never expanded here)."""
    lines = ["    l0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, depth):
        lines.append(f"    l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines)


def _hostile_package(tmp_path, depth: int = 4):
    rdf = (
        "type: model\nformat_version: 0.5.4\nname: laughing model\n"
        "config:\n  napari_unet:\n" + _laughs(depth) + "\n"
    )
    path = tmp_path / "laughs.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("rdf.yaml", rdf)
    return path


def test_a_package_whose_rdf_yaml_uses_aliases_is_refused_before_bioimageio_reads_it(
    tmp_path, monkeypatch
):
    pytest.importorskip("bioimageio.spec")
    import bioimageio.spec

    from napari_unet.core.exchange.importer import load_description

    def expanded(*args, **kwargs):
        raise AssertionError("bioimageio.spec was handed the aliases")

    monkeypatch.setattr(bioimageio.spec, "load_model_description", expanded)
    package = _hostile_package(tmp_path)
    with pytest.raises(InputError, match="rdf.yaml is refused: it uses YAML aliases"):
        load_description(package)
    unpacked = tmp_path / "unpacked"  # an unpacked package's folder and its rdf.yaml too
    unpacked.mkdir()
    (unpacked / "rdf.yaml").write_bytes(zipfile.ZipFile(package).read("rdf.yaml"))
    for path in (unpacked, unpacked / "rdf.yaml"):
        with pytest.raises(InputError, match="refused: it uses YAML aliases"):
            load_description(path)


def test_the_import_command_refuses_a_billion_laughs_package(tmp_path, capsys):
    pytest.importorskip("bioimageio.core")
    from napari_unet.cli import main

    package = _hostile_package(tmp_path, depth=5)  # small: the old code expanded it
    assert main(["import", str(package), "-o", str(tmp_path / "m.safetensors")]) != 0
    assert "rdf.yaml is refused" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_the_docks_rdf_reader_gives_nothing_for_an_aliased_rdf_yaml(tmp_path):
    from napari_unet.core.exchange.identity import read_rdf

    assert read_rdf(_hostile_package(tmp_path)) is None


def _rewrite(path, edit_meta=None, edit_header=None):
    """The model file at ``path`` with its napari-unet JSON (or whole header) rewritten."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    table = json.loads(data[8 : 8 + n])
    if edit_meta is not None:
        text = edit_meta(table["__metadata__"]["napari_unet"])
        table["__metadata__"]["napari_unet"] = text
    header = json.dumps(table)
    header = edit_header(header) if edit_header else header
    raw = header.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    return path


def _with(path, **values):
    def edit(text):
        return json.dumps({**json.loads(text), **values})

    return _rewrite(path, edit)


@pytest.fixture
def model_file(tmp_path, one_thread):
    return save_model(tmp_path / "m.safetensors", _net())


def test_a_header_or_metadata_nested_100000_deep_is_a_clear_error(model_file, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    meta = tmp_path / "meta.safetensors"
    meta.write_bytes(model_file.read_bytes())
    _rewrite(meta, lambda t: t[:-1] + ', "extra": ' + deep + "}")
    table = tmp_path / "table.safetensors"
    table.write_bytes(model_file.read_bytes())
    _rewrite(table, edit_header=lambda h: h[:-1] + ', "zz": ' + deep + "}")
    for path in (meta, table):
        with pytest.raises(ModelFileError, match="corrupted"):
            load_model(path)  # before: an uncaught RecursionError


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"object_size": "big"}, "object_size"),
        ({"object_size": -3}, "object_size"),
        ({"name": 5}, "'name'"),
        ({"authors": [1, 2]}, "'authors'"),
        ({"license": ["MIT"]}, "'license'"),
        ({"class_names": ["cell"]}, "class_names"),
        ({"postprocess": {"threshold": "high"}}, "'threshold'"),
        ({"postprocess": {"threshold": 5}}, "'threshold'"),
        ({"postprocess": {"min_size": -1}}, "'min_size'"),
        # whole numbers too large for a float: OverflowError escaped as a traceback
        ({"object_size": 10**400}, "object_size"),
        ({"postprocess": {"min_size": 10**400}}, "'min_size'"),
    ],
)
def test_the_reader_refuses_the_values_save_and_import_refuse(model_file, values, field):
    _with(model_file, **values)
    with pytest.raises(ModelFileError, match=field):
        load_model(model_file)  # before: loaded, then predict or export crashed


@pytest.mark.parametrize(
    "values",
    [{"name": 5}, {"authors": {"a": 1}}, {"postprocess": {"threshold": "high"}}],
)
def test_save_model_refuses_what_the_reader_refuses(tmp_path, one_thread, values):
    with pytest.raises(InputError, match=next(iter(values))):
        save_model(tmp_path / "m.safetensors", _net(), **values)
    assert not (tmp_path / "m.safetensors").exists()


def test_files_of_earlier_versions_and_the_built_in_models_still_load(model_file, one_thread):
    from napari_unet.core.models.pretrained import resolve_model

    _with(model_file, name="old model", authors="Ada Lovelace", license=None, object_size=12)
    assert load_model(model_file)[1]["authors"] == "Ada Lovelace"
    for name in ("nuclei", "nuclei-brightfield"):
        assert load_model(resolve_model(name))[1]["name"] == name


def test_one_author_string_is_one_author():
    from napari_unet.core.exchange.identity import choose_identity

    chosen, _ = choose_identity({"authors": "Ada Lovelace"}, "model")
    assert chosen["authors"] == ["Ada Lovelace"]  # before: A, d, a, ...
    assert choose_identity({}, "model", authors="Grace")[0]["authors"] == ["Grace"]
    with pytest.raises(InputError, match="authors must be a list of names"):
        choose_identity({}, "model", authors=[5])


@pytest.fixture
def fast_export(monkeypatch, one_thread):
    """The state dict only (TorchScript and ONNX take seconds each)."""
    pytest.importorskip("bioimageio.core")
    from napari_unet.core.exchange import spec

    monkeypatch.setattr(spec, "default_formats", lambda: STATE_DICT)


def _name(package) -> str:
    import yaml

    return yaml.safe_load(zipfile.ZipFile(package).read("rdf.yaml"))["name"]


def _run(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def test_the_docks_export_keeps_the_name_a_model_file_records(tmp_path, fast_export):
    from napari_unet.widgets._exporting import export_job

    theirs = save_model(tmp_path / "theirs.safetensors", _net(), name="Cell segmenter")
    _run(export_job(theirs, tmp_path / "dock.zip", "theirs", check=False))
    assert _name(tmp_path / "dock.zip") == "Cell segmenter"  # before: "napari-unet theirs"
    unnamed = (_net(), {})  # a model that records none gets the dock's name
    _run(export_job(unnamed, tmp_path / "pair.zip", "my trained model", check=False))
    assert _name(tmp_path / "pair.zip") == "my trained model"


def test_the_command_keeps_a_dotted_file_name_whole(tmp_path, fast_export):
    from napari_unet.cli import main

    model = save_model(tmp_path / "cells.v2.safetensors", _net())
    assert read_metadata(model).get("name") is None
    assert main(["export", str(model), "-o", str(tmp_path / "dot.zip")]) == 0
    assert _name(tmp_path / "dot.zip") == "cells-v2"  # before: "napari-unet cells"
