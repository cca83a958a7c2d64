"""A package's input channels read from its rdf.yaml before it is opened (Predict dock).

Another tool's package counted as one channel until its first run had opened it, so a
(3, H, W) image given to a 3-channel package was read as three planes on that run.
"""

from __future__ import annotations

import zipfile

import pytest
import yaml

from napari_unet.widgets._exporting import model_channels, package_channels


def _package(path, inputs):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rdf.yaml", yaml.safe_dump({"format_version": "0.5.3", "inputs": inputs}))
    return path


@pytest.mark.parametrize(
    ("tensor", "channels"),
    [
        ({"axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["r", "g", "b"]},
                   {"type": "space", "id": "y"}, {"type": "space", "id": "x"}]}, 3),
        ({"axes": [{"type": "channel", "size": 2}, {"type": "space", "id": "y"}]}, 2),
        ({"axes": [{"type": "space", "id": "y"}, {"type": "space", "id": "x"}]}, 1),
        ({"axes": "bcyx", "shape": [1, 2, 256, 256]}, 2),
        ({"axes": "bcyx", "shape": {"min": [1, 3, 16, 16], "step": [0, 0, 8, 8]}}, 3),
        ({"axes": "byx", "shape": [1, 64, 64]}, 1),
    ],
)  # fmt: skip
def test_the_input_channels_are_read_from_the_description(tmp_path, tensor, channels):
    package = _package(tmp_path / "other.zip", [tensor])
    assert package_channels(package) == channels
    assert model_channels(None, package) == channels  # what the dock reads a layer by


def test_an_unreadable_description_says_nothing(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    assert package_channels(broken) is None and model_channels(None, broken) == 1
    assert package_channels(_package(tmp_path / "odd.zip", "inputs")) is None


def test_a_package_written_by_bioimageio_is_read(tmp_path):
    pytest.importorskip("bioimageio.spec")
    import foreign_package as fp
    import numpy as np

    from napari_unet.sample_data import nuclei_data

    image = nuclei_data()[0].astype(np.float32)[:64, :64]
    package = fp.build(tmp_path / "tinynet", image)
    assert package_channels(package) == 1
