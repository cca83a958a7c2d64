"""The wall between the Qt-free core and the GUI, checked in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

GUI_MODULES = (
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "napari",
    "magicgui",
    "superqt",
    "vispy",
)


def _loaded_after(code: str) -> set[str]:
    script = (
        code
        + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_core_imports_no_gui_toolkit():
    # Import every module of the core, as a headless cluster worker would.
    code = (
        "import importlib, pkgutil, napari_unet.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'napari_unet.core.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = _loaded_after(code)
    assert "torch" in loaded or "numpy" in loaded  # the walk really imported the engine
    assert not loaded & set(GUI_MODULES), f"core pulled in {sorted(loaded & set(GUI_MODULES))}"


def test_package_import_is_light():
    # napari imports the package while listing plugins: it must not import torch or Qt.
    loaded = _loaded_after("import napari_unet, napari_unet.core, napari_unet.cli")
    assert "torch" not in loaded
    assert not loaded & set(GUI_MODULES)


def test_the_command_line_starts_without_torch():
    # --help and argument mistakes answer at once: registering the subcommands imports no
    # torch (it cost 1.5 s, and a Ctrl-C in that time printed a traceback).
    loaded = _loaded_after("from napari_unet.cli import build_parser\nbuild_parser()")
    assert "torch" not in loaded
    assert not loaded & set(GUI_MODULES)


def test_ctrl_c_while_the_parser_is_built_is_one_line(monkeypatch, capsys):
    import napari_unet.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["predict", "--help"]) == 130
    assert capsys.readouterr().err.strip() == "napari-unet: interrupted"
