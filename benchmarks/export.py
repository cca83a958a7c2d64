"""bioimage.io export of the built-in models: time, size, ``bioimageio test``, agreement.

For each built-in model the script exports a package with every weight format written by
default (pytorch_state_dict, torchscript, and onnx where onnx and onnxruntime are
installed), then times bioimageio.core's ``test_model`` on it (the checks of the
``bioimageio test`` command). Agreement with napari-unet's own prediction is measured two
ways:

- **test input**: bioimageio.core's pipeline runs each weight format on the package's test
  input in one piece, as ``test_model`` does; max |diff| to napari-unet's probabilities of
  the same input in one piece (the package's test output);
- **whole image, tiled**: the package runs as another tool's would
  (:class:`~napari_unet.core.exchange.foreign.ForeignModel`: bioimageio.core's blocked
  prediction with the package's halo, default blocks) on the whole shipped nuclei image
  (260 x 347), against :func:`napari_unet.predict` of the model file; max |diff| over the
  image and away from its border (more than the halo inside).

Usage::

    python benchmarks/export.py [--models nuclei nuclei-brightfield] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

FILES = {"pytorch_state_dict": "weights.pt", "torchscript": "weights_torchscript.pt",
         "onnx": "weights.onnx"}  # fmt: skip


def pipeline_diffs(package: Path) -> dict[str, float]:
    """Max |diff| of each weight format's output on the test input to the test output."""
    from bioimageio.core import create_prediction_pipeline
    from bioimageio.core.digest_spec import get_test_input_sample, get_test_output_sample

    from napari_unet.core.exchange.importer import load_description

    descr = load_description(package)
    diffs = {}
    for fmt in descr.weights.available_formats:
        sample = get_test_input_sample(descr)
        expected = get_test_output_sample(descr)
        with create_prediction_pipeline(descr, weights_format=fmt, devices=["cpu"]) as pipe:
            out = pipe.predict_sample_without_blocking(
                sample, skip_input_padding=True, skip_output_cropping=True
            )
        (key,) = expected.members
        got = out.members[key].data.values
        diffs[fmt] = float(np.abs(got - expected.members[key].data.values).max())
    return diffs


def tiled_diff(name: str, package: Path) -> tuple[float, float, float]:
    """``(max |diff|, max |diff| inside, seconds)``: the package tiled vs napari-unet."""
    import napari_unet as nu
    from napari_unet.core.exchange.foreign import ForeignModel
    from napari_unet.core.models.pretrained import resolve_model
    from napari_unet.sample_data import nuclei_data

    image = nuclei_data()[0]
    model, metadata = nu.load_model(resolve_model(name))
    ours = np.asarray(nu.predict(model, image, metadata=metadata))
    foreign = ForeignModel(package, device="cpu")
    start = time.perf_counter()
    theirs = foreign.predict(image)  # 512 px blocks, at most the image with its halo
    seconds = time.perf_counter() - start
    diff = np.abs(ours - theirs)
    h = foreign.plan.halo + 1
    return float(diff.max()), float(diff[:, h:-h, h:-h].max()), seconds


def measure(name: str, folder: Path) -> dict:
    from napari_unet.core.exchange.export import check_package, export_bioimageio

    package = folder / f"{name}.zip"
    start = time.perf_counter()
    export_bioimageio(name, package)
    row = {"model": name, "export_s": time.perf_counter() - start}
    row["mb"] = package.stat().st_size / 1e6
    with zipfile.ZipFile(package) as z:
        sizes = {i.filename: i.file_size / 1e6 for i in z.infolist()}
    row["weights"] = {f: sizes[p] for f, p in FILES.items() if p in sizes}
    start = time.perf_counter()
    row["passed"], row["lines"] = check_package(package)
    row["test_s"] = time.perf_counter() - start
    row["diffs"] = pipeline_diffs(package)
    row["tiled"] = tiled_diff(name, package)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["nuclei", "nuclei-brightfield"])
    parser.add_argument("--out", type=Path, default=None, help="keep the packages here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [measure(name, folder) for name in args.models]
    print("| model | export (s) | package (MB) | weights (MB) | bioimageio test | test (s) "
          "| max abs diff, test input, per format | tiled whole image: max / inside | "
          "tiled (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        weights = ", ".join(f"{f} {mb:.2f}" for f, mb in r["weights"].items())
        diffs = ", ".join(f"{f} {d:.1e}" for f, d in r["diffs"].items())
        full, inside, secs = r["tiled"]
        status = "passed" if r["passed"] else "FAILED"
        cells = [
            r["model"],
            f"{r['export_s']:.1f}",
            f"{r['mb']:.2f}",
            weights,
            status,
            f"{r['test_s']:.1f}",
            diffs,
            f"{full:.1e} / {inside:.1e}",
            f"{secs:.2f}",
        ]
        print("| " + " | ".join(cells) + " |")
        if not r["passed"]:
            print("\n".join(line for line in r["lines"] if not line.startswith("passed")))


if __name__ == "__main__":
    main()
