"""A damaged package description and out-of-range settings are InputErrors, never tracebacks.

Before, a package whose rdf.yaml had one flipped byte ended import, predict and export in
"BadZipFile: Bad CRC-32 for file 'rdf.yaml'"; a model file whose config dropout was "abc"
(or 10**400) in ValueError (OverflowError); a percentile ``low`` of 10**400 in
OverflowError wherever the file was read; and a ``fixed`` range of -1e308 to 1e308 was
accepted and turned every image into zeros.
"""

from __future__ import annotations

import json
import struct
import zipfile

import numpy as np
import pytest

from napari_unet import InputError, build_model, load_model, read_metadata, save_model
from napari_unet.core.images.normalize import check_spec, normalize
from napari_unet.core.models.filecheck import ModelFileError

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = {"arch": "unet", "padding": "same", "base_channels": 4, "depth": 2}
RDF = b"format_version: 0.5.3\ntype: model\nname: cells\n" + b"description: nuclei\n" * 40


def _flipped_rdf(path, compression, where):
    """A zip package whose rdf.yaml has one byte of its stored data flipped (bit rot)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("rdf.yaml", RDF)
        z.writestr("weights.pt", b"\0" * 64)
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("rdf.yaml")
    n, e = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + n + e + int(info.compress_size * where)] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "compression, where",
    [(zipfile.ZIP_STORED, 0.5), (zipfile.ZIP_DEFLATED, 0.5), (zipfile.ZIP_DEFLATED, 0.0)],
    ids=["stored", "deflated", "deflate stream"],  # Bad CRC-32, or a zlib error
)
def test_a_package_with_a_damaged_rdf_yaml_is_named_damaged(tmp_path, compression, where):
    pytest.importorskip("bioimageio.spec")
    from napari_unet.core.exchange.importer import load_description

    bad = _flipped_rdf(tmp_path / "bad.zip", compression, where)
    with pytest.raises(InputError) as info:
        load_description(bad)  # what import, predict and export of a package call first
    text = str(info.value)
    assert "damaged or incomplete" in text and "rdf.yaml" in text, text
    assert "export it again" in text, text


def _edited(source, target, change):
    """``source`` with its napari-unet metadata changed by ``change`` (tensors untouched)."""
    raw = source.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    info = json.loads(header["__metadata__"]["napari_unet"])
    change(info)
    header["__metadata__"]["napari_unet"] = json.dumps(info)
    text = json.dumps(header).encode()
    target.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    return target


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, build_model(CONFIG))
    return path


@pytest.mark.parametrize("arch", ["unet", "unetpp", "unet3p"])
@pytest.mark.parametrize("dropout", ["abc", 10**400], ids=["text", "huge"])
def test_a_dropout_that_is_no_number_is_an_input_error(arch, dropout):
    with pytest.raises(InputError, match="dropout must be a number"):
        build_model({"arch": arch, "base_channels": 4, "depth": 2, "dropout": dropout})


@pytest.mark.parametrize("dropout", ["abc", 10**400], ids=["text", "huge"])
def test_a_model_file_with_such_a_dropout_cannot_build_its_network(tiny_file, tmp_path, dropout):
    bad = _edited(tiny_file, tmp_path / "bad.safetensors",
                  lambda info: info["config"].__setitem__("dropout", dropout))  # fmt: skip
    with pytest.raises(ModelFileError, match="cannot build its network: .*dropout"):
        load_model(bad)


def test_a_percentile_beyond_the_float_range_makes_the_normalisation_unusable(tiny_file, tmp_path):
    spec = {"method": "percentile", "low": 10**400, "high": 99.8}
    with pytest.raises(InputError, match="percentiles must satisfy"):
        check_spec(spec)
    bad = _edited(tiny_file, tmp_path / "bad.safetensors",
                  lambda info: info.__setitem__("normalization", spec))  # fmt: skip
    with pytest.raises(ModelFileError, match="its normalisation is unusable"):
        read_metadata(bad)


@pytest.mark.parametrize("low, high", [(-1e308, 1e308), (-1e300, 1e300), (0, 1e39), (-3e38, 3e38),
                                       (-(10**400), 1)],
                         ids=["1e308", "1e300", "1e39", "span 6e38", "10**400"])  # fmt: skip
def test_a_fixed_range_beyond_float32_makes_the_normalisation_unusable(tiny_file, tmp_path,
                                                                      low, high):  # fmt: skip
    spec = {"method": "fixed", "min": low, "max": high}
    with pytest.raises(InputError, match="'fixed' normalisation needs"):
        check_spec(spec)
    bad = _edited(tiny_file, tmp_path / "bad.safetensors",
                  lambda info: info.__setitem__("normalization", spec))  # fmt: skip
    with pytest.raises(ModelFileError, match="its normalisation is unusable"):
        read_metadata(bad)


def test_a_wide_but_usable_fixed_range_still_normalises():
    image = np.array([[0, 1000], [2000, 4000]], np.uint16)
    out = normalize(image, {"method": "fixed", "min": -1e37, "max": 1e37})
    assert np.isfinite(out).all() and np.allclose(out, 0.5)
    out = normalize(image, {"method": "fixed", "min": 0, "max": 4000})
    assert np.allclose(out, image / 4000)
