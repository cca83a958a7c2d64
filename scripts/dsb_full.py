"""The full DSB2018 set (``shared/data/dsb2018_full``): its fixed split, loading and scoring.

Used by ``benchmarks/heads.py`` (the head ablation) and the built-in model recipes. The
split is the one in the set's ``index.csv`` (train 525, val 4, test 135). Test images are
only ever scored; validation images (checkpoint and post-processing choice) are the 4 val
rows plus a fixed sample of train rows (``extra_val`` per kind), which are then not trained
on.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Kinds of image, by the prefix of their DSB2018 group.
KINDS = {"fluo": "fluorescence", "histo": "histology", "brightfield": "brightfield"}


@dataclass(frozen=True)
class Item:
    """One image of the set: its name, group, split and (for the held-out 19) subset name."""

    name: str
    group: str
    split: str
    subset: str

    @property
    def kind(self) -> str:
        return self.group.split("_")[0]


def read_index(data: Path) -> list[Item]:
    """The rows of ``index.csv``."""
    with open(data / "index.csv", newline="") as f:
        return [
            Item(r["name"], r["group"], r["split"], r["subset_name"]) for r in csv.DictReader(f)
        ]


def split(data: Path, kinds=("fluo",), extra_val: int = 12) -> dict[str, list[Item]]:
    """``train``, ``val`` and ``test`` items of ``kinds``.

    ``val`` is the index's val rows of those kinds plus ``extra_val`` train rows of each
    kind, taken at even steps through the sorted train rows (deterministic), which leave
    ``train``.
    """
    rows = [r for r in read_index(data) if r.kind in kinds]
    train = sorted((r for r in rows if r.split == "train"), key=lambda r: r.name)
    val = [r for r in rows if r.split == "val"]
    for kind in kinds:
        own = [r for r in train if r.kind == kind]
        if extra_val and own:
            step = max(1, len(own) // extra_val)
            val += own[step // 2 :: step][:extra_val]
    taken = {r.name for r in val}
    return {
        "train": [r for r in train if r.name not in taken],
        "val": val,
        "test": [r for r in rows if r.split == "test"],
    }


def load(data: Path, item: Item) -> tuple[np.ndarray, np.ndarray]:
    """The image as napari-unet reads it and its labels (a grey model averages colour)."""
    import tifffile

    from napari_unet import read_image

    image = np.asarray(read_image(data / "images" / f"{item.name}.png"))
    return image, tifffile.imread(data / "masks" / f"{item.name}.tif")


def touching(labels: np.ndarray) -> np.ndarray:
    """The ids of the cells that touch another cell (8-neighbourhood)."""
    from napari_unet.core.inference.postprocess import near_two_instances

    lab = np.asarray(labels, np.int32)
    return np.unique(lab[(lab > 0) & near_two_instances(lab, 1)])


def touching_only(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth restricted to touching cells, and the predictions that lie on them.

    A prediction is kept when more than half of it lies on touching cells, so a merge of
    two touching cells counts as a false positive and two misses.
    """
    ids = touching(gt)
    on = np.isin(gt, ids) & (gt > 0)
    gt_t = np.where(on, gt, 0)
    if not pred.any():
        return gt_t, pred
    area = np.bincount(pred.ravel())
    inside = np.bincount(pred[on].ravel(), minlength=area.size)
    keep = inside * 2 > area
    keep[0] = False
    return gt_t, np.where(keep[pred], pred, 0)


def scores(truths, preds) -> dict:
    """AP50 and DSB score (AP over IoU 0.5..0.95), pooled and per image; touching AP50.

    Pooled: TP / (TP + FP + FN) summed over the images; per image: the mean of each
    image's score. ``touching_ap50`` is pooled over the touching cells alone
    (:func:`touching_only`).
    """
    from napari_unet import evaluate, summarize

    pairs = list(zip(truths, preds, strict=True))
    s = summarize([evaluate(t, p) for t, p in pairs])
    touch = summarize([evaluate(*touching_only(t, p), thresholds=(0.5,)) for t, p in pairs])
    return {
        "ap50": s["per_threshold"][0]["ap"],
        "dsb": s["ap"],
        "ap50_per_image": s["per_threshold"][0]["dataset_ap"],
        "dsb_per_image": s["dataset_ap"],
        "touching_ap50": touch["per_threshold"][0]["ap"],
        "n_images": len(pairs),
        "n_touching": touch["n_gt"],
    }


def inverted(image: np.ndarray) -> np.ndarray:
    """The image with its contrast turned round (bright nuclei on dark become dark on bright)."""
    top = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else image.max()
    return (top - image).astype(image.dtype)


def _signal(image: np.ndarray) -> tuple[float, float]:
    """The image's dark level and range: its 0.5 and 99.5 percentiles' difference (>= 1e-3)."""
    lo, hi = np.percentile(image, (0.5, 99.5))
    return float(lo), max(float(hi - lo), 1e-3)


def _noise(image, rng):
    return image + rng.normal(0.0, 0.15 * _signal(image)[1], image.shape)


def _shot(image, rng):
    lo, span = _signal(image)
    return rng.poisson(np.clip(image - lo, 0, None) / span * 20 + 2).astype(np.float32)


def _blur(image, rng):
    from scipy import ndimage

    sigma = (2.0, 2.0, 0.0)[: image.ndim]
    return ndimage.gaussian_filter(image, sigma)


def _shading(image, rng):
    rows, cols = (np.linspace(0.0, 1.0, n) for n in image.shape[:2])
    ramp = 0.75 * (rows[:, None] + cols[None, :]) * _signal(image)[1]
    return image + (ramp[..., None] if image.ndim == 3 else ramp)


#: What a worse microscope does to an image, at one fixed level each (see :func:`degraded`):
#: Gaussian read-out noise of 15% of the image's range; shot noise of 20 photons at the
#: bright end of its range over 2 of background; an out-of-focus blur (sigma 2 px);
#: illumination rising along the diagonal by 1.5 times the image's range.
DEGRADATIONS = {"noise": _noise, "shot": _shot, "blur": _blur, "shading": _shading}


def _photons(peak: float, gain: float = 1.0, offset: float = 0.0, read: float = 0.0):
    """Few photons: ``peak`` at the bright end of the range over half a photon of
    background, Poisson, then a camera's ``gain`` (grey levels per photon), ``offset`` and
    Gaussian read-out noise ``read`` (grey levels), rounded to whole grey levels."""

    def harm(image, rng):
        lo, span = _signal(image)
        caught = rng.poisson(np.clip(image - lo, 0, None) / span * peak + 0.5)
        return np.round(caught * gain + offset + rng.normal(0.0, read, image.shape))

    return harm


#: Photon-limited recordings (``benchmarks/robustness.py --conditions``; not part of
#: :data:`DEGRADATIONS`, which ``--robust`` validation uses): a photon-counting detector at
#: 3, 5, 10 and 30 photons at the bright end, and a camera (gain 2.1, offset 100, read-out
#: noise 1.5 grey levels) at 5 and 10.
PHOTONS = {
    "photons3": _photons(3), "photons5": _photons(5), "photons10": _photons(10),
    "photons30": _photons(30), "camera5": _photons(5, 2.1, 100, 1.5),
    "camera10": _photons(10, 2.1, 100, 1.5),
}  # fmt: skip


def degraded(image: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """``image`` (float32) as a worse microscope would record it (:data:`DEGRADATIONS`,
    :data:`PHOTONS`).

    Deterministic for ``seed``. The image's range is its 0.5-99.5 percentile span, so every
    kind of image (dark or bright background, any bit depth) gets the same relative harm.
    """
    rng = np.random.default_rng(seed)
    harm = DEGRADATIONS.get(name) or PHOTONS[name]
    return harm(np.asarray(image, np.float32), rng).astype(np.float32)


def degraded_copies(loaded, names=tuple(DEGRADATIONS)) -> list:
    """``(image, labels)`` pairs of ``loaded`` followed by each degradation of each (seeded)."""
    out = list(loaded)
    for name in names:
        out += [(degraded(im, name, seed=i), lab) for i, (im, lab) in enumerate(loaded)]
    return out


def make_pairs_of(
    data: Path, items, config, in_channels: int = 1, invert: bool = False, robust: bool = False
):
    """Training pairs of ``items`` with ``config``'s targets.

    A grey network (``in_channels=1``) reads colour averaged; a colour one (3) grey as RGB.
    ``invert`` turns each image's contrast round (:func:`inverted`); ``robust`` adds each
    image's :func:`degraded_copies` (validation that asks for a model robust to them).
    """
    from napari_unet import make_pairs

    loaded = [load(data, item) for item in items]
    if invert:
        loaded = [(inverted(im), lab) for im, lab in loaded]
    names = [item.name + ("-inverted" if invert else "") for item in items]
    if robust:
        loaded = degraded_copies(loaded)
        names = names + [f"{n}-{d}" for d in DEGRADATIONS for n in names]
    return make_pairs(
        [im for im, _ in loaded],
        [lab for _, lab in loaded],
        names=names,
        in_channels=in_channels,
        **config.pair_options(),
    )


#: Post-processing grid: thresholds, minimum sizes, and per head the split of joined cells
#: (paper) or the seed level (3class, distance).
THRESHOLDS = (0.4, 0.5, 0.6)
MIN_SIZES = (10, 20)
#: The wider grid (``choose_post(..., wide=True)``): larger objects and debris on bright
#: backgrounds call for higher thresholds and minimum sizes.
WIDE_THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8)
WIDE_MIN_SIZES = (10, 20, 40, 80)
SECOND = {"paper": ("split", (0.0, 1.0, 2.0)), "default": ("seed_level", (0.3, 0.5, 0.7))}


def choose_post(
    model, meta, images, truths, wide: bool = False, device: str = "cpu"
) -> tuple[dict, tuple]:
    """The post-processing with the best pooled DSB score on validation images, and its score.

    One prediction per image; the grid is :data:`THRESHOLDS` x :data:`MIN_SIZES` (with
    ``wide``, :data:`WIDE_THRESHOLDS` x :data:`WIDE_MIN_SIZES`) x the head's second
    setting. Ties go to the higher AP50. The score is ``(DSB score, AP50)``, pooled.
    ``device``: where the images are predicted.
    """
    import itertools

    from napari_unet import Predictor, evaluate, summarize
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.progress import drain

    predictor = Predictor(model, metadata=meta, device=device)
    probs = [drain(predictor.iter_probabilities(im)) for im in images]
    name, values = SECOND.get(predictor.head, SECOND["default"])
    best, best_key = None, None
    grid = (WIDE_THRESHOLDS, WIDE_MIN_SIZES) if wide else (THRESHOLDS, MIN_SIZES)
    for t, m, v in itertools.product(*grid, values):
        post = Postprocess.for_model(meta, threshold=t, min_size=m, **{name: v})
        pairs = zip(truths, probs, strict=True)
        s = summarize([evaluate(g, predictor.instances(p, post)) for g, p in pairs])
        key = (s["ap"], s["per_threshold"][0]["ap"])
        if best_key is None or key > best_key:
            best, best_key = {"threshold": t, "min_size": m, name: v}, key
    return best, best_key


def score_items(model, meta, data: Path, items, flips: bool = False, device: str = "cpu") -> dict:
    """:func:`scores` of ``model`` (post-processing from ``meta``) on ``items``, predicted on
    ``device``. ``model`` ``"auto"``: the built-in model chosen for each image; the result
    then counts the images each model was chosen for (``chosen``)."""
    from collections import Counter

    from napari_unet import pretrained, segment
    from napari_unet.core.models.pretrained import choose_pretrained

    truths, preds, chosen, loaded = [], [], Counter(), {}
    for item in items:
        image, labels = load(data, item)
        net, info = model, meta
        if isinstance(model, str):
            name = choose_pretrained(image)
            chosen[name] += 1
            if name not in loaded:  # once per model (setdefault loaded it for every image)
                loaded[name] = pretrained(name)
            net, info = loaded[name]
        preds.append(segment(net, image, metadata=info, device=device, flips=flips))
        truths.append(labels)
    return scores(truths, preds) | ({"chosen": dict(chosen)} if chosen else {})


def read_rows(path: Path) -> list[dict]:
    """The rows of a JSON-lines results file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def append_row(path: Path | None, row: dict) -> None:
    """Print ``row`` as JSON and append it to ``path`` (when given) as one line."""
    print(json.dumps(row), flush=True)
    if path is not None:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
