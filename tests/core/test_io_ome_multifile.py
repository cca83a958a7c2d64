"""An uncompressed OME-TIFF whose planes lie in several files (Micro-Manager, Bio-Formats).

The check that an uncompressed file holds the pixels it declares compared the whole series
with the first file's size: such an image was refused as "truncated or damaged". Each
file's own pages are checked now, and a file cut short is named.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import tifffile

import napari_unet as nu


def _ome(own: str, files: dict[str, str]) -> str:
    entries = "".join(
        f'<TiffData FirstZ="{z}" IFD="0" PlaneCount="1"><UUID FileName="{name}">{uid}</UUID>'
        "</TiffData>"
        for z, (name, uid) in enumerate(files.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="{own}">'
        '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" '
        f'SizeX="64" SizeY="48" SizeZ="{len(files)}" SizeC="1" SizeT="1">'
        f'<Channel ID="Channel:0:0" SamplesPerPixel="1"/>{entries}</Pixels></Image></OME>'
    )


@pytest.fixture
def planes(tmp_path):
    """Three planes, one per file; returns (first file, the planes)."""
    data = np.random.default_rng(0).integers(0, 4000, (3, 48, 64)).astype(np.uint16)
    files = {f"p{z}.ome.tif": f"urn:uuid:{uuid.uuid4()}" for z in range(3)}
    for (name, uid), plane in zip(files.items(), data, strict=True):
        tifffile.imwrite(tmp_path / name, plane, description=_ome(uid, files), metadata=None)
    return tmp_path / "p0.ome.tif", data


@pytest.mark.parametrize("lazy", [False, True])
def test_a_series_over_several_files_reads_whole(planes, lazy):
    first, data = planes
    image = nu.read_image(first, lazy=lazy)
    np.testing.assert_array_equal(np.asarray(image), data)


def test_a_file_of_the_series_cut_short_is_named(planes):
    first, _ = planes
    last = first.with_name("p2.ome.tif")
    last.write_bytes(last.read_bytes()[:-1000])
    with pytest.raises(nu.InputError, match="p2.ome.tif: the file is truncated or damaged"):
        nu.read_image(first)
