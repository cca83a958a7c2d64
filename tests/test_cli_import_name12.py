"""A package's name survives ``import`` and a new ``export`` of the imported model file.

docs/models.md: ``napari-unet import`` records the package's name, authors and licence in
the model file, so exporting that file keeps them. Before, a model that recorded no name
(most models a user trains) lost its package's name: the file imported as
``cells_imported.safetensors`` was exported as a package named ``cells_imported``.
"""

from __future__ import annotations

import zipfile

import pytest
import yaml

from napari_unet.cli import main


def _name(package) -> str:
    with zipfile.ZipFile(package) as z:
        return yaml.safe_load(z.read("rdf.yaml"))["name"]


def test_an_unnamed_models_package_name_survives_import_and_export(tmp_path, capsys):
    pytest.importorskip("torch")
    from napari_unet import build_model, save_model

    model = build_model({"arch": "unet", "base_channels": 4, "depth": 2, "padding": "same"})
    save_model(tmp_path / "cells.safetensors", model)
    first = ["export", str(tmp_path / "cells.safetensors"), "-o", str(tmp_path / "cells.zip")]
    assert main(first) == 0
    assert _name(tmp_path / "cells.zip") == "cells"
    imported = tmp_path / "cells_imported.safetensors"
    assert main(["import", str(tmp_path / "cells.zip"), "-o", str(imported)]) == 0
    assert main(["export", str(imported), "-o", str(tmp_path / "again.zip")]) == 0
    assert _name(tmp_path / "again.zip") == "cells"
