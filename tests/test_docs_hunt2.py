"""What a docs walkthrough found: names the docs use that napari_unet lacked, and command
blocks that wrote the same output twice (the second command stopped: "exists; pass
--overwrite")."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import napari_unet as nu

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_error_classes_the_docs_name_are_public_input_errors():
    for name in ("IllegalTileSize", "ModelFileError"):
        assert name in nu.__all__ and name in dir(nu)
        assert issubclass(getattr(nu, name), nu.InputError)
    from napari_unet import IllegalTileSize, ModelFileError  # as docs/models.md writes it

    assert IllegalTileSize is nu.IllegalTileSize and ModelFileError is nu.ModelFileError


def test_illegal_tile_size_is_raised_where_models_md_says():
    g = nu.TileGeometry(n_pools=4, padding="valid")
    with pytest.raises(nu.IllegalTileSize, match="556 and 572"):
        g.output_size(570)
    torch = pytest.importorskip("torch")
    net = nu.UNet(1, 2, base_channels=4, depth=3)
    bad = 1 + net.geometry.min_input_size  # valid padding: an odd size at a pooling
    assert not net.geometry.is_legal(bad)
    with pytest.raises(nu.IllegalTileSize):
        net(torch.zeros(1, 1, bad, bad))


def test_model_file_error_is_raised_for_a_file_that_is_not_a_model(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("not a model\n", encoding="utf-8")
    with pytest.raises(nu.ModelFileError):
        nu.load_model(text)
    model = nu.UNet(1, 2, base_channels=4, depth=2)
    good = nu.save_model(tmp_path / "m.safetensors", model)
    data = Path(good).read_bytes()
    Path(good).write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(nu.ModelFileError):
        nu.load_model(good)


def _shell_blocks(page: Path) -> list[list[str]]:
    """The lines of each ```bash (or unlabelled) block."""
    blocks, lines, lang = [], None, ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if not line.startswith("```"):
            if lines is not None:
                lines.append(line)
        elif lines is None:
            lines, lang = [], line[3:].strip()
        else:
            if lang in ("", "bash", "sh"):
                blocks.append(lines)
            lines = None
    return blocks


def _outputs(line: str) -> list[str]:
    """What a napari-unet command line writes (``-o``, ``--json``, ``--summary``)."""
    if not line.startswith("napari-unet "):
        return []
    words = shlex.split(line, comments=True)
    if "--overwrite" in words:
        return []
    flags = ("-o", "--output", "--json", "--summary")
    return [b for a, b in zip(words, words[1:], strict=False) if a in flags]


@pytest.mark.parametrize("page", ["measure.md", "metrics.md", "object-size.md", "models.md"])
def test_a_command_block_runs_in_order_without_writing_an_output_twice(page):
    """No command writes onto what an earlier one wrote or read (models.md imported onto the
    model file it had just exported)."""
    for block in _shell_blocks(DOCS / page):
        seen: dict[str, str] = {}  # every word of the commands before -> its line
        for line in block:
            for out in _outputs(line):
                key = out.rstrip("/")
                assert key not in seen, f"{page}: {out} of\n{line}\nalready in\n{seen[key]}"
            if line.startswith("napari-unet "):
                seen.update((w.rstrip("/"), line) for w in shlex.split(line, comments=True))


def test_the_doc_pages_name_the_errors_through_the_package():
    models = (DOCS / "models.md").read_text(encoding="utf-8")
    assert "`nu.IllegalTileSize`" in models and "`nu.ModelFileError`" in models
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in ("IllegalTileSize", "ModelFileError"):
        assert re.search(rf"^\| `{name}` \|", api, re.M), name


def test_live_docs_give_the_box_format():
    form = "(y0, y1, x0, x1)"
    for page in ("api.md", "live.md"):
        text = " ".join((DOCS / page).read_text(encoding="utf-8").split())
        assert form in text and "end excluded" in text, page
