"""``napari-unet evaluate``: score label images (or a model) against ground truth."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from napari_unet.cli._args import add_background_option, add_option, channel_choice, progress_bar
from napari_unet.cli._evaluate_inputs import (
    files_of,
    given_by_name,
    label_pairs,
    match_files,
    planes,
    read_labels,
)
from napari_unet.core.errors import InputError
from napari_unet.core.models.pretrained import AUTO as AUTO_MODEL

MODEL_SUFFIXES = (".safetensors",)


def add_parser(subparsers) -> None:
    """Register the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score predicted labels (or a model) against ground-truth labels",
        description=(
            "Compare instance label images with ground truth: precision, recall, F1 and "
            "DSB2018 average precision at IoU thresholds 0.5..0.95, mean matched IoU, "
            "panoptic quality, pixel IoU/Dice, pixel error and adapted Rand error. "
            "Forms: 'evaluate PRED GT' with two label files or two folders (matched by file "
            "name without suffix), or 'evaluate MODEL.safetensors --images ... --labels ...' "
            "to segment the images with a model first (MODEL may be the built-in name "
            "'nuclei'), with the post-processing the model file recommends. Prints a "
            "table per image and in total; --json writes every number (an existing file "
            "only with --overwrite)."
        ),
    )
    from napari_unet.core.metrics import DSB_THRESHOLDS

    add_option(parser, "inputs", key="scored", nargs="+", metavar="PRED GT | MODEL")
    add_option(parser, "--images", key="eval_images", nargs="+", type=Path)
    add_option(parser, "--labels", key="ground_truth", nargs="+", type=Path)
    add_option(parser, "--object-size", key="object_size", metavar="PX|estimate|auto|none")
    add_option(
        parser, "--channel", key="channel", type=channel_choice, default=None,
        metavar="auto|mean|N", shown_default="auto",
    )  # fmt: skip
    add_option(parser, "--flips", key="flips", action="store_true")
    add_background_option(parser)
    add_option(parser, "--json", key="json", type=Path, metavar="OUT.json")
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    shown = " ".join(f"{t:g}" for t in DSB_THRESHOLDS)
    add_option(
        parser, "--thresholds", key="thresholds", nargs="+", type=float, metavar="T",
        shown_default=shown,
    )  # fmt: skip
    add_option(parser, "--per-plane", key="per_plane", action="store_true")
    parser.set_defaults(func=run)


def _model_pairs(
    model_path: Path | str, pairs, per_plane: bool, object_size=None, channel=None, flips=False,
    background: str = "auto", denoise: str = "auto",
) -> Iterator[tuple[str, Any, Any]]:
    """Segment each image with the model (at ``object_size``'s scale, if given).

    ``model_path`` ``"auto"`` chooses a built-in model for each image. The object size used,
    the model chosen and each out-of-domain warning are printed as lines on stderr.
    """
    import numpy as np

    from napari_unet.core.images.io import read_image
    from napari_unet.core.images.named import check_planes
    from napari_unet.core.inference import segment as segmentation
    from napari_unet.core.inference.runner import model_info

    models = _Models(model_path, object_size, channel)
    extra = {} if channel is None else {"channel": channel}
    if flips:
        extra["flips"] = True
    extra["object_size"], extra["background"] = object_size, background
    extra["denoise"] = denoise
    for name, image_path, gt_path in pairs:
        gt = read_labels(gt_path)
        if object_size is not None:
            extra["progress"] = lambda event, name=name: _note_size(name, event)
        with _warning_lines(name):
            try:
                image = np.asarray(read_image(image_path))
                model, metadata = models.get(name, image)
                check_planes(image_path, image, lambda m=model: model_info(m)[1])  # z: not channels
                pred = segmentation.segment(model, image, metadata=metadata, **extra)
            except InputError as exc:  # which of the images it was
                raise InputError(f"{image_path.name}: {exc}") from None
        yield from planes(name, gt, np.asarray(pred), per_plane)


class _Models:
    """The model for each image: the one file, or the built-in model ``auto`` chooses."""

    def __init__(self, model_path: Path | str, object_size, channel=None) -> None:
        self.path, self.size, self.channel, self.loaded = model_path, object_size, channel, {}
        if model_path != AUTO_MODEL:
            self._load(model_path)

    def get(self, name: str, image) -> tuple:
        if self.path != AUTO_MODEL:
            return self.loaded[self.path]
        from napari_unet.core.models.pretrained import choose_pretrained, pretrained_path

        chosen = choose_pretrained(image, channel=self.channel)
        print(f"napari-unet evaluate: {name}: built-in model {chosen} (auto)", file=sys.stderr)
        return self._load(pretrained_path(chosen))

    def _load(self, path) -> tuple:
        from napari_unet.core.inference.scale import AUTO, training_object_size
        from napari_unet.core.models.modelfile import load_model

        if path not in self.loaded:  # each file once
            model, metadata = load_model(path)
            if self.size not in (None, AUTO):
                training_object_size(metadata)  # a model without one is refused before work
            self.loaded[path] = model, metadata
        return self.loaded[path]


def _note_size(name: str, event) -> None:
    from napari_unet.core.inference.scale import ObjectSize

    if isinstance(event, ObjectSize):
        print(f"napari-unet evaluate: {name}: object size {event.describe()}", file=sys.stderr)


@contextlib.contextmanager
def _warning_lines(name: str):
    """Print each out-of-domain warning as one line; pass other warnings on."""
    import warnings

    from napari_unet.core.inference.domain import DomainWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DomainWarning)
        yield
    for w in caught:
        if issubclass(w.category, DomainWarning):
            print(f"napari-unet evaluate: warning: {name}: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _fmt(value) -> str:
    if value is None:  # a mean over images when every image is empty
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def format_table(per_image: list[dict[str, Any]], total: dict[str, Any]) -> str:
    """Text table: one row per image and a pooled total, then the total per threshold."""
    from napari_unet.core.metrics import summary_row

    rows = [{"image": r["name"], **summary_row(r)} for r in per_image]
    rows.append({"image": "total (pooled)", **summary_row(total)})
    lines = _align(
        list(rows[0]), [[_fmt(v) if k != "image" else v for k, v in r.items()] for r in rows]
    )
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    lines += _image_mean_lines(total)
    lines.append("")
    head = ["IoU >", "TP", "FP", "FN", "precision", "recall", "F1", "AP pooled", "AP img mean"]
    keys = ["threshold", "tp", "fp", "fn", "precision", "recall", "f1", "ap", "dataset_ap"]
    body = [
        [f"{p['threshold']:g}", *(_fmt(p[k]) for k in keys[1:])] for p in total["per_threshold"]
    ]
    return "\n".join(lines + _align(head, body))


def _image_mean_lines(total: dict[str, Any]) -> list[str]:
    """The dataset AP (a mean over images) and how many empty images it leaves out."""
    n, empty = total["n_images"], total["n_empty"]
    if total["dataset_ap"] is None:
        return [
            f"dataset AP: none, every one of the {n} image(s) is empty in both the ground "
            "truth and the prediction (no object to score)"
        ]
    lines = [
        f"dataset AP (DSB2018: mean over {n - empty} image(s) of per-image AP): "
        f"{total['dataset_ap']:.4f}; Rand error is the mean over images"
    ]
    if empty:
        lines.append(
            f"{empty} image(s) empty in both the ground truth and the prediction: left out "
            "of the means over images"
        )
    return lines


def _align(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]

    def line(cells) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        return "  ".join(
            [first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))]
        )

    return [line(head), *(line(r) for r in body)]


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the JSON; return the exit status."""
    from napari_unet.core.metrics import DSB_THRESHOLDS, iter_evaluate_many

    thresholds = tuple(args.thresholds) if args.thresholds else DSB_THRESHOLDS
    if args.json is not None:
        _check_json(args.json, args.overwrite)
    from napari_unet.core.models.pretrained import is_pretrained_name

    model_form = len(args.inputs) == 1 and (
        Path(args.inputs[0]).suffix.lower() in MODEL_SUFFIXES or is_pretrained_name(args.inputs[0])
    )
    pairs, unused, source, inputs = _model_form(args) if model_form else _labels_form(args)
    from napari_unet.cli.measure import is_probabilities, note_probabilities

    # predict --probabilities writes NAME_probabilities beside the labels: no label image
    # (before: "NAME_probabilities has no ground truth", as if a ground-truth file were missing)
    probabilities = [name for name in unused if is_probabilities(name)]
    if probabilities:
        note_probabilities("evaluate", probabilities)
    for name in unused:
        if name not in probabilities:
            print(f"napari-unet evaluate: warning: {name} has no ground truth; skipped",
                  file=sys.stderr)  # fmt: skip

    from napari_unet.core.progress import drain

    n = None if args.per_plane else len(pairs)  # planes are counted as they come
    with progress_bar("evaluate", "image", total=n) as bar:
        per_image, total = drain(iter_evaluate_many(source, thresholds, total=n), bar=bar)
    print(format_table(per_image, total))
    if args.json:
        record = {"inputs": inputs, "thresholds": list(thresholds)}
        _write_json(args.json, record | {"images": per_image, "total": total})
        print(f"wrote {args.json}")
    return 0


def _model_form(args: argparse.Namespace) -> tuple:
    """``evaluate MODEL --images ... --labels ...``: pairs, unused names, source, inputs."""
    from napari_unet.core.models.pretrained import is_pretrained_name, resolve_model

    if not args.images or not args.labels:
        raise InputError(
            f"{args.inputs[0]} is a model file: also give --images and --labels "
            "(files or folders, matched by name)"
        )
    auto = args.inputs[0] == AUTO_MODEL and is_pretrained_name(args.inputs[0])
    model_path = AUTO_MODEL if auto else resolve_model(args.inputs[0])
    if not auto and not model_path.is_file():
        raise InputError(f"{model_path}: no such model file")
    from napari_unet.cli.predict import once

    # a file given twice (by name, or in a folder given too) is scored once, with a note;
    # pairs go by name, so each side is taken once on its own (before: "two image files
    # are named 'img': img.tif, img.tif")
    images = once([f for p in args.images for f in files_of(p)], "evaluate")
    gts = once([f for p in args.labels for f in files_of(p)], "evaluate")
    loose = given_by_name([*args.images, *args.labels])
    pairs, unused = match_files(images, gts, what="image", loose=loose, images=True)
    size = _object_size(args.object_size)
    source = _model_pairs(model_path, pairs, args.per_plane, size, args.channel, args.flips,
                          args.background, args.denoise)  # fmt: skip
    inputs = {
        "model": str(model_path),
        "images": [str(p) for p in args.images],
        "labels": [str(p) for p in args.labels],
    }
    return pairs, unused, source, inputs


def _labels_form(args: argparse.Namespace) -> tuple:
    """``evaluate PRED GT``: pairs, unused names, source, inputs."""
    from napari_unet.core.files import same_file

    if len(args.inputs) == 1 and (args.images or args.labels):  # a misspelt model
        raise InputError(
            f"{args.inputs[0]}: not a model file (.safetensors) or a built-in model name "
            "(nuclei, nuclei-brightfield, auto)"
        )
    if len(args.inputs) != 2:
        raise InputError(
            "expected PRED GT (two label files or folders) or one MODEL.safetensors; "
            f"got {len(args.inputs)} argument(s)"
        )
    if (
        args.images or args.labels or args.flips or args.background != "auto"
        or args.denoise != "auto" or args.object_size is not None or args.channel is not None
    ):  # fmt: skip
        raise InputError(
            "--images, --labels, --object-size, --channel, --flips, --denoise and "
            "--background belong to the MODEL form, not PRED GT"
        )
    pred_arg, gt_arg = (Path(a) for a in args.inputs)
    pred_files, gt_files = files_of(pred_arg), files_of(gt_arg)
    if same_file(pred_arg, gt_arg):  # a perfect score that means nothing
        raise InputError(
            f"PRED and GT are the same file(s): {pred_arg}; give the predicted labels, then "
            "the ground truth"
        )
    loose = given_by_name([pred_arg, gt_arg])
    pairs, unused = match_files(pred_files, gt_files, loose=loose)
    inputs = {"prediction": str(pred_arg), "ground_truth": str(gt_arg)}
    return pairs, unused, label_pairs(pairs, args.per_plane), inputs


def _check_json(path: Path, overwrite: bool) -> None:
    """Refuse, before any work, a ``--json`` that cannot be written or would replace a file."""
    from napari_unet.core.files import check_outputs

    if path.suffix.lower() != ".json":
        raise InputError(f"--json must name a .json file; got {path}")
    check_outputs([path], [])  # a folder, a missing or read-only folder to write in
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite to replace it")


def _object_size(value) -> float | str | None:
    """``--object-size`` checked: pixels, ``"estimate"``, ``"auto"`` or None.

    Not given: ``"auto"``; ``none``: None (the image's own scale).
    """
    from napari_unet.core.inference.scale import AUTO, check_object_size

    if value is None:
        return AUTO
    try:
        return check_object_size(value)
    except InputError as exc:
        raise InputError(f"--object-size: {exc}") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from napari_unet.core.files import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
