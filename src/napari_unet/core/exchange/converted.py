"""The package's torchscript and onnx weights, converted from its ``pytorch_state_dict``.

Part of :mod:`~napari_unet.core.exchange.export`: each child is made from the network that
bioimageio.core builds from the package's own architecture file and weights, in eval mode.
"""

from __future__ import annotations

from pathlib import Path

#: The ONNX opset written (torch's TorchScript-based exporter, dynamic batch, y and x).
ONNX_OPSET = 17


def _net_and_test_input(descr):
    """The network built by bioimageio.core from the package's own files, and its test input."""
    import torch
    from bioimageio.core.backends.pytorch_backend import load_torch_model

    net = load_torch_model(descr.weights.pytorch_state_dict, load_state=True, devices=["cpu"])
    return net.eval(), torch.from_numpy(descr.get_input_test_arrays()[0])


def add_torchscript(descr, folder: Path):
    """The description with a torchscript child traced from its state dict weights.

    The network is built by bioimageio.core from the package's own architecture file and
    weights, put in eval mode and traced on the test input. (bioimageio.core's converter
    traces the module as built, in training mode, which bakes batch statistics into
    networks with batch norm: its torchscript then fails the package's own test.)
    """
    import torch
    from bioimageio.spec.model import v0_5 as s

    path = folder / "weights_torchscript.pt"
    net, x = _net_and_test_input(descr)
    with quiet(), torch.no_grad():
        torch.jit.trace(net.eval(), x).save(str(path))
    entry = s.TorchscriptWeightsDescr(
        source=path, parent="pytorch_state_dict",
        pytorch_version=s.Version(torch.__version__.split("+")[0]),
        comment="traced by napari-unet (eval mode) from the pytorch_state_dict weights",
    )  # fmt: skip
    weights = descr.weights.model_copy(update={"torchscript": entry})
    return descr.model_copy(update={"weights": weights})


def add_onnx(descr, folder: Path):
    """The description with an ``onnx`` child exported from its state dict weights.

    torch's TorchScript-based exporter is used, with the batch, y and x axes dynamic.
    (bioimageio.core's converter uses torch's newer exporter, which fixes the input size
    to the test input's for these networks: the package then fails its own test at the
    other legal sizes.)
    """
    import torch
    from bioimageio.spec.model import v0_5 as s

    path = folder / "weights.onnx"
    net, x = _net_and_test_input(descr)
    axes = {0: "batch", 2: "y", 3: "x"}
    with quiet(), torch.no_grad():
        torch.onnx.export(
            net.eval(), (x,), str(path), dynamo=False, opset_version=ONNX_OPSET,
            input_names=["input"], output_names=["probabilities"],
            dynamic_axes={"input": axes, "probabilities": axes},
        )  # fmt: skip
    entry = s.OnnxWeightsDescr(
        source=path, parent="pytorch_state_dict", opset_version=ONNX_OPSET,
        comment="exported by napari-unet (torch.onnx, eval mode) from pytorch_state_dict",
    )  # fmt: skip
    weights = descr.weights.model_copy(update={"onnx": entry})
    return descr.model_copy(update={"weights": weights})


def quiet():
    """Silence the tracer's warnings and bioimageio's log while packaging."""
    import contextlib
    import warnings

    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack
