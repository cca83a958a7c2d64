"""The docs speak the public API: their examples run, and they import napari_unet alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import napari_unet

DOCS = Path(__file__).resolve().parents[1] / "docs"
API = DOCS / "api.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


@pytest.mark.usefixtures("one_thread")
def test_the_api_page_example_runs(tmp_path, monkeypatch, capsys):
    example = python_blocks(API)[1]  # "A whole loop in one script"
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(API), "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert re.search(r"\d+ nuclei, AP50 0\.[5-9]", out), out  # the built-in model works
    assert "step 20: validation AP50" in out and "mosaic (520, 694)" in out
    assert (tmp_path / "nuclei-tuned.safetensors").exists()
    assert (tmp_path / "nuclei-tuned.best.safetensors").exists()


def test_every_public_name_is_on_the_api_page():
    text = API.read_text(encoding="utf-8")
    names = [n for n in napari_unet.__all__ if n != "__version__"]
    missing = [n for n in names if not re.search(rf"`{re.escape(n)}[`(]", text)]
    assert not missing, missing


def test_every_public_name_resolves_and_has_a_docstring():
    for name in napari_unet.__all__:
        if name == "__version__":
            continue
        value = getattr(napari_unet, name)
        assert (value.__doc__ or "").strip(), name
    assert "train" in dir(napari_unet)
    with pytest.raises(AttributeError):
        napari_unet.no_such_name  # noqa: B018


def test_doc_examples_import_the_public_api_only():
    bad = []
    for page in sorted(DOCS.glob("*.md")):
        for block in python_blocks(page):
            try:
                tree = ast.parse(block)
            except SyntaxError:
                continue  # a fragment (an expression list), not a script
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                bad += [f"{page.name}: {n}" for n in names if n.startswith("napari_unet.")]
    assert not bad, bad
