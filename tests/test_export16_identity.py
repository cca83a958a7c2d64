"""bioimage.io export: a network alone is exported as save_model saves it (its usage, not the
name, scores and provenance of the weights it was loaded with); a blank licence and an empty
author list are refused (each failed before its fix)."""

from __future__ import annotations

import zipfile

import pytest

pytest.importorskip("bioimageio.core")

from napari_unet import build_model, export_bioimageio, load_model, save_model  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.core.exchange import spec  # noqa: E402

STATE_DICT = ("pytorch_state_dict",)
NORM = {"method": "percentile", "low": 2.0, "high": 99.0}
OWN = {
    "name": "Kerne Zeiss v3",
    "description": "nuclei of our Zeiss widefield",
    "metrics": {"held_out": {"ap50": 0.9123}},
    "provenance": {"source": "our lab's 40 annotated images"},
    "normalization": NORM,
}


@pytest.fixture(autouse=True)
def _fast(monkeypatch, one_thread):
    """The command writes the state dict only (TorchScript and ONNX take seconds each)."""
    monkeypatch.setattr(spec, "default_formats", lambda: STATE_DICT)


@pytest.fixture
def model_file(tmp_path):
    import torch

    torch.manual_seed(0)
    net = build_model({"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2})
    return save_model(tmp_path / "kerne.safetensors", net.eval(), **OWN)


def _rdf(package) -> dict:
    import yaml

    with zipfile.ZipFile(package) as z:
        return yaml.safe_load(z.read("rdf.yaml"))


def _claims(package) -> dict:
    """What the package says of the model: its name, README and recorded metadata."""
    with zipfile.ZipFile(package) as z:
        readme = z.read("README.md").decode()
    rdf = _rdf(package)
    return {"name": rdf["name"], "readme": readme, "description": rdf["description"],
            "ours": rdf["config"]["napari_unet"]}  # fmt: skip


def test_a_changed_network_exported_alone_claims_none_of_its_files_scores(model_file, tmp_path):
    import torch

    net, meta = load_model(model_file)
    with torch.no_grad():  # fine-tuned in a script: no longer the model the file describes
        for p in net.parameters():
            p.mul_(0.9)
    claims = _claims(export_bioimageio(net, tmp_path / "tuned.zip", weight_formats=STATE_DICT))
    assert claims["name"] != OWN["name"]  # before: "Kerne Zeiss v3"
    assert "0.9123" not in claims["readme"] and "our lab" not in claims["readme"]
    assert OWN["description"] not in claims["description"]
    for key in ("name", "description", "metrics", "provenance"):
        assert key not in claims["ours"], key
    assert claims["ours"]["normalization"] == NORM  # how to use it is kept, as save_model does
    # save_model of the same network drops the same: the two rules agree
    saved = load_model(save_model(tmp_path / "tuned.safetensors", net))[1]
    assert not {"name", "description", "metrics"} & set(saved)
    assert "our lab" not in str(saved.get("provenance")) and saved["normalization"] == NORM


def test_a_model_file_or_a_pair_keeps_its_own_name_and_scores(model_file, tmp_path):
    net, meta = load_model(model_file)
    for source in (model_file, (net, meta)):  # the command and the docks pass these
        claims = _claims(export_bioimageio(source, tmp_path / "own.zip", weight_formats=STATE_DICT))
        assert claims["name"] == OWN["name"]
        assert "0.9123" in claims["readme"]
        assert claims["ours"]["metrics"] == OWN["metrics"]
    # given explicitly, a network alone gets a name too
    named = export_bioimageio(net, tmp_path / "named.zip", name="Kerne tuned",
                              weight_formats=STATE_DICT)  # fmt: skip
    assert _rdf(named)["name"] == "Kerne tuned"


def test_the_docks_export_of_a_model_file_keeps_its_recorded_name(model_file, tmp_path):
    from napari_unet.widgets._exporting import export_job

    def run(source):
        job = export_job(source, tmp_path / "dock.zip", "kerne", check=False)
        try:
            while True:
                next(job)
        except StopIteration as done:
            return done.value["path"]

    assert _rdf(run(model_file))["name"] == OWN["name"]  # the chosen file
    assert _rdf(run(load_model(model_file)))["name"] == OWN["name"]  # the dock's loaded pair


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_licence_is_refused_not_replaced(model_file, tmp_path, capsys, blank):
    out = tmp_path / "lic.zip"
    assert main(["export", str(model_file), "-o", str(out), "--license", blank]) == 2
    err = capsys.readouterr().err
    assert "licence" in err and "blank" in err  # before "": exit 0, licensed BSD-3-Clause
    assert not out.exists()
    with pytest.raises(InputError, match="blank"):
        export_bioimageio(model_file, tmp_path / "lic2.zip", license=blank)
    assert not (tmp_path / "lic2.zip").exists()


def test_an_empty_author_list_is_refused(model_file, tmp_path):
    out = tmp_path / "nobody.zip"
    with pytest.raises(InputError, match="at least one"):  # before: signed by nobody
        export_bioimageio(model_file, out, authors=[], weight_formats=STATE_DICT)
    assert not out.exists()
    signed = export_bioimageio(model_file, out, authors=["Ada Lovelace"],
                               weight_formats=STATE_DICT)  # fmt: skip
    assert [a["name"] for a in _rdf(signed)["authors"]] == ["Ada Lovelace"]
