"""bioimage.io packages of "another tool", built in the tests (no network, no napari-unet code).

The network is a tiny two-convolution net from its own source file (not napari-unet's), the
package normalises with the spec's ``zero_mean_unit_variance`` and applies a ``sigmoid`` as
its postprocessing; the test output is computed here with plain torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

#: The other tool's architecture: two 3x3 convolutions (receptive radius 2 px).
ARCH = '''"""A tiny network of another tool (torch only)."""
import torch


class TinyNet(torch.nn.Module):
    def __init__(self, width: int = 4, in_channels: int = 1):
        super().__init__()
        self.a = torch.nn.Conv2d(in_channels, width, 3, padding=1)
        self.b = torch.nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))
'''
HALO = 4
EPS = 1e-6


def tiny_net(width: int = 4, in_channels: int = 1, seed: int = 0):
    """The network as the other tool would build it (from the ARCH source)."""
    scope: dict = {}
    exec(compile(ARCH, "tiny_net.py", "exec"), scope)  # noqa: S102 - our own test source
    torch.manual_seed(seed)
    return scope["TinyNet"](width, in_channels).eval()


def normalised(x: np.ndarray) -> np.ndarray:
    """zero_mean_unit_variance over y and x of a ``(C, H, W)`` array, per channel."""
    x = x.astype(np.float32)
    mean = x.mean(axis=(-2, -1), keepdims=True)
    std = x.std(axis=(-2, -1), keepdims=True)
    return (x - mean) / (std + EPS)


def reference(net, image: np.ndarray, halo: int = HALO) -> np.ndarray:
    """sigmoid(net(normalised image)) in plain torch, the image padded as blocks are.

    Blocked prediction normalises the whole image, pads it by the halo (mirrored,
    ``symmetric``) and crops the halo off every block: with a halo at least the network's
    receptive radius, that is the network run once on the padded image.
    """
    x = normalised(image[None] if image.ndim == 2 else image)
    padded = np.pad(x, ((0, 0), (halo, halo), (halo, halo)), mode="symmetric")
    with torch.no_grad():
        y = torch.sigmoid(net(torch.from_numpy(padded)[None]))[0].numpy()
    return y[:, halo:-halo, halo:-halo]


def build(folder: Path, image: np.ndarray, *, formats=("pytorch_state_dict",),
          labels: bool = False, name: str = "other tool tiny net") -> Path:  # fmt: skip
    """Write the package ``folder/NAME.zip``; ``formats`` of pytorch_state_dict, torchscript.

    ``labels``: the (torchscript) network thresholds its output into an int32 mask, which
    the package declares as labels (no sigmoid postprocessing).
    """
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as s

    folder.mkdir(parents=True, exist_ok=True)
    net = tiny_net()
    x = image.astype(np.float32)[None, None]
    with torch.no_grad():
        logits = net(torch.from_numpy(normalised(x[0]))[None])
    y = (logits > 0).to(torch.int32) if labels else torch.sigmoid(logits)
    np.save(folder / "test_input.npy", x)
    np.save(folder / "test_output.npy", y.numpy())
    (folder / "tiny_net.py").write_text(ARCH, encoding="utf-8")
    (folder / "README.md").write_text("# Tiny net\n\nA test package.\n", encoding="utf-8")
    weights = {}
    version = s.Version(torch.__version__.split("+")[0])
    if "pytorch_state_dict" in formats:
        torch.save(net.state_dict(), folder / "weights.pt")
        arch = s.ArchitectureFromFileDescr(
            source=folder / "tiny_net.py", callable="TinyNet", kwargs={"width": 4}
        )
        weights["pytorch_state_dict"] = s.PytorchStateDictWeightsDescr(
            source=folder / "weights.pt", architecture=arch, pytorch_version=version
        )
    if "torchscript" in formats:
        traced = torch.jit.trace(_Thresholded(net) if labels else net, torch.from_numpy(x))
        traced.save(str(folder / "weights_torchscript.pt"))
        weights["torchscript"] = s.TorchscriptWeightsDescr(
            source=folder / "weights_torchscript.pt", pytorch_version=version
        )
    size = s.ParameterizedSize(min=16, step=8)

    def space(axis):
        ref = s.SizeReference(tensor_id=s.TensorId("raw"), axis_id=s.AxisId(axis))
        return s.SpaceOutputAxisWithHalo(id=s.AxisId(axis), size=ref, halo=HALO)

    inp = s.InputTensorDescr(
        id=s.TensorId("raw"),
        axes=[s.BatchAxis(), s.ChannelAxis(channel_names=[s.Identifier("raw")]),
              s.SpaceInputAxis(id=s.AxisId("y"), size=size),
              s.SpaceInputAxis(id=s.AxisId("x"), size=size)],
        test_tensor=s.FileDescr(source=folder / "test_input.npy"),
        preprocessing=[s.EnsureDtypeDescr(kwargs=s.EnsureDtypeKwargs(dtype="float32")),
                       s.ZeroMeanUnitVarianceDescr(kwargs=s.ZeroMeanUnitVarianceKwargs(
                           axes=[s.AxisId("y"), s.AxisId("x")], eps=EPS))],
    )  # fmt: skip
    data = (
        s.NominalOrOrdinalDataDescr(values=[0, 1], type="int32")
        if labels
        else s.IntervalOrRatioDataDescr(type="float32")
    )
    out = s.OutputTensorDescr(
        id=s.TensorId("mask" if labels else "foreground"),
        axes=[s.BatchAxis(), s.ChannelAxis(channel_names=[s.Identifier("cells")]),
              space("y"), space("x")],
        test_tensor=s.FileDescr(source=folder / "test_output.npy"),
        data=data,
        postprocessing=[] if labels else [s.SigmoidDescr()],
    )  # fmt: skip
    descr = s.ModelDescr(
        name=name,
        description="a two-layer test network of another tool",
        authors=[s.Author(name="Another Tool")],
        cite=[s.CiteEntry(text="Another tool", doi=s.Doi("10.1038/s41592-019-0612-7"))],
        license=s.LicenseId("CC0-1.0"),
        documentation=s.FileDescr(source=folder / "README.md"),
        inputs=[inp],
        outputs=[out],
        weights=s.WeightsDescr(**weights),
    )
    return save_bioimageio_package(descr, output_path=folder / f"{folder.name}.zip")


class _Thresholded(torch.nn.Module):
    """The network's logits thresholded at 0 into an int32 mask (a labels output)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return (self.net(x) > 0).to(torch.int32)
