"""Run other tools' 2D bioimage.io models through bioimageio.core's prediction pipeline.

A package that napari-unet did not export (StarDist, CAREamics, PlantSeg, a hand-made
one) cannot become a napari-unet model file, but it can still predict: :class:`ForeignModel`
reads and checks its description (spec format 0.5, or 0.4 converted by bioimageio.spec),
and runs images through bioimageio.core's own pipeline: the package's preprocessing and
postprocessing, its ``torchscript`` or ``pytorch_state_dict`` weights, and blocked
prediction whose blocks overlap by the halo the package declares on its output (the input
halo follows from it). What comes out is what the package declares: integer labels, or
float probabilities (one channel per class). A one-channel probability can be turned into
instances by napari-unet's post-processing (:func:`segment_foreign`).

Anything else is refused with an InputError that says why: 3D or time-lapse inputs, more
than one input, no input, only weight formats other than the two above, an output without
y and x axes, weights that cannot be loaded (pickled objects, never unpickled; a cut file;
an architecture file that does not run). Running such a package executes its code (the
architecture source file of a ``pytorch_state_dict``, or the TorchScript program), as
every tool that runs it does: open packages you trust.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError, memory_message
from napari_unet.core.exchange.importer import load_description
from napari_unet.core.exchange.planes import image_planes, input_steps, window_around
from napari_unet.core.exchange.spec import require_bioimageio
from napari_unet.core.exchange.tensorplan import RUN_FORMATS, TensorPlan, plan_tensors
from napari_unet.core.exchange.weightsize import refuse_inflated

#: The input block size (pixels along y and x, halo included) used when no tile is given.
DEFAULT_TILE = 512

__all__ = [
    "RUN_FORMATS", "ForeignModel", "TensorPlan", "open_bioimageio", "plan_tensors",
    "segment_foreign",
]  # fmt: skip


def _blocking(descr, shape: dict, tile: int, halo: int) -> tuple[dict, dict]:
    """``(ns, pad)``: the block size parameter per parameterized input axis, and padding.

    A block is about ``tile`` pixels (a legal size, no larger than the image with its
    halo needs). bioimageio.core starts blocks every ``inner`` pixels (the block less its
    halo) but puts the last one flush with the image's end, off that grid: networks with
    pooling then give that block other values (a U-Net's pooling phase shifts). So the
    image is padded at its end (``pad``: pixels per axis, at least the halo when any, in
    the package's padding mode) to a whole number of inner steps, every block on the grid.
    """
    from bioimageio.spec.model import v0_5

    ns, pad = {}, {}
    for axis in descr.inputs[0].axes:
        size, extent = getattr(axis, "size", None), shape.get(str(axis.id))
        if extent is None:
            continue
        if isinstance(size, v0_5.ParameterizedSize):
            n = max(0, math.ceil((min(tile, extent + 2 * halo) - size.min) / size.step))
            ns[(descr.inputs[0].id, axis.id)] = n
            block = size.min + n * size.step
        elif isinstance(size, int):
            block = size
        else:
            continue
        inner = block - 2 * halo
        if inner < 1:
            raise InputError(f"{descr.name}: its {block} px blocks leave nothing inside the halo")
        total = max(math.ceil(extent / inner), math.ceil(block / inner)) * inner
        extra = total - extent
        if 0 < extra < halo:
            extra += math.ceil((halo - extra) / inner) * inner
        pad[str(axis.id)] = extra
    return ns, pad


class ForeignModel:
    """A 2D bioimage.io model of another tool, run by bioimageio.core.

    Parameters
    ----------
    path : path-like
        The package (``.zip``, or an unpacked folder's ``rdf.yaml``).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
    weight_format : str, optional
        ``torchscript`` or ``pytorch_state_dict`` (default: the first of them present).
    """

    def __init__(self, path: str | os.PathLike, device: str = "auto", weight_format=None):
        require_bioimageio()
        self.path = Path(path)
        self.descr = load_description(self.path)
        self.name = str(self.descr.name)
        self.plan = plan_tensors(self.descr, f"{self.path.name} ({self.name!r})")
        if weight_format is not None:
            if getattr(self.descr.weights, weight_format, None) is None:
                raise InputError(f"{self.path.name} has no {weight_format} weights")
            self.plan = dataclasses.replace(self.plan, weight_format=weight_format)
        weights = getattr(self.descr.weights, self.plan.weight_format)
        refuse_inflated(self.path, str(weights.source))  # bioimageio.core reads it whole
        self.device = device
        self._pipeline = None

    def __repr__(self) -> str:
        return f"ForeignModel({self.name!r}: {self.summary})"

    @property
    def summary(self) -> str:
        """``another tool's package: probabilities (1 channel), torchscript, halo 4 px``."""
        p = self.plan
        return (
            f"another tool's package: {p.kind} ({p.out_channels} channel"
            f"{'s' if p.out_channels > 1 else ''}), {p.weight_format}, halo {p.halo} px"
        )

    def _pipe(self):
        if self._pipeline is None:
            from bioimageio.core import create_prediction_pipeline

            from napari_unet.core.device import choose_device

            dev = choose_device(self.device).type
            try:
                pipe = create_prediction_pipeline(
                    self.descr, devices=[dev], weights_format=self.plan.weight_format
                )
                pipe.load()
            except (InputError, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - a package's weights fail in many ways
                if memory_message(exc) is not None:
                    raise  # the device's memory, not the package (the caller names it)
                raise InputError(self._unloadable(exc)) from None
            self._pipeline = pipe
        return self._pipeline

    def _unloadable(self, exc: Exception) -> str:
        """One line: the package's weights could not be loaded, and why.

        Before, bioimageio.core's ValueError (pickled weights, refused by ``weights_only``:
        nothing is unpickled), RuntimeError (a cut TorchScript file) or ImportError (an
        architecture file that does not run) came through as a traceback.
        """
        fmt = self.plan.weight_format
        text = str(exc)
        cause = exc.__cause__ or exc.__context__
        if "weights_only" in text and "Weights only load failed" in str(cause):
            why = ("they are not a plain state dict of tensors (loading them would unpickle "
                   "code or objects, which is refused)")  # fmt: skip
        else:
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            first = first.split(". ")[0][:200]  # its first sentence
            why = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
            if cause is not None and str(cause).strip() and str(cause) not in text:
                why += f" ({str(cause).strip().splitlines()[0][:200]})"
        return (
            f"{self.path.name} ({self.name!r}): the package's {fmt} weights could not be "
            f"loaded: {why}; the package is damaged or was made for other software"
        )

    def close(self) -> None:
        """Free the network (the next prediction loads it again)."""
        if self._pipeline is not None:
            self._pipeline.unload()
            self._pipeline = None

    def _input_tensor(self, plane: np.ndarray):
        """``(C, H, W)`` float32 -> the package's input tensor in its own axis order."""
        from bioimageio.core import Tensor

        arr = plane if "channel" in self.plan.input_axes else plane[0]
        src = [k for k in ("channel", "y", "x") if k in self.plan.input_axes]
        dest = [a for a in self.plan.input_axes if a != "batch"]
        arr = np.moveaxis(arr, [src.index(a) for a in dest], range(len(dest)))
        if "batch" in self.plan.input_axes:
            arr = np.expand_dims(arr, self.plan.input_axes.index("batch"))
        return Tensor.from_numpy(np.ascontiguousarray(arr), dims=self.plan.input_axes)

    def iter_plane(self, plane: np.ndarray, tile: int | None = None, window=None):
        """Predict one ``(C, H, W)`` plane; yields ``(done, total)`` blocks, returns the output.

        The output is ``(K, H, W)`` float32 probabilities or ``(H, W)`` int32 labels, of the
        ``window`` (y and x slices) only when one is given.
        """
        pipe = self._pipe()
        h, w = (s.stop - s.start for s in window) if window else plane.shape[-2:]
        size = int(tile or DEFAULT_TILE)
        ns, pad = _blocking(self.descr, {"y": h, "x": w}, size, self.plan.halo)
        # The package's preprocessing sees the whole plane as it is (its statistics), then
        # the window of the normalised plane is padded (see _blocking) and predicted in blocks.
        sample = self._preprocessed(plane, pad, window)
        total, parts = pipe.predict_sample_with_blocking_yield_intermediates(
            sample, ns=ns, skip_preprocessing=True
        )
        parts, result, done = iter(parts), None, 0
        while True:
            with warnings.catch_warnings():  # an integer output's blocks start NaN-filled
                warnings.simplefilter("ignore", RuntimeWarning)
                step = next(parts, None)
            if step is None:
                break
            result, done = step, done + 1
            yield done, total
        if result is None:
            raise InputError(f"{self.name}: bioimageio.core predicted no block")
        shape = (h + pad.get("y", 0), w + pad.get("x", 0))
        out = self._output(result.sample.members[self.plan.output_id], shape)
        return np.ascontiguousarray(out[..., :h, :w])

    def _preprocessed(self, plane: np.ndarray, pad: dict, window=None):
        """The preprocessed ``plane``'s ``window`` (y, x slices), end-padded by ``pad``."""
        from bioimageio.core import Sample, Tensor

        key = self.plan.input_id
        sample = Sample(members={key: self._input_tensor(plane)}, stat={}, id=0)
        self._pipe().apply_preprocessing(sample)
        if not any(pad.values()) and window is None:
            return sample
        data = sample.members[key].data
        dims = tuple(str(d) for d in data.dims)
        cut = dict(zip(("y", "x"), window or (slice(None),) * 2, strict=True))
        values = np.asarray(data.values)[tuple(cut.get(d, slice(None)) for d in dims)]
        spec = self.descr.inputs[0].pad
        mode = getattr(spec, "mode", "symmetric")
        extra = {"constant_values": spec.value} if mode == "constant" else {}
        padded = np.pad(values, [(0, pad.get(d, 0)) for d in dims], mode=mode, **extra)
        return Sample(members={key: Tensor.from_numpy(padded, dims=dims)}, stat=sample.stat, id=0)

    def _output(self, tensor, shape) -> np.ndarray:
        data = tensor.data
        dims = [str(d) for d in data.dims]
        if "batch" in dims:
            data = data.isel(batch=0)
        want = [d for d in ("channel", "y", "x") if d in dims]
        arr = np.asarray(data.transpose(*want).values)
        if arr.shape[-2:] != tuple(shape):
            raise InputError(
                f"{self.name}: its output is {arr.shape[-2:]} pixels for an input of "
                f"{tuple(shape)}; napari-unet shows outputs on the input's pixel grid only"
            )
        if self.plan.kind == "labels":
            return arr.reshape(shape).astype(np.int32)
        return arr.reshape(-1, *shape).astype(np.float32)

    def iter_predict(self, image, tile=None, channel_axis=None, channel=None, region=None):
        """Predict an image plane or stack; yields PredictProgress, returns the output.

        Parameters
        ----------
        image : array-like
            ``(H, W)``, a stack ``(Z, H, W)``, or either with a channel axis: guessed as
            for napari-unet's models, or given (``channel_axis``; ``"none"``: none).
        tile : int, optional
            Input block size in pixels (halo included; default 512), rounded up to a size
            the package allows.
        channel : None, "mean" or int
            For a one-channel model: the channel of a colour image to use (None: the mean).
        region : ((y0, y1), (x0, x1)), optional
            Predict only this part of each plane (read with the halo around it).

        Returns
        -------
        numpy.ndarray
            Probabilities ``(K, *stack, H, W)`` float32, or labels ``(*stack, H, W)`` int32.
        """
        from napari_unet.core.inference.runner import PredictProgress

        planes, stack = image_planes(image, channel_axis, self.plan.in_channels, channel)
        window = crop = None
        if region is not None:  # normalised as a whole, so the region equals the whole's part
            steps = input_steps(self.descr)  # the blocks' pooling phase, as the whole image's
            window, crop = window_around(planes.shape[-2:], region, self.plan.halo, steps)
        outs = []
        for k, plane in enumerate(planes):
            gen = self.iter_plane(plane, tile, window)
            while True:
                try:
                    done, total = next(gen)
                except StopIteration as stop:
                    outs.append(stop.value)
                    break
                yield PredictProgress(done, total, plane=k, n_planes=len(planes))
        probs = self.plan.kind == "probabilities"
        out = np.stack(outs, axis=1 if probs else 0)  # (K, Z, H, W) or (Z, H, W)
        if crop is not None:
            out = out[(..., *crop)]
        if not stack:
            out = out[:, 0] if probs else out[0]
        return np.ascontiguousarray(out)

    def predict(self, image, **kwargs) -> np.ndarray:
        """:meth:`iter_predict` run to the end (keywords the same)."""
        from napari_unet.core.progress import drain

        return drain(self.iter_predict(image, **kwargs))


def segment_foreign(output: np.ndarray, plan: TensorPlan, post=None):
    """``(labels, foreground)`` of a foreign model's output.

    Labels are the output itself (foreground None); a one-channel probability becomes
    instances by napari-unet's post-processing (``post``: a Postprocess, None for the
    defaults with no separation gap); several probability channels give ``(None, None)``.
    """
    from napari_unet.core.inference.postprocess import Postprocess, label_planes

    if plan.kind == "labels":
        return output, None
    if plan.out_channels != 1:
        return None, None
    post = post or Postprocess(gap=0)
    foreground = output[0]
    return label_planes(foreground, **post.as_dict()), foreground


def open_bioimageio(path: str | os.PathLike, device: str = "cpu"):
    """A package as ``(model, metadata)`` if napari-unet exported it, else a ForeignModel.

    A package napari-unet exported but left without its ``pytorch_state_dict`` weights
    (torchscript only, say, slimmed for another tool) is run as another tool's package
    is: importing needs those weights (before, it was refused as "not exported by
    napari-unet").

    Raises
    ------
    InputError
        Without the bioimageio extra, for a file that is not a package, or a package that
        napari-unet cannot run (see :func:`plan_tensors`).
    """
    from napari_unet.core.exchange.importer import exported_here, import_bioimageio

    require_bioimageio()
    path = Path(path)
    descr = load_description(path)
    if exported_here(descr) is not None and descr.weights.pytorch_state_dict is not None:
        return import_bioimageio(path, device=device)
    return ForeignModel(path, device=device)
