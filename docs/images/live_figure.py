"""Draw docs/images/live_curve.png from the output of ``benchmarks/live.py``.

Usage::

    python benchmarks/live.py --data SHARED_DATA/dsb2018_full > live.txt
    python docs/images/live_figure.py live.txt

The benchmark prints one line per run, ``live [(seconds, AP50), ...]`` and ``once [...]``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent


def curves(text: str) -> dict[str, list[tuple[float, float]]]:
    """The runs' curves in the benchmark's output."""
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name in ("live", "once") and rest.startswith("["):
            out[name] = ast.literal_eval(rest)
    return out


def main() -> None:
    """Plot both curves with the end of the annotation marked."""
    text = Path(sys.argv[1]).read_text()
    found = curves(text)
    annotated = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    styles = {"live": ("live: trains while you paint", "tab:orange"),
              "once": ("annotate, then train once", "tab:blue")}  # fmt: skip
    for name, points in found.items():
        label, colour = styles[name]
        ax.plot([t for t, _ in points], [a for _, a in points], "o-", label=label, color=colour)
    ax.axvline(annotated, color="grey", ls="--", lw=1)
    ax.text(annotated + 1, 0.02, "last cell painted", color="grey", fontsize=8)
    ax.set_xlabel("seconds since the first stroke (one cell painted every 3 s)")
    ax.set_ylabel("AP50, 18 histology test images")
    ax.set_ylim(0, max(0.8, max(a for p in found.values() for _, a in p) + 0.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "live_curve.png")
    print("wrote live_curve.png")


if __name__ == "__main__":
    main()
