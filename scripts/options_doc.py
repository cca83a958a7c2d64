"""Write docs/options.md from the option table and the command's parser."""

from pathlib import Path

from napari_unet.cli._args import options_markdown

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "options.md"
    out.write_text(options_markdown(), encoding="utf-8")
    print(f"wrote {out}")
