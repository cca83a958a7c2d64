"""Benchmark: the fast exact U-Net weight map against the brute force.

Run ``python benchmarks/weightmap.py`` (about 5 minutes on 2 cores); it prints a Markdown table.
Each case runs in its own subprocess on synthetic touching cells
(:func:`napari_unet.core.images.synthetic.touching_cells`):

* fast: :func:`napari_unet.core.training.weightmap.target_and_weights` with the defaults (gap 2,
  w0 10, sigma 5, balanced classes), best of ``--repeats``, on numba's compiled distances
  whatever the size where numba is installed ("path"); "first call" is the first run in the
  process (numba loads its cached kernels, or compiles them once per machine); "default" is
  the path taken without ``NAPARI_UNET_NUMBA`` (numba from a megapixel up);
* SciPy windows: the same call with numba turned off (``NAPARI_UNET_NUMBA=0``), interleaved
  with the fast runs; "paths differ" is the largest relative difference of the two maps;
* brute force: the same weight map with one full-image distance transform per cell and the two
  smallest values per pixel kept. It runs in full where it takes under ``--brute-budget``
  seconds; otherwise the per-cell cost is measured on a sample of cells in the same process and
  multiplied by the number of cells ("est.");
* peak memory: the peak of traced allocations (numpy arrays included) during one fast call,
  also as a multiple of one float32 image of that size;
* max rel. error: largest relative difference between fast and brute force weights (full
  brute-force cases only).

Timings taken while other processes share the cores are noisy; the speed-up is measured within
one process.

``python benchmarks/weightmap.py --figures docs/images`` instead draws the pictures of
docs/weight-maps.md from the shipped nuclei sample (a headless X server is started if needed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

DEFAULT_CASES = [
    (512, 100),
    (512, 300),
    (1024, 400),
    (1024, 1000),
    (2048, 1500),
    (2048, 5000),
    (4096, 5000),
]
QUICK_CASES = [(256, 40), (512, 100)]


def brute_weights(labels, target_sep, wc, w0=10.0, sigma=5.0, sample=None):
    """Weights from per-cell full-image distance transforms; optionally time only a sample."""
    from scipy import ndimage

    ids = np.unique(target_sep)
    ids = ids[ids > 0]
    if sample is not None:
        ids = ids[:: max(1, len(ids) // sample)][:sample]
    d1 = np.full(labels.shape, np.inf)
    d2 = np.full(labels.shape, np.inf)
    for k in ids:
        dk = ndimage.distance_transform_edt(target_sep != k)
        np.minimum(d2, np.maximum(d1, dk), out=d2)
        np.minimum(d1, dk, out=d1)
    target = (target_sep > 0).astype(np.intp)
    weights = wc[target] + np.where(
        target_sep == 0, w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2)), 0
    )
    return weights.astype(np.float32), len(ids)


def _compiled_available() -> bool:
    from napari_unet.core.training import compiled

    return compiled.available()


def _default_path(pixels: int) -> str:
    from napari_unet.core.training import compiled

    with _numba_setting(None):
        return "numba" if compiled.wanted(pixels) else "SciPy"


class _numba_setting:
    """Within the block ``NAPARI_UNET_NUMBA`` is ``value`` ("0": SciPy's windows, "1": numba
    whatever the size, None: unset, the default choice by image size)."""

    def __init__(self, value):
        self.value = value

    def __enter__(self):
        import os

        self.before = os.environ.pop("NAPARI_UNET_NUMBA", None)
        if self.value is not None:
            os.environ["NAPARI_UNET_NUMBA"] = self.value

    def __exit__(self, *exc):
        import os

        os.environ.pop("NAPARI_UNET_NUMBA", None)
        if self.before is not None:
            os.environ["NAPARI_UNET_NUMBA"] = self.before


def run_case(size: int, n_cells: int, repeats: int, brute_budget: float) -> dict:
    from napari_unet import target_and_weights, touching_cells
    from napari_unet.core.training.weightmap import class_weight_values, separated_labels

    _, labels = touching_cells((size, size), n_cells=n_cells, seed=0)
    n_found = int(len(np.unique(labels)) - 1)
    compiled = _compiled_available()
    forced = "1" if compiled else "0"
    with _numba_setting(forced):
        start = time.perf_counter()
        target_and_weights(labels)  # numba loads (or compiles) its kernels on the first call
        first = time.perf_counter() - start
    fast = windows = np.inf
    for _ in range(repeats):  # the two paths interleaved, best of each
        with _numba_setting(forced):
            start = time.perf_counter()
            target, weights = target_and_weights(labels)
            fast = min(fast, time.perf_counter() - start)
        with _numba_setting("0"):
            start = time.perf_counter()
            _, scipy_weights = target_and_weights(labels)
            windows = min(windows, time.perf_counter() - start)
    paths_differ = float(np.max(np.abs(weights - scipy_weights) / scipy_weights))
    tracemalloc.start()
    with _numba_setting(forced):
        target_and_weights(labels)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    start = time.perf_counter()
    sep = separated_labels(labels)
    wc = class_weight_values((sep > 0).astype(np.uint8), "balanced", 2)
    prep = time.perf_counter() - start
    # Per-cell cost from a small sample, to decide whether the full brute force fits the budget.
    sample = 3 if size >= 4096 else 8
    start = time.perf_counter()
    _, done = brute_weights(labels, sep, wc, sample=sample)
    per_cell = (time.perf_counter() - start) / done
    estimate = prep + per_cell * n_found
    error = None
    if estimate <= brute_budget:
        start = time.perf_counter()
        slow_w, _ = brute_weights(labels, sep, wc)
        brute = prep + time.perf_counter() - start
        error = float(np.max(np.abs(weights - slow_w) / slow_w))
        measured = True
    else:
        brute, measured = estimate, False
    return {
        "size": size,
        "cells": n_found,
        "fast_s": fast,
        "first_s": first,
        "windows_s": windows,
        "compiled": compiled,
        "default": _default_path(size * size),
        "paths_differ": paths_differ,
        "brute_s": brute,
        "brute_measured": measured,
        "peak_mb": peak / 2**20,
        "peak_images": peak / (4 * size * size),
        "max_rel_error": error,
    }


def figure_panels(out_dir: Path) -> Path:
    """Labels, separated target and weight map of the shipped nuclei sample, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from napari_unet import target_and_weights
    from napari_unet.sample_data import nuclei_data

    image, labels = nuclei_data()
    crop = (slice(60, 200), slice(150, 320))
    image, labels = image[crop], labels[crop]
    target, weights = target_and_weights(labels)
    rng = np.random.default_rng(3)
    colours = ListedColormap(np.vstack([[0, 0, 0, 1], rng.uniform(0.25, 1, (labels.max(), 4))]))
    colours.colors[:, 3] = 1
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), dpi=80, layout="constrained")
    panels = [
        (image, "gray", "image (DSB2018 nuclei)"),
        (labels, colours, "instance labels"),
        (target, "gray", "target: touching cells separated"),
        (weights, "inferno", "weight map w(x)"),
    ]
    for ax, (data, cmap, title) in zip(axes, panels, strict=True):
        shown = ax.imshow(data, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes[-1], shrink=0.85)
    path = out_dir / "weightmap.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def figure_widget(out_dir: Path) -> Path:
    """The napari window with the Weight map dock on the nuclei sample."""
    import contextlib
    import os

    from napari_unet.cli._display import virtual_display

    headless = sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
    with virtual_display((1400, 900)) if headless else contextlib.nullcontext():
        import napari
        from PIL import Image
        from qtpy.QtWidgets import QApplication

        from napari_unet.widgets.weightmap import WeightMapWidget

        viewer = napari.Viewer(show=True)
        viewer.window._qt_window.resize(1300, 780)
        viewer.open_sample("napari-unet", "nuclei")
        viewer.layers[-1].visible = False
        widget = WeightMapWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Weight map")
        widget._show_target.value = False
        widget._labels_box.value = viewer.layers[-1]
        widget._start()
        deadline = time.monotonic() + 60
        while (widget._worker is not None or widget.result is None) and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.02)
        for _ in range(20):
            QApplication.processEvents()
        viewer.reset_view()  # fitted to the canvas the docks left, not the bare window
        for _ in range(5):
            QApplication.processEvents()
        picture = np.asarray(viewer.screenshot(canvas_only=False, flash=False))
        viewer.close()
    path = out_dir / "weightmap-widget.png"
    Image.fromarray(picture[..., :3]).save(path, optimize=True)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small cases (a smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="fast runs per case (best)")
    parser.add_argument("--brute-budget", type=float, default=60.0, metavar="S")
    parser.add_argument(
        "--case", nargs=2, type=int, metavar=("SIZE", "CELLS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--figures", type=Path, metavar="DIR", help="draw the doc pictures")
    args = parser.parse_args(argv)
    if args.figures:
        for path in (figure_panels(args.figures), figure_widget(args.figures)):
            print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
        return 0
    if args.case:
        print(json.dumps(run_case(*args.case, args.repeats, args.brute_budget)))
        return 0
    rows = []
    for size, cells in QUICK_CASES if args.quick else DEFAULT_CASES:
        cmd = [sys.executable, __file__, "--case", str(size), str(cells)]
        cmd += ["--repeats", str(args.repeats), "--brute-budget", str(args.brute_budget)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"done {size}x{size}, {cells} cells", file=sys.stderr)
    print(
        "| image | cells | fast (s) | path | first call (s) | SciPy windows (s) | fast vs "
        "windows | default | brute force (s) | speed-up | peak memory | max rel. error | "
        "paths differ |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        brute = f"{r['brute_s']:.2f}" if r["brute_measured"] else f"{r['brute_s']:.0f} (est.)"
        err = "-" if r["max_rel_error"] is None else f"{r['max_rel_error']:.1e}"
        print(
            f"| {r['size']}x{r['size']} | {r['cells']} | {r['fast_s']:.3f} | "
            f"{'numba' if r['compiled'] else 'SciPy'} | {r['first_s']:.2f} | "
            f"{r['windows_s']:.3f} | {r['windows_s'] / r['fast_s']:.1f}x | {r['default']} | "
            f"{brute} | "
            f"{r['brute_s'] / r['fast_s']:.0f}x | {r['peak_mb']:.0f} MB "
            f"({r['peak_images']:.1f} float32 images) | {err} | {r['paths_differ']:.1e} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
