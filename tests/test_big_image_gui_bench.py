"""benchmarks/big_image_gui.py runs at a small size: a row per step, finite numbers.

The figures themselves (docs/benchmarks.md, "Large images in the docks") are measured at
8192 x 8192; no timing is checked here.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "big_image_gui.py"
#: The dock run here: each takes about 20 s, most of it the script's fixed waits (an idle
#: autosave interval, a stroke's autosave), so CI runs one (Annotate, Live and Review took
#: 76 s together); ``benchmarks/big_image_gui.py --size 512`` runs all five.
STEPS = {"Live": 7}


def _script():
    spec = importlib.util.spec_from_file_location("big_image_gui", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_synthetic_cells_touch_and_every_cell_has_its_own_id():
    bench = _script()
    cells = bench.touching_cells(512, seed=1)
    n = 512 // bench.SPACING
    ids = np.unique(cells)
    assert ids[0] == 0 and len(ids) == n * n + 1  # background and n x n distinct cells
    from scipy import ndimage as ndi

    for k in ids[1:]:  # one connected piece each: no id repeats elsewhere
        assert ndi.label(cells == k)[1] == 1
    touching = (cells[:, :-1] != cells[:, 1:]) & (cells[:, :-1] > 0) & (cells[:, 1:] > 0)
    assert touching.any()


@pytest.mark.slow
def test_the_benchmark_prints_a_row_per_step_with_finite_numbers(tmp_path):
    command = [sys.executable, str(SCRIPT), "--size", "512", "--json", str(tmp_path / "out.json")]
    command += ["--docks", *(dock.lower() for dock in STEPS)]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        if shutil.which("xvfb-run") is None:
            pytest.skip("no display and no xvfb-run")
        command = ["xvfb-run", "-a", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| dock | step | longest GUI freeze (s)")
    rows = [line.strip("|").split("|") for line in lines[1:]]
    assert {dock: sum(r[0].strip() == dock for r in rows) for dock in STEPS} == STEPS
    for row in rows:
        numbers = [float(v) for v in row[2:]]
        assert len(numbers) == 3 and all(math.isfinite(v) and v >= 0 for v in numbers), row
    saved = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert saved["size"] == 512 and len(saved["rows"]) == len(rows)
    for row in saved["rows"]:
        assert all(math.isfinite(row[k]) for k in ("freeze_s", "wall_s", "peak_rss_mb")), row
