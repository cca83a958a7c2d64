"""Building blocks shared by the U-Net family (torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from napari_unet.core.errors import InputError
from napari_unet.core.models.geometry import TileGeometry


class ConvBlock(nn.Sequential):
    """``n_convs`` times: 3x3 convolution, optional batch norm, ReLU.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    padding : {"valid", "same"}
        Unpadded (each conv trims one pixel each side) or zero-padded convolutions.
    batch_norm : bool
        Insert ``BatchNorm2d`` after each convolution (the convolution then has no bias).
    n_convs : int
        Number of convolutions (2 in the paper).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        padding: str = "valid",
        batch_norm: bool = False,
        n_convs: int = 2,
    ) -> None:
        layers: list[nn.Module] = []
        pad = 1 if padding == "same" else 0
        for i in range(n_convs):
            c_in = in_channels if i == 0 else out_channels
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the centre ``height x width`` of an (N, C, H, W) tensor ("copy and crop")."""
    dh = (x.shape[-2] - height) // 2
    dw = (x.shape[-1] - width) // 2
    return x[..., dh : dh + height, dw : dw + width]


def he_init(module: nn.Module) -> None:
    """He initialisation as in the paper: normal with std ``sqrt(2 / N)``.

    ``N`` is the number of incoming nodes of one output unit: ``in_channels * k * k`` for a
    convolution and ``in_channels * (k / stride) ** 2`` for a transposed convolution (one
    input pixel per output pixel for the 2x2, stride-2 up-convolution). Biases start at zero;
    batch-norm layers at weight 1, bias 0. Weights on the ``meta`` device (a network built
    only for its shapes) are left alone: they hold no values, and a random fill there imports
    ``torch._dynamo`` (1-5 s on first use, on the GUI thread when a dock loads a model).
    """
    for m in module.modules():
        if getattr(getattr(m, "weight", None), "is_meta", False):
            continue
        if isinstance(m, nn.ConvTranspose2d):
            kh, kw = m.kernel_size
            sh, sw = m.stride
            fan_in = m.in_channels * max(1, (kh // sh) * (kw // sw))
        elif isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            fan_in = m.in_channels // m.groups * kh * kw
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            continue
        else:
            continue
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class SegmentationNet(nn.Module):
    """Common interface of the family: ``config``, ``geometry``, ``forward_all``, checks.

    Subclasses set ``self.config`` (JSON-able, with ``"arch"``), ``self.in_channels``,
    ``self.n_classes`` and ``self.geometry``, and implement :meth:`forward_all`.
    """

    config: dict
    in_channels: int
    n_classes: int
    geometry: TileGeometry

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputError` unless ``x`` is (N, in_channels, H, W) with legal H, W."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"{type(self).__name__} expects a float tensor (N, {self.in_channels}, H, W); "
                f"got shape {tuple(x.shape)}"
            )
        self.geometry.output_shape(tuple(x.shape[-2:]))  # raises IllegalTileSize

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All supervised outputs, the final one last (just ``[forward(x)]`` by default)."""
        return [self.forward(x)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes, H_out, W_out) of the final output."""
        return self.forward_all(x)[-1]

    def extra_repr(self) -> str:
        """The config, shown by ``print(model)``."""
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "arch")
