"""UNet 3+ (Huang et al. 2020): full-scale skip connections and deep supervision."""

from __future__ import annotations

import torch
from torch import nn

from napari_unet.core.errors import InputError, check_int
from napari_unet.core.models.blocks import ConvBlock, SegmentationNet, he_init
from napari_unet.core.models.geometry import TileGeometry

#: Logit given to non-background classes where the classification-guided module says "empty".
_SUPPRESSED = -20.0


def _conv_bn_relu(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def unet3p_rf_radius(depth: int) -> int:
    """Theoretical receptive-field radius (input pixels) of :class:`UNet3Plus`: ``8 * 2**n - 5``.

    ``n = depth - 1`` poolings. The U-Net's radius is ``7 * 2**n - 5``; the bilinear
    up-sampling of coarse decoder maps and the 3x3 convolutions applied after it widen the
    field by another ``2**n``. Measured exactly on real networks in the tests (all pixel
    phases, depths 2-5).
    """
    return 8 * 2 ** (depth - 1) - 5


class UNet3Plus(SegmentationNet):
    """UNet 3+: every decoder stage fuses all encoder and all coarser decoder scales.

    Decoder stage ``i`` receives the encoder maps of finer levels max-pooled down to its
    scale, the encoder map of its own level, and the coarser decoder maps (the bottom
    encoder map for the coarsest) bilinearly up-sampled; each of the ``depth`` inputs goes
    through a 3x3 conv to ``base_channels`` channels, and the concatenation (``depth *
    base_channels`` channels: 5 x 64 = 320 by default) through a 3x3 conv + BN + ReLU. All
    convolutions are padded: the output has the input's size (height and width must be
    multiples of ``2 ** (depth - 1)``).

    Parameters
    ----------
    in_channels, n_classes, base_channels, depth
        As for :class:`~napari_unet.core.models.UNet`; the encoder has ``base * 2**i``
        channels at level ``i`` and each skip ``base_channels``.
    batch_norm : bool
        Batch normalisation after each convolution (used in the paper).
    dropout : float
        Dropout probability on the bottom encoder map.
    deep_supervision : bool
        Add a 3x3-conv head to every decoder stage and to the bottom, up-sampled to full
        size; :meth:`forward_all` returns them coarsest first, the final output last.
    cgm : bool
        Classification-guided module: a dropout + 1x1 conv + global max-pool classifier on
        the bottom map predicting whether the image holds any foreground. Its logits
        (N, 2) are kept in ``self.cls_logits`` after every forward, for the trainer to add
        a cross-entropy against "target has foreground". In eval mode the segmentation of
        images classified empty is suppressed (background logit 0, others -20); the paper
        multiplies by the 0/1 decision, which would leave a uniform softmax instead.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 2,
        base_channels: int = 64,
        depth: int = 5,
        batch_norm: bool = True,
        dropout: float = 0.0,
        deep_supervision: bool = False,
        cgm: bool = False,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("n_classes", n_classes)
        check_int("base_channels", base_channels)
        check_int("depth", depth, low=2)
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels, self.n_classes, self.depth = in_channels, n_classes, depth
        self.deep_supervision, self.cgm = bool(deep_supervision), bool(cgm)
        self.config = {
            "arch": "unet3p",
            "in_channels": in_channels,
            "n_classes": n_classes,
            "base_channels": base_channels,
            "depth": depth,
            "batch_norm": bool(batch_norm),
            "dropout": float(dropout),
            "deep_supervision": self.deep_supervision,
            "cgm": self.cgm,
        }
        n = depth - 1
        self.geometry = TileGeometry(n_pools=n, padding="same", rf_radius=unet3p_rf_radius(depth))
        widths = [base_channels * 2**i for i in range(depth)]
        fused = base_channels * depth
        self.encoder = nn.ModuleList(
            ConvBlock(in_channels if i == 0 else widths[i - 1], widths[i], "same", batch_norm)
            for i in range(depth)
        )
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        # skips[i][k]: the conv bringing source level k to decoder stage i (i = 0..n-1).
        # Sources k <= i are encoder maps; k > i are decoder maps (the bottom encoder for k = n).
        self.skips = nn.ModuleList()
        for i in range(n):
            convs = nn.ModuleList()
            for k in range(depth):
                c_src = widths[k] if k <= i or k == n else fused
                convs.append(_conv_bn_relu(c_src, base_channels, batch_norm))
            self.skips.append(convs)
        self.fuse = nn.ModuleList(_conv_bn_relu(fused, fused, batch_norm) for _ in range(n))
        self.head = nn.Conv2d(fused, n_classes, 3, padding=1)
        if self.deep_supervision:  # heads for stages 1..n-1 (decoder) and n (bottom)
            self.aux_heads = nn.ModuleList(
                nn.Conv2d(widths[n] if i == n else fused, n_classes, 3, padding=1)
                for i in range(1, n + 1)
            )
        if self.cgm:
            self.classifier = nn.Sequential(
                nn.Dropout(0.5), nn.Conv2d(widths[n], 2, 1), nn.AdaptiveMaxPool2d(1), nn.Flatten()
            )
        self.cls_logits: torch.Tensor | None = None
        he_init(self)

    @staticmethod
    def _resize(x: torch.Tensor, factor: int) -> torch.Tensor:
        """Max-pool by ``factor`` (> 1), bilinear up-sample by ``1 / factor`` (< 1), or keep."""
        if factor > 1:
            return nn.functional.max_pool2d(x, factor, factor)
        if factor < 1:
            scale = round(1 / factor)
            return nn.functional.interpolate(
                x, scale_factor=scale, mode="bilinear", align_corners=False
            )
        return x

    def _decode(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """Run encoder and decoder; return the decoder maps by level and the bottom map."""
        self.check_input(x)
        n = self.depth - 1
        enc = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            enc.append(x)
        enc[n] = self.dropout(enc[n])
        dec: dict[int, torch.Tensor] = {n: enc[n]}
        for i in range(n - 1, -1, -1):
            parts = []
            for k in range(self.depth):
                src = enc[k] if k <= i else dec[k]
                factor = 2 ** (i - k) if k <= i else 1 / 2 ** (k - i)
                parts.append(self.skips[i][k](self._resize(src, factor)))
            dec[i] = self.fuse[i](torch.cat(parts, dim=1))
        return dec, enc[n]

    def _finish(self, outputs: list[torch.Tensor], bottom: torch.Tensor) -> list[torch.Tensor]:
        if self.cgm:
            self.cls_logits = self.classifier(bottom)
            if not self.training:
                outputs = [self._suppress_empty(o, self.cls_logits) for o in outputs]
        return outputs

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every supervised output, coarsest first; the final output last."""
        dec, bottom = self._decode(x)
        outputs = []
        if self.deep_supervision:
            for i in range(self.depth - 1, 0, -1):
                out = self.aux_heads[i - 1](dec[i])
                outputs.append(self._resize(out, 1 / 2**i))
        outputs.append(self.head(dec[0]))
        return self._finish(outputs, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes, H, W) of the final output (no deep-supervision heads run)."""
        dec, bottom = self._decode(x)
        return self._finish([self.head(dec[0])], bottom)[0]

    def _suppress_empty(self, logits: torch.Tensor, cls_logits: torch.Tensor) -> torch.Tensor:
        empty = (cls_logits.argmax(dim=1) == 0).view(-1, 1, 1, 1)
        floor = torch.full_like(logits, _SUPPRESSED)
        if self.n_classes > 1:
            floor[:, 0] = 0.0
        return torch.where(empty, floor, logits)
