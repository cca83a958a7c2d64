"""``export`` refuses a blank name or author; ``import`` refuses a model file named as a package.

Before, ``export --name "     " --author ""`` signed a package by nobody that passed
bioimageio's test, and ``import PKG -o mine.zip`` wrote a model file named like a package,
which ``export`` then refused ("give it back its .safetensors name").
"""

from __future__ import annotations

import pytest

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.exchange.identity import author_names, package_name


@pytest.mark.parametrize(
    "extra", [["--name", "     "], ["--author", ""], ["--author", "Ada", "--author", "  "]]
)
def test_export_refuses_a_blank_name_or_author(tmp_path, capsys, extra):
    out = tmp_path / "nuclei.zip"
    assert main(["export", "nuclei", "-o", str(out), *extra]) == 2
    assert "cannot be blank" in capsys.readouterr().err
    assert not out.exists()


def test_blank_names_are_refused_in_python_too():
    with pytest.raises(InputError, match="blank"):
        package_name("     ", "model")
    with pytest.raises(InputError, match="blank"):
        author_names(["Ada", ""])
    assert author_names("Ada Lovelace") == ["Ada Lovelace"]


@pytest.mark.parametrize("name", ["mine.zip", "mine.tif"])
def test_import_refuses_a_model_file_named_as_a_package_or_an_image(tmp_path, capsys, name):
    package = tmp_path / "pkg.zip"
    package.write_bytes(b"not read: refused first")
    assert main(["import", str(package), "-o", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert "mine.safetensors" in err and not (tmp_path / name).exists()
