"""Model packages that say what they do, and package files that cannot hurt on import."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bioimageio.core")

import yaml  # noqa: E402

from napari_unet import InputError, build_model, export_bioimageio, import_bioimageio  # noqa: E402
from napari_unet.core.exchange.importer import load_description  # noqa: E402

ONE = ("pytorch_state_dict",)
TINY = {"arch": "unet", "base_channels": 4, "depth": 3, "padding": "same"}


@pytest.fixture(scope="module")
def ours(trained_same, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ours")
    return export_bioimageio(trained_same, folder / "ours.zip", weight_formats=ONE)


def _edited(package, out, rdf=None, weights: bytes | None = None):
    """``package`` with its rdf.yaml changed by ``rdf(dict)`` and/or other weight bytes."""
    import hashlib

    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "rdf.yaml":
                doc = yaml.safe_load(data)
                if rdf is not None:
                    rdf(doc)
                if weights is not None:
                    doc["weights"]["pytorch_state_dict"]["sha256"] = hashlib.sha256(
                        weights
                    ).hexdigest()
                data = yaml.safe_dump(doc, sort_keys=False).encode()
            elif name == "weights.pt" and weights is not None:
                data = weights
            dst.writestr(name, data)
    return out


def test_the_package_asks_other_tools_to_mirror_the_border(ours):
    """Left at its default, the mode was not written, and read back as zero padding."""
    with zipfile.ZipFile(ours) as z:
        assert yaml.safe_load(z.read("rdf.yaml"))["inputs"][0]["pad"] == {"mode": "reflect"}
    assert load_description(ours).inputs[0].pad.mode == "reflect"


def test_a_view_of_a_package_run_as_another_tools_equals_the_whole(trained_same, ours):
    """A window off the pooling grid shifted the blocks' pooling phase (up to 0.2 off)."""
    from napari_unet.core.exchange.foreign import ForeignModel
    from napari_unet.sample_data import nuclei_data

    image = nuclei_data()[0][:160, :160].astype(np.float32)
    runner = ForeignModel(ours)
    whole = runner.predict(image, tile=96)
    for region in (((40, 120), (40, 120)), ((43, 119), (45, 121))):
        view = runner.predict(image, tile=96, region=region)
        (y0, y1), (x0, x1) = region
        assert np.abs(view - whole[:, y0:y1, x0:x1]).max() <= 1e-5, region


def test_a_network_trained_on_from_a_files_pair_exports_and_imports(tmp_path):
    """The file's checksum was copied into the package, which import then refused."""
    from napari_unet import pretrained

    net, meta = pretrained("nuclei")
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.01)
    package = export_bioimageio((net, meta), tmp_path / "tuned.zip", weight_formats=ONE)
    model, _ = import_bioimageio(package)
    for k, v in net.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


def test_nan_weights_are_refused_before_a_package_is_written(tmp_path):
    net = build_model(TINY)
    with torch.no_grad():
        next(net.parameters())[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN or infinite"):
        export_bioimageio(net, tmp_path / "nan.zip", weight_formats=ONE)
    assert not (tmp_path / "nan.zip").exists()


def test_a_colour_test_image_may_have_its_channels_last(tmp_path):
    """(H, W, 3), as read_image returns colour, became a 3-pixel-wide strip mirrored out."""
    net = build_model({**TINY, "in_channels": 3})
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 128, 3)).astype(np.uint8)
    package = export_bioimageio(net, tmp_path / "colour.zip", image=image, weight_formats=ONE)
    with zipfile.ZipFile(package) as z:
        x = np.load(io.BytesIO(z.read("test_input.npy")))
    assert x.shape[:2] == (1, 3) and x.shape[-1] > 64
    assert not np.array_equal(x[0, 0], x[0, 1])  # the channels are the image's own


def test_only_the_built_in_models_are_signed_by_napari_unet(tmp_path):
    from napari_unet import save_model

    def authors(package):
        with zipfile.ZipFile(package) as z:
            return [a["name"] for a in yaml.safe_load(z.read("rdf.yaml"))["authors"]]

    mine = save_model(tmp_path / "mine.safetensors", build_model(TINY), name="Lovelace nuclei")
    package = export_bioimageio(mine, tmp_path / "mine.zip", weight_formats=ONE)
    assert authors(package) == ["unknown (exported by napari-unet)"]
    builtin = export_bioimageio("nuclei", tmp_path / "nuclei.zip", weight_formats=ONE)
    assert authors(builtin) == ["napari-unet developers"]


def test_a_folder_named_like_a_built_in_model_does_not_hide_it(tmp_path, monkeypatch):
    from napari_unet.core.models.pretrained import is_pretrained_name, resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "nuclei").mkdir()  # a folder of images, say
    assert is_pretrained_name("nuclei") and resolve_model("nuclei").is_file()
    (tmp_path / "nuclei").rmdir()
    (tmp_path / "nuclei").write_bytes(b"x")  # a file of that name wins
    assert not is_pretrained_name("nuclei")


def test_a_package_asking_for_a_huge_network_is_refused_before_it_is_built(ours, tmp_path):
    """2 MB of package asked for a 32 GB network, which import tried to allocate."""

    def bigger(doc):
        doc["config"]["napari_unet"]["config"].update(base_channels=1024, depth=5)

    edited = _edited(ours, tmp_path / "edited.zip", rdf=bigger)
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "import napari_unet as nu\n"
        "try:\n    nu.import_bioimageio(sys.argv[1])\n"
        "except nu.InputError as e:\n    print('refused:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(edited)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert "refused:" in done.stdout and "do not match" in done.stdout, done.stderr[-500:]


class _Runs:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize("what", ["pickle", "tensor", "junk"])
def test_weights_that_are_no_state_dict_are_refused_with_a_message(ours, tmp_path, what):
    buf = io.BytesIO()
    if what == "pickle":
        torch.save({"net.x": _Runs()}, buf)
    elif what == "tensor":
        torch.save(torch.zeros(3), buf)
    else:
        buf.write(b"not a checkpoint" * 8)
    edited = _edited(ours, tmp_path / f"{what}.zip", weights=buf.getvalue())
    with pytest.raises(InputError, match="state dict"):
        import_bioimageio(edited)


def test_another_tools_package_without_a_channel_axis_is_refused_with_a_reason():
    from bioimageio.spec.model import v0_5 as s

    from napari_unet.core.exchange.foreign import plan_tensors

    size = s.ParameterizedSize(min=16, step=8)
    axes = [s.BatchAxis(), s.SpaceInputAxis(id=s.AxisId("y"), size=size),
            s.SpaceInputAxis(id=s.AxisId("x"), size=size)]  # fmt: skip
    inp = s.InputTensorDescr.model_construct(id=s.TensorId("raw"), axes=axes)

    class Descr:
        inputs = [inp]
        outputs = [inp]
        weights = s.WeightsDescr.model_construct(pytorch_state_dict=object())

    with pytest.raises(InputError, match="has no channel axis"):
        plan_tensors(Descr(), "byx")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A package of an untrained tiny network (nothing to train: quick)."""
    folder = tmp_path_factory.mktemp("plain")
    return export_bioimageio(build_model(TINY), folder / "plain.zip", weight_formats=ONE)


def _without_weights(package, out):
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name != "weights.pt":
                dst.writestr(name, src.read(name))
    return out


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a zip", "no weights.pt",
                                    "weights.pt cut", "weights.pt cut, checksum too"])  # fmt: skip
def test_a_damaged_package_is_named_damaged_and_what_is_missing(plain, tmp_path, damage):
    """A cut download said "'utf-8' codec can't decode...", an empty file "Expected rdf.yaml
    content to be a mapping", and weights cut short or missing "napari-unet never unpickles
    code", as if the file were malicious."""
    data = plain.read_bytes()
    weights = zipfile.ZipFile(plain).read("weights.pt")
    bad = tmp_path / "bad.zip"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "not a zip":
        bad.write_text("hello, this is not a package")
    elif damage == "no weights.pt":
        _without_weights(plain, bad)
    elif damage == "weights.pt cut":  # the checksum in rdf.yaml no longer matches
        with zipfile.ZipFile(bad, "w") as z:
            for name in zipfile.ZipFile(plain).namelist():
                part = weights[:1000] if name == "weights.pt" else zipfile.ZipFile(plain).read(name)
                z.writestr(name, part)
    else:
        _edited(plain, bad, weights=weights[: len(weights) // 2])
    with pytest.raises(InputError) as info:
        import_bioimageio(bad)
    text = str(info.value)
    assert "unpickle" not in text and "utf-8" not in text and "mapping" not in text, text
    expected = {"truncated": "stops early", "empty": "is empty", "not a zip": "not a zip archive",
                "no weights.pt": "weights file weights.pt, which is missing",
                "weights.pt cut": "does not match the checksum",
                "weights.pt cut, checksum too": "not a complete PyTorch file"}  # fmt: skip
    assert expected[damage] in text, text
    assert "damaged or incomplete" in text, text
