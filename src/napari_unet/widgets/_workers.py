"""What the docks run in napari thread workers: plain functions of plain data.

Each job receives copies taken on the GUI thread (arrays, settings, a model) and yields the
core's progress events; none of them reads or writes a widget. State the GUI thread updates
while a job runs (the part of the image in view, for the training preview) is handed over
through :class:`ViewSource`, which is guarded by a lock.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Generator

import numpy as np

__all__ = ["ViewSource", "evaluate_job", "foreign_job", "predict_job", "train_job"]


class ViewSource:
    """The image part in view, for the training preview: set by the GUI, read by the worker.

    The pixels handed over are normalised with the statistics of their whole plane, as
    Predict normalises them (:attr:`normalization` tells the trainer they are): normalised
    by itself, a view of background had its noise stretched into cells (7 objects where
    Predict finds none). The statistics are computed once per plane, on first use.

    Parameters
    ----------
    image : numpy.ndarray
        A copy of the training image: ``(H, W)``, with channels (last or first) or a stack
        of such planes.
    label_shape : tuple of int
        The shape of its labels, ``(H, W)`` or ``(Z, H, W)``: the axis the image has more
        is its channels, handed to the trainer first, ``(C, h, w)``, as training pairs
        hold them (an RGB view handed over as rows of 3 pixels stopped colour training).
    normalization : dict, optional
        The run's normalisation spec (default: 1-99.8 percentiles).
    in_channels : int, optional
        The channels of the model trained (fine-tuning, resuming); None: the image's own,
        as :func:`~napari_unet.core.training.pairs.make_pairs` fits them.
    half_side : int, optional
        Until a box is set, the preview is the plane's centre, at most twice this a side
        (before, the whole plane, however large, at every evaluation).
    """

    def __init__(
        self,
        image: np.ndarray,
        label_shape: tuple[int, ...],
        normalization: dict | None = None,
        in_channels: int | None = None,
        half_side: int = 512,
    ) -> None:
        from napari_unet.core.images.layout import extra_axis
        from napari_unet.core.images.normalize import DEFAULT, check_spec

        self._stack = len(label_shape) == 3
        axis = extra_axis(image.shape, tuple(label_shape))  # channels last, as RGB layers
        self._image = image if axis is None else np.moveaxis(image, axis, -1)
        self._plane_shape = tuple(label_shape[-2:])
        self._spec = check_spec(DEFAULT if normalization is None else normalization)
        self._in_channels = in_channels
        self._lock = threading.Lock()
        side = np.minimum(self._plane_shape, 2 * int(half_side))  # no view yet: the centre
        (y0, x0) = (np.asarray(self._plane_shape) - side) // 2
        self._box = (int(y0), int(y0 + side[0]), int(x0), int(x0 + side[1]))
        self._plane = 0
        self._cached: tuple | None = None  # (plane, its (C, H, W) pixels, their Stats)

    @property
    def normalization(self) -> dict:
        """How the trainer reads the pixels handed over: as they are (normalised here)."""
        return {"method": "none"}

    def update(self, box: tuple[int, int, int, int] | None, plane: int = 0) -> None:
        """Called on the GUI thread when the view moves: the visible box and plane.

        A ``box`` of None keeps the last box (a view beside the plane, or of no plane).
        """
        with self._lock:
            self._box = self._box if box is None else tuple(box)
            self._plane = int(plane)

    def _pixels(self, plane: int) -> tuple:
        """The plane with the model's channels, ``(C, H, W)``, and its normalisation."""
        from napari_unet.core.images.normalize import compute_stats
        from napari_unet.core.training.pairs import checked_image

        if self._cached is None or self._cached[0] != plane:
            img = self._image[plane] if self._stack else self._image
            fitted = checked_image(img, self._plane_shape, "the preview", self._in_channels, None)
            self._cached = (plane, fitted, compute_stats(fitted, self._spec))
        return self._cached[1:]

    def __call__(self) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Called by the trainer: ``(normalised pixels in view, their (y, x, plane) origin)``.

        The plane goes with the preview: read again when it is painted, a scroll meanwhile
        put one plane's prediction on another.
        """
        with self._lock:
            box, plane = self._box, self._plane
        y0, y1, x0, x1 = box
        pixels, stats = self._pixels(plane)
        view = stats.apply(pixels[:, y0:y1, x0:x1])
        return np.ascontiguousarray(view[0] if view.shape[0] == 1 else view), (y0, x0, plane)


def train_job(data: dict, config, kwargs: dict, done: threading.Event) -> Generator:
    """Build the training pairs (weight maps), then train; ``done`` is set at the end.

    ``data`` holds copies of the layers (see ``_train_helpers.snapshot``); ``kwargs`` are
    keywords of :func:`napari_unet.core.training.trainer.iter_train`. Returns its result,
    or None when its ``stop`` was set while the weight maps were made (nothing trained;
    before, the run went on to score the start model first, seconds on a large image).
    """
    from napari_unet.core.training.pairs import make_pairs
    from napari_unet.core.training.setup import is_stopped
    from napari_unet.core.training.trainer import iter_train

    gen = None
    try:
        opts = config.pair_options() | {"in_channels": data.get("in_channels")}
        pairs = make_pairs(
            data["images"], data["labels"], data["regions"], names=data["names"], **opts
        )
        val = data["val"]
        if isinstance(val, tuple) and not is_stopped(kwargs.get("stop")):
            region = [data.get("val_region")]  # its annotated region: scored inside only
            val = make_pairs([val[0]], [val[1]], region, names=[val[2]], validation=True, **opts)
        if is_stopped(kwargs.get("stop")):
            return None
        yield "Weight maps ready; starting..."
        gen = iter_train(pairs, config, val=val, **kwargs)
        return (yield from gen)
    finally:
        if gen is not None:
            gen.close()  # ends the batch threads even if the worker was quit mid-run
        gc.unfreeze()  # objects frozen when training started can be collected again
        done.set()


#: Seconds of network time per tile in the docks: progress and Cancel act at least this often.
TILE_SECONDS = 0.5


def predict_job(
    model, metadata: dict, model_file, image, options: dict, region, estimate_only=False
) -> Generator:
    """Load the model file (or package) if no model is given, then segment ``image``.

    Another tool's bioimage.io package is run by :func:`foreign_job` instead.

    ``options`` holds the post-processing (``threshold``, ``min_size``, ``split``,
    ``seed_level``), the
    ``object_size`` (None, pixels, ``"estimate"`` or ``"auto"``) and keywords of
    :class:`~napari_unet.core.inference.plan.Predictor`; an automatic tile is the largest
    the network runs in :data:`TILE_SECONDS`. Yields progress (and the
    :class:`~napari_unet.core.inference.scale.ObjectSize` used). Returns a dict: ``labels``,
    ``foreground`` (float32), ``model`` (the one loaded here, or None), ``metadata``,
    ``size`` (the ObjectSize, or None) and ``warnings`` (out-of-domain signs, text). With
    ``estimate_only`` only the object size is measured: ``labels`` and ``foreground`` are
    None.
    """
    from napari_unet.core.images.background import describe_flattened
    from napari_unet.core.images.photons import describe_denoised
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.scale import ObjectSize
    from napari_unet.core.inference.segment import iter_labels, result_warnings
    from napari_unet.widgets._exporting import is_foreign, load_predict_model

    out = {"model": None, "labels": None, "foreground": None, "size": None, "warnings": []}
    if model is None:  # a model file, or a bioimage.io package
        model, metadata = load_predict_model(model_file, options.get("device", "auto"))
        out["model"] = model
    out["metadata"] = metadata
    if is_foreign(model):
        return (yield from foreign_job(model, image, options, region, estimate_only, out))
    settings = dict(options)
    names = ("threshold", "min_size", "split", "seed_level")
    post = {k: settings.pop(k) for k in names if k in settings}
    size = settings.pop("object_size", None)
    if settings.get("tile") is None:
        settings["tile_seconds"] = TILE_SECONDS
    if estimate_only:
        from napari_unet.core.inference.segment import iter_estimate_object_size

        out["size"] = yield from iter_estimate_object_size(
            model, image, metadata=metadata, region=region, **post, **settings
        )
        return out
    predictor = Predictor(model, metadata=metadata, **settings)
    post = Postprocess.for_model(metadata, **post)
    gen = iter_labels(predictor, post, image, region, object_size=size, metadata=metadata)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            labels, foreground, _ = stop.value
            break
        if isinstance(event, ObjectSize):
            out["size"] = event
        yield event
    fg = np.asarray(foreground, np.float32)
    out["labels"], out["foreground"] = labels, fg
    planes = int(np.prod(np.shape(labels)[:-2], dtype=int))
    out["background"] = describe_flattened(predictor.flattened, planes, "uneven light: keep")
    out["denoise"] = describe_denoised(predictor.denoised, planes, "few photons: off")
    out["warnings"] = result_warnings(
        labels, fg, metadata, image, out["size"], post.threshold, predictor
    )
    return out


def foreign_job(model, image, options: dict, region, estimate_only: bool, out: dict):
    """:func:`predict_job` for another tool's bioimage.io package (bioimageio.core runs it).

    Adds ``output`` (what the package declares: ``(K, *stack, H, W)`` probabilities or
    labels) and ``kind`` to ``out``; ``labels`` and ``foreground`` are the labels output,
    or the instances napari-unet's post-processing finds in a one-channel probability
    (``labels`` None for several channels). Flips and the object size do not apply.
    """
    from napari_unet.core.errors import InputError
    from napari_unet.core.exchange.foreign import segment_foreign
    from napari_unet.core.inference.postprocess import Postprocess

    if estimate_only:
        raise InputError(
            "the object size is estimated with napari-unet models only; this is a "
            "bioimage.io package of another tool"
        )
    post = Postprocess(
        threshold=options["threshold"], min_size=options["min_size"], gap=0,
        split=options["split"],
    )  # fmt: skip
    axis = options.get("channel_axis")
    output = yield from model.iter_predict(
        image, tile=options.get("tile"), channel_axis=axis,
        channel=options.get("channel"), region=region,
    )  # fmt: skip
    out["labels"], fg = segment_foreign(output, model.plan, post)
    out["foreground"] = None if fg is None else np.asarray(fg, np.float32)
    out["output"], out["kind"] = output, model.plan.kind
    given = {**options, "object_size": None if options.get("object_size") == "auto" else
             options.get("object_size")}  # fmt: skip
    given["background"] = given.get("background") == "flatten"  # keep and auto: as it is
    ignored = [text for key, text in (("flips", "test-time flips"),
               ("object_size", "the object size"), ("background", "flattening the background"))
               if given.get(key)]  # fmt: skip
    if ignored:
        out["warnings"].append(
            f"{' and '.join(ignored)} apply to napari-unet models only; not used here"
        )
    return out


def evaluate_job(pairs: list, thresholds, total: int) -> Generator:
    """Score ``(name, ground truth, prediction, region or None)`` pairs (iter_evaluate_many).

    Each pair is scored inside its annotated region (its objects there, its pixel error
    over the region's pixels); planes of a stack without any annotated pixel are skipped
    (nothing there is annotated).
    """
    from napari_unet.core.metrics import iter_evaluate_many

    def restricted():
        for name, gt, pred, region in pairs:
            if region is None:
                yield name, gt, pred
            elif region.any():
                yield name, gt, pred, region

    return (yield from iter_evaluate_many(restricted(), thresholds, total))
