"""Benchmark whole-slide labelling (``napari-unet slide``): time, peak memory, cluster speed-up.

Every case runs the command in a fresh subprocess on a synthetic Zarr image (touching cells,
a 1024x1024 tile mirrored to the size, uint8, 1024 px chunks), and reports its wall time,
the time of each pass, the objects found and the peak resident memory: the child's own
``ru_maxrss`` (``os.wait4``) and the sum over its process tree (cluster workers included),
polled with psutil every 0.1 s. Cases:

* the built-in ``nuclei`` model at ``--throughput-size`` (in this process), whose rate
  extrapolates a 32768 x 32768 slide's time with that model;
* the tiny model (8 base channels, 3 levels, trained for a few seconds) at
  ``--cluster-size`` in this process, then on a local ``dask.distributed`` cluster of 1 and
  of 2 worker processes (``--workers``); the speed-up is 1 worker's time over 2 workers';
* a smaller model (``--base`` channels) end to end at each of ``--sizes`` (4096, 8192 and
  32768 by default), in this process: peak memory against the image's size;
* with ``--label-size N``: the label, merge and finish passes alone
  (``iter_label_foreground``) on a stored N x N synthetic foreground (touching cells with
  separation gaps, float32), for the memory of the passes whose state grows with the objects.

Usage: ``python benchmarks/slide.py [--sizes 4096 8192 32768] [--base 2]
[--cluster-size 6144] [--throughput-size 1024] [--skip-throughput]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_zarr(path: Path, size: int) -> None:
    """A ``size`` x ``size`` uint8 Zarr image of touching cells, written chunk by chunk."""
    import zarr

    from napari_unet import touching_cells

    tile, _ = touching_cells((1024, 1024), n_cells=500, seed=0)
    tile = (np.clip(tile, 0, 1) * 255).astype(np.uint8)
    flips = [tile, tile[:, ::-1], tile[::-1], tile[::-1, ::-1]]
    arr = zarr.open_array(str(path), mode="w", shape=(size, size), chunks=(1024, 1024),
                          dtype=np.uint8)  # fmt: skip
    for i in range(0, size, 1024):
        for j in range(0, size, 1024):
            part = flips[(i // 1024) % 2 * 2 + (j // 1024) % 2]
            arr[i : i + 1024, j : j + 1024] = part[: size - i, : size - j]


def tiny_model(path: Path, base: int = 8) -> None:
    """The tests' tiny model (a few seconds of training on synthetic cells), saved."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_model import train_tiny

    from napari_unet import save_model

    model, meta = train_tiny("same", steps=150, base_channels=base)
    save_model(path, model, normalization=meta["normalization"], separation_gap=2)


def run(cmd: list[str]) -> dict:
    """Run ``cmd``; its wall time, output and peak memory (own and whole process tree)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = [0], threading.Event()

    def poll() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.1)

    texts = {}

    def read(name: str, pipe) -> None:
        texts[name] = pipe.read()

    threads = [threading.Thread(target=poll, daemon=True)] + [
        threading.Thread(target=read, args=(n, p), daemon=True)
        for n, p in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    done.set()
    for t in threads:
        t.join()
    out, err = texts["out"], texts["err"]
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    own = usage.ru_maxrss * 1024
    times = dict(re.findall(r"(\w+) ([\d.]+) s", out))
    found = re.search(r"\((\d+) objects", out)
    return {"wall": wall, "own": own, "tree": peak[0], "times": times,
            "objects": int(found.group(1)) if found else -1}  # fmt: skip


def slide(model: str, src: Path, out: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "napari_unet", "slide", model, str(src), "-o", str(out),
           "--device", "cpu", "--overwrite", *extra]  # fmt: skip
    return run(cmd)


def row(name: str, size: int, r: dict, note: str = "") -> str:
    mp = size * size / 1e6
    t = r["times"]
    work = sum(float(t.get(k, 0)) for k in ("predict", "label", "merge", "finish"))
    passes = " / ".join(
        f"{float(t.get(k, 0)):.0f}" for k in ("predict", "label", "merge", "finish")
    )
    own, tree = r["own"] / 2**30, r["tree"] / 2**30
    return (f"| {name} | {size} | {r['wall']:.0f} | {mp / work:.2f} | {passes} | "
            f"{r['objects']} | {own:.2f} | {tree:.2f} | {note} |")  # fmt: skip


def make_foreground(path: Path, size: int) -> None:
    """A ``size`` x ``size`` float32 foreground store: touching cells' separated targets."""
    import zarr
    from scipy import ndimage

    from napari_unet import separate_touching, touching_cells

    _, labels = touching_cells((1024, 1024), n_cells=500, seed=0)
    tile = ndimage.gaussian_filter((np.asarray(separate_touching(labels, gap=2)) > 0) * 1.0, 0.7)
    tile = tile.astype(np.float32)
    flips = [tile, tile[:, ::-1], tile[::-1], tile[::-1, ::-1]]
    arr = zarr.open_array(str(path), mode="w", shape=(size, size), chunks=(2048, 2048),
                          dtype=np.float32)  # fmt: skip
    for i in range(0, size, 2048):
        for j in range(0, size, 2048):
            block = np.block([[flips[0], flips[1]], [flips[2], flips[3]]])
            arr[i : i + 2048, j : j + 2048] = block[: size - i, : size - j]


def label_child(fg: str, out: str) -> None:
    """In a fresh process: the label, merge and finish passes of a foreground store."""
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.slide import iter_label_foreground
    from napari_unet.core.progress import drain

    post = Postprocess(min_size=10, gap=2)
    result = drain(iter_label_foreground(fg, out, post, block=2048, overwrite=True))
    times = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(f"{fg} -> {out} ({result.n_objects} objects; {times})")


def throughput(tmp: Path, size: int) -> None:
    """The built-in model's row, and what its rate means for a 32768 x 32768 slide."""
    make_zarr(tmp / "a.zarr", size)
    r = slide("nuclei", tmp / "a.zarr", tmp / "nuclei.zarr")
    rate = size**2 / 1e6 / sum(float(v) for v in r["times"].values())
    note = f"32768^2 would take ~{32768**2 / 1e6 / rate / 3600:.1f} h at this rate"
    print(row("built-in nuclei, this process", size, r, note), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[4096, 8192, 32768])
    parser.add_argument("--base", type=int, default=2, help="base channels of the sizes' model")
    parser.add_argument("--cluster-size", type=int, default=6144, help="0: no cluster cases")
    parser.add_argument("--throughput-size", type=int, default=1024)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--label-size",
        type=int,
        default=0,
        help="also the labelling passes alone on a synthetic foreground",
    )
    parser.add_argument("--label-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.label_child:
        return label_child(*args.label_child)
    print("| case | side (px) | wall (s) | MP/s (passes) | predict / label / merge / finish (s) | "
          "objects | peak RSS, process (GiB) | peak RSS, tree (GiB) | note |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(dir=REPO.parent) as tmp:
        tmp = Path(tmp)
        tiny, small = tmp / "tiny.safetensors", tmp / "small.safetensors"
        tiny_model(tiny)
        tiny_model(small, args.base)
        if not args.skip_throughput:
            throughput(tmp, args.throughput_size)
        cases = (("this process", ()), ("local cluster, 1 worker", ("--workers", "1")),
                 ("local cluster, 2 workers", ("--workers", "2")))  # fmt: skip
        if args.cluster_size:
            make_zarr(tmp / "b.zarr", args.cluster_size)
        for name, extra in cases if args.cluster_size else ():
            r = slide(str(tiny), tmp / "b.zarr", tmp / "t.zarr", *extra)
            note, work = "", sum(float(v) for v in r["times"].values())
            if extra == ("--workers", "1"):
                one = (r["wall"], work)
            elif extra:
                note = (f"speed-up over 1 worker: {one[0] / r['wall']:.2f}x wall, "
                        f"{one[1] / work:.2f}x passes")  # fmt: skip
            print(row(f"tiny (8 ch), {name}", args.cluster_size, r, note), flush=True)
        for size in args.sizes:
            make_zarr(tmp / "c.zarr", size)
            r = slide(str(small), tmp / "c.zarr", tmp / "c_labels.zarr")
            print(row(f"small ({args.base} ch), this process", size, r, "end to end"), flush=True)
            shutil.rmtree(tmp / "c.zarr")
            shutil.rmtree(tmp / "c_labels.zarr")
        if args.label_size:
            make_foreground(tmp / "fg.zarr", args.label_size)
            cmd = [sys.executable, __file__, "--label-child", str(tmp / "fg.zarr"),
                   str(tmp / "fg_labels.zarr")]  # fmt: skip
            r = run(cmd)
            note = "label + merge + finish of a stored foreground (no network)"
            print(row("labelling passes only", args.label_size, r, note), flush=True)


if __name__ == "__main__":
    main()
