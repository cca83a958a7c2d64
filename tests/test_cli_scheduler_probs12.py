"""``predict --scheduler --probabilities`` on a TIFF writes a Zarr store named ``.zarr``.

Before, the cluster path wrote the probabilities chunk by chunk into a folder named
``NAME_probabilities.tif``, which no TIFF reader opens, and a rerun with ``--overwrite`` was
refused: "cannot write ...: it is a folder".
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import napari_unet as nu
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cluster_probabilities_of_a_tiff_are_a_zarr_store_and_rerun(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    zarr = pytest.importorskip("zarr")
    image, _ = nu.nuclei_data()
    tifffile.imwrite(tmp_path / "cells.tif", image[:96, :96])
    out = tmp_path / "out"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        args = ["predict", "nuclei", str(tmp_path / "cells.tif"), "-o", str(out),
                "--scheduler", cluster.scheduler_address, "--probabilities"]  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [
            "cells_labels.tif", "cells_probabilities.zarr",
        ]  # fmt: skip
        probs = np.asarray(zarr.open(str(out / "cells_probabilities.zarr"), mode="r")[...])
        assert probs.shape[-2:] == (96, 96) and tifffile.imread(out / "cells_labels.tif").max() > 0
        assert main([*args, "--overwrite"]) == 0, capsys.readouterr().err  # before: a folder
