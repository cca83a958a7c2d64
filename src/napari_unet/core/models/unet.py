"""The U-Net of Ronneberger, Fischer and Brox (2015), with modern options."""

from __future__ import annotations

import torch
from torch import nn

from napari_unet.core.errors import InputError, check_int
from napari_unet.core.models.blocks import (
    ConvBlock,
    SegmentationNet,
    center_crop,
    he_init,
)
from napari_unet.core.models.geometry import PADDINGS, TileGeometry


class UNet(SegmentationNet):
    """The paper's U-Net: contracting path, expanding path, crop-and-concatenate skips.

    Each level has two 3x3 convolutions + ReLU; 2x2 max-pooling (stride 2) between levels
    doubles the channels on the way down; a 2x2 up-convolution halves them on the way up,
    then the matching contracting feature map is centre-cropped and concatenated; a 1x1
    convolution maps to the classes. With the defaults (1 input channel, 2 classes, 64 base
    channels, 5 levels, valid padding, no batch norm) this is exactly the paper's network:
    23 convolutions, 31,030,658 parameters, a 572x572 tile maps to 388x388.

    Parameters
    ----------
    in_channels : int
        Image channels.
    n_classes : int
        Output classes (logits; apply softmax for probabilities).
    base_channels : int
        Channels of the first level (64 in the paper); level ``i`` has ``base * 2**i``.
    depth : int
        Number of levels (5 in the paper = 4 poolings).
    padding : {"valid", "same"}
        ``"valid"``: unpadded convolutions as in the paper (output smaller than input, see
        :attr:`geometry`); ``"same"``: zero-padded, output size equals input size.
    batch_norm : bool
        Batch normalisation after each convolution (not in the paper).
    dropout : float
        Dropout probability at the end of the contracting path (the paper uses dropout
        there; 0 disables it).
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 2,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("n_classes", n_classes)
        check_int("base_channels", base_channels)
        check_int("depth", depth)
        if padding not in PADDINGS:
            raise InputError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = in_channels
        self.n_classes = n_classes
        self.config = {
            "arch": "unet",
            "in_channels": in_channels,
            "n_classes": n_classes,
            "base_channels": base_channels,
            "depth": depth,
            "padding": padding,
            "batch_norm": bool(batch_norm),
            "dropout": float(dropout),
        }
        self.geometry = TileGeometry(n_pools=depth - 1, padding=padding)
        widths = [base_channels * 2**i for i in range(depth)]
        self.encoder = nn.ModuleList()
        c_in = in_channels
        for w in widths:
            self.encoder.append(ConvBlock(c_in, w, padding, batch_norm))
            c_in = w
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for w_low, w in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.up.append(nn.ConvTranspose2d(w_low, w, kernel_size=2, stride=2))
            self.decoder.append(ConvBlock(2 * w, w, padding, batch_norm))
        self.head = nn.Conv2d(widths[0], n_classes, kernel_size=1)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes, H_out, W_out); H_out = ``geometry.output_size(H)``."""
        self.check_input(x)
        skips = []
        for i, block in enumerate(self.encoder):
            if i > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        x = self.dropout(skips.pop())
        for up, block in zip(self.up, self.decoder, strict=True):
            x = up(x)
            skip = center_crop(skips.pop(), x.shape[-2], x.shape[-1])
            x = block(torch.cat([skip, x], dim=1))
        return self.head(x)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[forward(x)]``: the U-Net has no deep supervision."""
        return [self.forward(x)]
