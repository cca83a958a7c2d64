"""Validation during training: held-out regions, loss, pixel IoU and instance AP50.

Prediction runs through :func:`napari_unet.core.inference.segment.segment` (the same tiled
path, normalisation and post-processing as the Predict dock), but each image is segmented
at its own scale with its light as recorded (``object_size=None``, ``background="keep"``:
as training reads it), not with the ``auto`` defaults of ``segment``, the Predict dock and
``napari-unet evaluate``, which may rescale an image or flatten its light. So the scores
(and the best model chosen by them) are those of ``napari-unet evaluate MODEL
--object-size none --background keep``; with evaluate's defaults they can differ.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from napari_unet.core.training.pairs import TrainPair

#: The normalisation of pixels that are already normalised.
AS_IS = {"method": "none"}


def split_holdout(
    pairs: list[TrainPair], fraction: float
) -> tuple[list[TrainPair], list[TrainPair]]:
    """Hold out the bottom ``fraction`` of the annotated rows of the largest pair.

    The pair with the most annotated pixels is cut at a row such that ``fraction`` of its
    annotated rows (rows with any pixel of non-zero weight) lie below: the training copy
    gets weight 0 (and no sampling) from that row down; the validation pair is the strip
    below it. So the strip holds annotation even when only the top of the image was
    annotated. The rows cut are those of the painted cells (inside the region, if any)
    when the strip would otherwise hold none (cells painted at the top only) or take them
    all (cells painted at the bottom only). Used when no validation image is given; a pair
    with fewer than two annotated rows gives no validation, and so (with a RuntimeWarning)
    does a cut that leaves no cell to train on: before, such a run trained on background
    only.

    Returns
    -------
    train, val : list of TrainPair
    """
    if fraction <= 0:
        return pairs, []
    k = int(np.argmax([p.region_index.size for p in pairs]))
    p = pairs[k]
    h = p.shape[0]
    rows = _rows_to_cut(p, fraction)
    if rows.size < 2:
        return pairs, []
    cut = _cut(rows, fraction)
    weights = p.weights.copy()
    weights[cut:] = 0
    mask = np.ones(p.shape, bool) if p.mask is None else p.mask.copy()
    mask[cut:] = False
    train = replace(p, weights=weights, mask=mask, _fg=None, _region=None)
    train_pairs = [*pairs[:k], train, *pairs[k + 1 :]]
    if not any(q.fg_index.size for q in train_pairs):
        warnings.warn(
            f"no validation: holding out rows {cut}-{h} of {p.name} would leave no annotated "
            "cell to train on; annotate cells above them or choose a validation image",
            RuntimeWarning,
            stacklevel=2,
        )
        return pairs, []
    val = TrainPair(
        image=p.image[:, cut:],
        labels=p.labels[cut:],
        mask=None if p.mask is None else p.mask[cut:],
        target=p.target[cut:],
        weights=p.weights[cut:],
        name=f"{p.name} (rows {cut}-{h})",
        raw=p.image[:, cut:],  # normalised with the whole plane, as prediction reads it
        head=p.head,
        extra=None if p.extra is None else p.extra[cut:],
        normalization=dict(AS_IS),
    )
    return train_pairs, [val]


def _rows_to_cut(p: TrainPair, fraction: float) -> np.ndarray:
    """The annotated rows of ``p`` that the strip is cut from; fewer than two: no validation.

    A strip of no cell (a partly painted image without a region, or a region whose bottom
    rows hold none) was scored 1.0 or 0.0, and the best model chosen on it; one of all the
    cells left the network to train on background. Then the rows of the cells (inside the
    region) are the ones cut. Before, cells painted in a single row (one single-pixel cell)
    kept the strip where it was: scored on no cell (AP50 1.000), and the best chosen so.
    A strip that cannot hold a cell holds nothing out (a RuntimeWarning).
    """
    annotated = p.weights > 0
    rows = np.flatnonzero(annotated.any(axis=1))
    cells = np.flatnonzero(((p.labels > 0) & annotated).any(axis=1))
    if rows.size < 2:
        return rows
    if cells.size and cells[-1] < _cut(rows, fraction):  # the strip would hold no cell
        rows = rows[rows <= cells[-1]]
    if cells.size >= 2 and cells[0] >= _cut(rows, fraction):  # training would keep none
        rows = rows[rows >= cells[0]]
    if cells.size == 0 or rows.size < 2:
        where = (
            f"every painted cell of {p.name} lies in row {cells[0]}, its first annotated row"
            if cells.size
            else f"{p.name} holds no painted cell"
        )
        warnings.warn(
            f"no validation: {where}, so a strip held out would hold no cell; paint cells "
            "in more rows or choose a validation image",
            RuntimeWarning,
            stacklevel=3,
        )
        return rows[:0]
    return rows


def _cut(rows: np.ndarray, fraction: float) -> int:
    """The first held-out row: ``fraction`` of the span of ``rows`` lies from it down."""
    first, last = int(rows[0]), int(rows[-1]) + 1
    cut = first + int(round((last - first) * (1 - fraction)))
    return min(max(cut, first + 1), last - 1)


def segment_image(
    model, raw: np.ndarray, normalization: dict, device, metadata=None, stop=None, denoise="off"
):
    """Instance labels and probabilities of ``raw`` by the prediction module's segmentation.

    ``raw`` is ``(H, W)`` or ``(C, H, W)``: a training pair's image, or the training
    preview's view of a colour image (an RGBA alpha dropped, a grey model reading the mean).
    ``stop`` (the run's stop flag) is checked at every progress step of the prediction (a
    batch of tiles, at most every 0.2 s): once it is set the prediction ends there and None
    is returned (before, a stop waited for the whole image, tens of seconds on the CPU).
    ``denoise``: "off" for a pair's pixels (already as trained: make_pairs blurs a
    photon-limited plane), "auto" for the preview's view of an image as it is.
    """
    from napari_unet.core.images.layout import fit_channels
    from napari_unet.core.inference.segment import iter_segment

    raw = np.asarray(raw)
    extra = {}
    if raw.ndim == 3:
        raw = fit_channels(raw[None], int(model.in_channels), rgba=True)[0]
    if raw.ndim == 3 and raw.shape[0] == 1:
        raw = raw[0]
    elif raw.ndim == 3:
        extra["channel_axis"] = 0
    found = _until_stopped(
        iter_segment(
            model,
            raw,
            **extra,
            device=device,
            normalization=normalization,
            metadata=metadata,
            denoise=denoise,
            # As trained: at the image's scale (not segment's "auto"), its light kept
            # (training does not flatten), no DomainWarning while it trains.
            _as_trained=True,
        ),
        stop,
    )
    if found is None:
        return None
    labels, probs = found
    return np.asarray(labels), np.asarray(probs)


def _until_stopped(gen, stop):
    """The value ``gen`` returns, or None when ``stop`` is set at one of its events."""
    from napari_unet.core.training.setup import is_stopped

    try:
        while True:
            next(gen)
            if is_stopped(stop):
                return None
    except StopIteration as done:
        return done.value
    finally:
        gen.close()  # the prediction cut short cleans up (the network's mode restored)


def evaluate_pairs(
    model,
    pairs: list[TrainPair],
    normalization: dict,
    device,
    metadata: dict | None = None,
    stop=None,
) -> dict | None:
    """Validation loss, pixel IoU and AP at IoU 0.5 over validation pairs.

    Parameters
    ----------
    model : torch.nn.Module
        The network (its training mode is restored afterwards).
    pairs : list of TrainPair
        Validation pairs; scores count only the annotated region of each.
    normalization : dict
        The normalisation spec used for training, for pairs that do not record theirs. A
        pair cut from a larger plane records ``{"method": "none"}`` with the plane's
        normalised pixels as ``raw``: normalised by itself, a strip of mostly background
        had its noise stretched into cells (AP50 0 where the whole image scores 1).
    device : torch.device
        Where to predict.
    metadata : dict, optional
        Model-file metadata (post-processing settings such as the separation gap).
    stop : threading.Event or callable, optional
        The run's stop flag, checked before each pair and between the tiles it is
        predicted in. Once it is set the pass ends there and returns None: a score of part
        of the pairs is no score.

    Returns
    -------
    dict or None
        ``val_loss`` (weighted cross entropy), ``pixel_iou`` (foreground IoU over all pairs),
        ``ap50`` (DSB2018 AP at IoU 0.5 over all matched cells), ``n_gt``, ``n_pred``;
        None when ``stop`` cut the pass short.
    """
    from napari_unet.core.metrics import match_instances
    from napari_unet.core.training.setup import is_stopped

    loss_sum = n_w = 0.0
    inter = union = 0
    tp = fp = fn = 0
    n_gt = n_pred = 0
    cut = {} if stop is None else {"stop": stop}
    for p in pairs:
        if is_stopped(stop):
            return None
        norm = p.normalization or normalization  # how the pair's raw pixels are read
        found = segment_image(model, p.raw, norm, device, metadata, **cut)
        if found is None or is_stopped(stop):  # cut short: no score of part of the pairs
            return None
        pred, probs = found
        w = p.weights
        classes = probs[:2] if p.head == "distance" else probs  # its channel 2 is no class
        pt = np.take_along_axis(classes, p.target[None].astype(np.intp), axis=0)[0]
        loss_sum += float((w * -np.log(np.clip(pt, 1e-7, 1))).sum())
        n_w += float((w > 0).sum())
        gt = p.labels
        if p.mask is not None:
            pred = np.where(p.mask, pred, 0)
            gt = np.where(p.mask, gt, 0)
        inter += int(((pred > 0) & (gt > 0)).sum())
        union += int(((pred > 0) | (gt > 0)).sum())
        m = match_instances(gt, pred, thresholds=(0.5,))
        tp, fp, fn = tp + m.tp[0], fp + m.fp[0], fn + m.fn[0]
        n_gt, n_pred = n_gt + m.n_gt, n_pred + m.n_pred
    return {
        "val_loss": loss_sum / max(n_w, 1.0),
        "pixel_iou": inter / union if union else 1.0,
        "ap50": tp / (tp + fp + fn) if (tp + fp + fn) else 1.0,
        "n_gt": n_gt,
        "n_pred": n_pred,
    }


def better(metrics: dict, best: dict | None) -> bool:
    """Whether ``metrics`` beat ``best``: a higher AP50, then a lower validation loss."""
    if best is None:
        return True
    return (metrics["ap50"], -metrics["val_loss"]) > (best["ap50"], -best["val_loss"])


def preview_event(model, preview, step: int, config, device, stop=None):
    """The ``Preview`` of the current weights on ``preview``'s image, or None if it failed.

    ``stop`` (the run's stop flag) is checked between the tiles, as validation checks it:
    once set, the preview ends there and None is returned (before, Stop, and closing
    napari, waited for the whole view: 11 s on a 2048 x 2048 view on the CPU).

    ``preview`` is an image, or a callable returning ``image`` or ``(image, origin)``. A
    callable that normalises its pixels itself says how they are read in its
    ``normalization`` attribute (the Train dock's view: normalised with the whole plane, as
    Predict reads it; ``{"method": "none"}``); others are normalised by ``config``. A
    failing preview (a view that no longer exists, say) warns and training goes on: it
    ended the run before, and with it everything trained since the last save.
    """
    from napari_unet.core.training.events import Preview
    from napari_unet.core.training.setup import is_stopped

    if is_stopped(stop):
        return None
    try:
        item = preview() if callable(preview) else preview
        origin = None
        if isinstance(item, tuple):
            item, origin = item
        meta = {"separation_gap": config.gap}
        norm = getattr(preview, "normalization", None) or config.normalization
        found = segment_image(model, np.asarray(item), norm, device, meta, stop, "auto")
    except Exception as exc:  # noqa: BLE001 - a preview never ends a training run
        warnings.warn(f"the preview at step {step} failed ({exc}); training goes on",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        return None
    finally:
        model.train()
    if found is None or is_stopped(stop):  # stopped meanwhile: no Preview after a Stop
        return None
    return Preview(step, found[0], origin)
