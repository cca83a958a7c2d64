"""One prediction plan: settings fixed once, then run on numpy or dask input by the same code.

A :class:`Predictor` resolves and checks every setting when it is made (tile, overlap,
batch, device, precision, normalisation, channel axis, foreground class); it then predicts
any number of images. Whatever the input, the unit of work is the same: the output
``region`` of one plane is predicted from the block of pixels its tiles read
(:func:`~napari_unet.core.inference.tiling.source_window`), which is a view of a numpy plane
or the one block of a dask array that gets computed. Tiles follow
:mod:`napari_unet.core.inference.tiling`: abutting overlap-tiles with real neighbouring
context for valid networks (equal to a whole-image prediction), blended overlapping tiles for
same-padded ones.

Accepted layouts: ``(H, W)``; ``(H, W, C)`` (RGB last) or ``(C, H, W)``; stacks ``(Z, H, W)``,
``(Z, C, H, W)`` or ``(Z, H, W, C)``, predicted plane by plane. Probabilities have the class
axis first: ``(n_classes, *stack, H, W)``.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import numpy as np

from napari_unet.core.device import DEFAULT_PRECISION, PRECISIONS, choose_device
from napari_unet.core.errors import InputError, check_int
from napari_unet.core.images.background import background_for, plane_stats, window_for
from napari_unet.core.images.background import check_mode as background_mode
from napari_unet.core.images.layout import Layout, check_channel_axis, is_lazy, layout
from napari_unet.core.images.normalize import PREDICTION_CLIP, check_pixels, check_spec
from napari_unet.core.images.photons import check_mode as denoise_mode
from napari_unet.core.images.photons import prepared
from napari_unet.core.inference import margins, tiling
from napari_unet.core.inference.guards import check_seconds, check_weights, eval_mode, on_device
from napari_unet.core.inference.instances import (
    check_classes,
    foreground_class_of,
    foreground_of,
    instance_planes,
)
from napari_unet.core.inference.keywords import check_keywords, keywords_of
from napari_unet.core.inference.runner import (
    PredictProgress,
    TileRunner,
    auto_batch,
    auto_tile,
    model_info,
    predict_region,
    responsive_tile,
)
from napari_unet.core.models.carried import carried
from napari_unet.core.models.heads import head_of
from napari_unet.core.progress import drain

__all__ = [
    "CHUNK",
    "PredictProgress",
    "Predictor",
    "foreground_class_of",
    "iter_predict",
    "predict",
    "predict_to_zarr",
]

#: Target output chunk side (pixels) of lazy predictions: large chunks recompute fewer tiles.
CHUNK = 2048

#: A box of output pixels of one plane: ``((y0, y1), (x0, x1))``.
Region = tiling.Region


class Predictor:
    """Seamless tiled prediction with its settings fixed once.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the family (with ``geometry``, ``in_channels``, ``n_classes``).
    tile : int, optional
        Input tile size (rounded up to a legal size); None or 0: the largest that fits the
        device's free memory.
    batch : int, optional
        Tiles per forward pass (None or 0: 1, except on a CUDA GPU with a given tile: as many
        tiles as fit half its free memory, :func:`~.runner.auto_batch`; halved
        automatically on CUDA out-of-memory).
    device : str or torch.device, optional
        Default: CUDA if available, else MPS, else CPU.
    precision : {"fp32", "fp16", "bf16"}
        Autocast precision on CUDA; bf16 also on a CPU with AMX (elsewhere the CPU runs fp32).
    channel_axis : int, "none" or None
        The channel axis of the images; ``"none"`` for none; guessed by default (see
        :func:`~napari_unet.core.images.layout.layout`).
    channel : None, "mean" or int
        What a grey model reads of a multichannel image: auto (None: one channel if they
        are equal, else their mean), ``"mean"`` or the channel with this index (see
        :func:`~napari_unet.core.images.layout.fit_channels`). An RGBA alpha is dropped.
    normalization, metadata : dict, optional
        The normalisation spec, or the model file's metadata holding it.
    overlap : int, optional
        Same-padded networks: overlap of neighbouring tiles (default: from the halo).
    foreground_class : int, optional
        The class :meth:`foreground` returns (default: see :func:`foreground_class_of`).
    chunk : int
        Output chunk side of lazy (dask) predictions.
    tile_seconds : float, optional
        With an automatic tile: the largest tile the network runs in about this many seconds
        on the device (timed once per model; :func:`~.runner.responsive_tile`), so progress
        moves and a cancel acts at least that often. The docks use 0.5; None (the default)
        takes the largest tile that fits the memory (the fastest overall).
    flips : bool
        Test-time augmentation: average each tile's probabilities over the tile and its
        three flips (four forward passes; see docs/predict.md for what it buys).
    background : {"auto", "flatten", "keep"}
        Uneven illumination (:mod:`~napari_unet.core.images.background`): each plane in
        memory has its background estimated and subtracted before prediction when it varies
        by more than 0.3 of the image's range ("auto", the default), always
        ("flatten") or never ("keep"); a region of a plane exactly as the whole plane. A
        lazy (dask) plane is given as it is with ``"auto"``, and ``"flatten"`` is refused
        for it. Validation and the training preview read images as training does by
        passing ``"keep"``: the network's training mode changes nothing (before, a network
        left in training mode was never flattened). :attr:`surfaces` keeps, per plane, the
        light the last prediction took out, :attr:`flattened` its unevenness.
    denoise : {"auto", "off"}
        Few photons (:mod:`~napari_unet.core.images.photons`): a plane in memory whose
        brightest pixels caught fewer than about 40 photons (photon noise) is blurred by
        half a pixel (one below 6) before prediction ("auto", the default), or never
        ("off"); not a lazy plane. The training preview reads it too; validation pairs were
        blurred by ``make_pairs`` and are read with "off".
        :attr:`denoised` keeps, per plane, the blur the last prediction gave.

    Raises
    ------
    InputError
        For settings the model or the machine cannot take, and unknown ones (a typo).
    """

    def __init__(
        self,
        model,
        *,
        tile: int | None = None,
        batch: int | None = None,
        device=None,
        precision: str = DEFAULT_PRECISION,
        channel_axis: int | str | None = None,
        channel: int | str | None = None,
        normalization: dict | None = None,
        metadata: dict | None = None,
        overlap: int | None = None,
        foreground_class: int | None = None,
        chunk: int = CHUNK,
        tile_seconds: float | None = None,
        flips: bool = False,
        background: str = "auto",
        denoise: str = "auto",
        **unknown,
    ) -> None:
        check_keywords(unknown, keywords_of(Predictor)[1:], "prediction")  # not its model
        self.geometry, self.in_channels, self.n_classes, _ = model_info(model)
        check_weights(model)
        if not isinstance(metadata, dict | None):  # a file name: before, an AttributeError
            raise InputError(f"metadata must be the dict load_model returns (model, metadata ="
                             f" load_model(path)); got {type(metadata).__name__} {metadata!r}")
        check_channel_axis(channel_axis)
        metadata = carried(model, metadata)  # a loaded model's own, when none is given
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.model, self.precision, self.channel_axis = model, precision, channel_axis
        self.channel = channel
        self.spec = check_spec(normalization or (metadata or {}).get("normalization"))
        self.device = choose_device(device)
        self.batch = check_int("batch", 1 if batch is None or batch == 0 else batch)
        auto = tile is None or (tile == 0 and not isinstance(tile, bool))
        self.tile = auto_tile(model, self.device, self.batch, precision) if auto else tile
        if auto and tile_seconds is not None:
            seconds = check_seconds(tile_seconds) / (4 if flips else 1)  # 4 passes a tile
            self.tile = responsive_tile(model, self.device, seconds, precision, self.tile)
        self.tile = check_int("tile", self.tile)
        if not auto and batch is None and self.device.type == "cuda":  # fill the GPU
            self.batch = auto_batch(model, self.device, self.tile, precision)
        self.overlap = None if overlap is None else check_int("overlap", overlap, low=0)
        self.chunk = check_int("chunk", chunk)
        self.foreground_class = foreground_class_of(self.n_classes, foreground_class)
        self.head = head_of(model)
        self.flips = bool(flips)
        self.background = background_mode(background)
        self.denoise = denoise_mode(denoise)
        self.denoised: dict[int, float] = {}  # plane index -> blur of the last prediction
        self.bright = {"bright": True, "dark": False}.get(str((metadata or {}).get("background")))
        if self.spec["method"] == "percentile":
            self.spec.setdefault("clip", PREDICTION_CLIP)  # bright specks (training: none)
            if self.bright is not None:  # the side the noise floor grows away from
                self.spec["background"] = "bright" if self.bright else "dark"
        self.window = window_for((metadata or {}).get("object_size"))
        #: Plane index -> the light taken out of the planes the last prediction flattened.
        self.surfaces: dict = {}
        #: Internal switches of the runner (see :class:`~.runner.TileRunner`): ``fast=False``
        #: runs the model as it is instead of its inference copy (the reference the speed
        #: benchmark and tests compare with); ``on_device`` forces the on-device pipeline on
        #: or off (None: on for every device but the CPU).
        self.fast, self.on_device = True, None

    # -- arithmetic -------------------------------------------------------------------
    def layout(self, image) -> Layout:
        """How ``image``'s axes map onto ``(planes, channels, H, W)`` for this model."""
        return layout(image, self.in_channels, self.channel_axis, self.channel)

    def plans(self, shape: tuple[int, int]) -> list[tiling.AxisPlan]:
        """The per-axis tile plans for a plane of ``shape`` (H, W)."""
        return [tiling.plan_axis(int(n), self.geometry, self.tile, self.overlap) for n in shape]

    def foreground(self, probabilities):
        """The foreground probability of ``(n_classes, *stack, H, W)`` probabilities, per the head.

        Other shapes (the class axis last, one class's map) are an InputError.
        """
        probabilities = check_classes(probabilities, self.n_classes)
        return foreground_of(probabilities, self.head, self.foreground_class)

    def instances(self, probabilities, post, *, split_max_area: int | None = None) -> np.ndarray:
        """Instance labels of numpy ``(n_classes, *stack, H, W)`` probabilities, per the head."""
        return instance_planes(check_classes(probabilities, self.n_classes), self.head, post,
                               self.foreground_class, split_max_area=split_max_area)  # fmt: skip

    def runner(self) -> TileRunner:
        """A runner of this plan's network on its device; the caller's network is not moved.

        The runner predicts with a copy on the device (the inference copy, or ``fast=False``
        a plain one); before, ``.to`` moved the caller's model there in place.
        """
        model = self.model if self.fast else on_device(self.model, self.device)
        return TileRunner(
            model, self.device, self.precision, self.batch, self.flips, self.fast, self.on_device
        )

    # -- in memory ----------------------------------------------------------------------
    def iter_probabilities(
        self, image, region: Region | None = None, stats: list | None = None
    ) -> Generator[PredictProgress, None, np.ndarray]:
        """Predict ``image`` (numpy or dask), yielding progress; return numpy probabilities.

        ``region`` (``((y0, y1), (x0, x1))``, e.g. the current view) limits the output to
        those pixels of every plane: the network runs only on their tiles, and of a dask image
        only the block those tiles read is loaded for it. (Normalisation statistics still
        come from a regular subsample of the whole plane, so a region is normalised exactly
        as in a whole-image prediction; ``stats``, one per plane, gives them when known.)
        """
        lay = self.layout(image)
        n_planes, _, h, w = (int(s) for s in lay.planes.shape)
        plans = self.plans((h, w))
        region = tiling.check_region(region, (h, w))
        (y0, y1), (x0, x1) = region
        window = tiling.source_window(plans, region)
        total = n_planes * len(plans[0].tiles(y0, y1)) * len(plans[1].tiles(x0, x1))
        out = np.zeros((self.n_classes, n_planes, y1 - y0, x1 - x0), np.float32)
        runner, done, last = self.runner(), 0, 0.0
        keep = stats is not None  # not the network's mode: a user's left in train() is read
        # as one in eval() (validation and previews pass background="keep" themselves)
        self.surfaces.clear()
        self.denoised.clear()
        with eval_mode(self.model):
            for k in range(n_planes):
                # Not for given statistics (a lazy plane's); validation pairs, blurred
                # already, are read with denoise "off".
                plane, spec, blur = prepared(
                    lay.planes[k], self.spec, "off" if stats else self.denoise
                )
                if blur:
                    self.denoised[k] = blur
                found = None if keep else self._background(plane, k)
                block = np.asarray(plane[:, slice(*window[0]), slice(*window[1])])
                check_pixels(block)
                origin = (window[0][0], window[1][0])
                if found is not None:
                    block = found.subtract(block, origin)
                known = plane_stats(plane, spec, found) if stats is None else stats[k]
                gen = predict_region(block, origin, (h, w), region, plans, known, runner,
                                     self.n_classes)  # fmt: skip
                while True:
                    try:
                        done += next(gen)
                    except StopIteration as stop:
                        out[:, k] = stop.value
                        break
                    now = time.monotonic()
                    if now - last > 0.2 or done == total:
                        last = now
                        yield PredictProgress(done, total, k, n_planes)
        return out.reshape((self.n_classes, *lay.stack_shape, *out.shape[-2:]))

    def _background(self, plane, k: int):
        """The light to take out of plane ``k`` (:func:`background_for`), recorded."""
        found = background_for(plane, self.background, self.bright, self.window)
        if found is not None:
            self.surfaces[k] = found
        return found

    @property
    def flattened(self) -> dict[int, float]:
        """Plane index -> unevenness of the planes the last prediction flattened."""
        return {k: float(found.uneven) for k, found in self.surfaces.items()}

    # -- lazy (dask) --------------------------------------------------------------------
    def lazy_probabilities(self, image, region: Region | None = None, stats=None):
        """Lazy probabilities (a dask array) of a numpy or dask ``image``, chunk by chunk.

        Normalisation statistics are computed now (per plane, on a regular subsample); the
        network runs when the result is computed or stored. With ``region`` only the chunks
        it touches are computed. The background is not flattened chunk by chunk: ``"auto"``
        keeps it, ``"flatten"`` is refused.
        """
        from napari_unet.core.images.background import LAZY
        from napari_unet.core.inference.chunked import lazy_probabilities

        self.surfaces.clear()
        self.denoised.clear()
        if self.background == "flatten":
            raise InputError(LAZY)
        return lazy_probabilities(self, image, region, stats)

    def iter_to_zarr(
        self, image, path, scheduler: str | None = None, region: Region | None = None,
        *, overwrite: bool = False,
    ) -> Generator[PredictProgress, None, object]:  # fmt: skip
        """Predict chunk by chunk into a new Zarr store at ``path``, yielding progress.

        ``scheduler``: a ``dask.distributed`` address (default: this process, chunk after
        chunk); ``region`` as for :meth:`iter_probabilities`. Returns the stored
        probabilities (lazy). Refused before any work (InputError): an OME-Zarr label image
        as input; a ``path`` that is, holds or lies in the input's store; an existing one
        but an empty folder or probabilities napari-unet wrote (``overwrite``: any store).
        """
        from napari_unet.core.inference.chunked import iter_store
        from napari_unet.core.inference.probstore import check_store_output, input_stores
        from napari_unet.core.inference.slidestore import check_not_label_image

        check_not_label_image(*input_stores(image))  # its ids are no pixels to segment
        check_store_output(path, image, overwrite=overwrite)
        probs = self.lazy_probabilities(image, region)
        return (yield from iter_store(probs, path, scheduler, overwrite=overwrite))


def iter_predict(
    model, image, *, region: Region | None = None, **settings
) -> Generator[PredictProgress, None, np.ndarray]:
    """Generator twin of :func:`predict` for numpy results: yields progress.

    ``settings`` are the keywords of :class:`Predictor`; ``region`` as in
    :meth:`Predictor.iter_probabilities`. Dask input is computed block by block.
    """
    return (yield from margins.iter_probabilities(Predictor(model, **settings), image, region))


def predict(model, image, *, region: Region | None = None, **settings):
    """Class probabilities of ``image`` by seamless tiled prediction.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the family.
    image : numpy.ndarray or dask.array.Array
        Raw pixels (uint8, uint16, float...) in any layout of the module docstring.
    region : ((int, int), (int, int)), optional
        Predict only these output pixels of every plane.
    **settings
        Keywords of :class:`Predictor` (``tile``, ``batch``, ``device``, ``precision``,
        ``channel_axis``, ``normalization``, ``metadata``, ``overlap``...).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32 probabilities ``(n_classes, *stack, H, W)``; lazy for dask input.

    Raises
    ------
    InputError
        For empty, 1-D, non-numeric, NaN/inf input or a channel count the model cannot take.
    """
    predictor = Predictor(model, **settings)
    if is_lazy(image):
        return predictor.lazy_probabilities(image, region)
    return drain(margins.iter_probabilities(predictor, image, region))  # a border: its inside


def predict_to_zarr(
    model, image, path, scheduler: str | None = None, *, region: Region | None = None, **settings
):
    """Predict ``image`` into a Zarr store at ``path``; return the stored probabilities (lazy).

    ``scheduler`` is a ``dask.distributed`` address; ``region`` as for :func:`predict`;
    ``settings`` the keywords of :class:`Predictor`. ``path`` must be new, an empty folder
    or probabilities an earlier ``predict_to_zarr`` wrote (replaced); anything else there,
    and the input's own store, is refused with :class:`InputError`.
    """
    return drain(Predictor(model, **settings).iter_to_zarr(image, path, scheduler, region))
