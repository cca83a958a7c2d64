"""UNet++ (Zhou et al. 2018): nested, dense skip pathways and deep supervision."""

from __future__ import annotations

import torch
from torch import nn

from napari_unet.core.errors import InputError, check_int
from napari_unet.core.models.blocks import ConvBlock, SegmentationNet, he_init
from napari_unet.core.models.geometry import TileGeometry


class UNetPlusPlus(SegmentationNet):
    """UNet++: the U-Net's skip connections replaced by nested dense convolution blocks.

    Node ``X[i, j]`` (level ``i``, column ``j``) sees all earlier nodes of its level
    ``X[i, 0..j-1]`` and the 2x2 up-convolved node ``X[i+1, j-1]`` below; ``X[i, 0]`` is the
    encoder. Every node is two padded 3x3 convolutions (+ batch norm) + ReLU, so the output
    has the input's size (height and width must be multiples of ``2 ** (depth - 1)``).

    Parameters
    ----------
    in_channels, n_classes, base_channels, depth
        As for :class:`~napari_unet.core.models.UNet` (the UNet++ paper uses base 32).
    batch_norm : bool
        Batch normalisation after each convolution.
    dropout : float
        Dropout probability on the bottom node ``X[depth-1, 0]``.
    deep_supervision : bool
        Put a 1x1 head on every top node ``X[0, 1..depth-1]``; :meth:`forward_all` then
        returns all their outputs (the full network's last) for a summed loss.
    inference_output : "final", "mean" or int
        What :meth:`forward` returns with deep supervision: ``"final"`` the deepest head,
        ``"mean"`` the mean of all heads' logits (the paper's accurate mode), or ``j`` in
        ``1..depth-1`` the head of ``X[0, j]``, computing only the sub-network it needs (the
        paper's pruned fast mode). Without deep supervision only ``"final"`` is allowed.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 2,
        base_channels: int = 32,
        depth: int = 5,
        batch_norm: bool = True,
        dropout: float = 0.0,
        deep_supervision: bool = False,
        inference_output: str | int = "final",
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("n_classes", n_classes)
        check_int("base_channels", base_channels)
        check_int("depth", depth, low=2)
        if not 0.0 <= float(dropout) < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        top = depth - 1
        if inference_output not in ("final", "mean") and not (
            isinstance(inference_output, int) and 1 <= inference_output <= top
        ):
            raise InputError(
                f"inference_output must be 'final', 'mean' or a column 1..{top}; "
                f"got {inference_output!r}"
            )
        if inference_output != "final" and not deep_supervision:
            raise InputError(
                f"inference_output={inference_output!r} selects a deep-supervision head; "
                "set deep_supervision=True (or use 'final')"
            )
        self.in_channels, self.n_classes, self.depth = in_channels, n_classes, depth
        self.deep_supervision = bool(deep_supervision)
        self.inference_output = inference_output
        self.config = {
            "arch": "unetpp",
            "in_channels": in_channels,
            "n_classes": n_classes,
            "base_channels": base_channels,
            "depth": depth,
            "batch_norm": bool(batch_norm),
            "dropout": float(dropout),
            "deep_supervision": self.deep_supervision,
            "inference_output": inference_output,
        }
        self.geometry = TileGeometry(n_pools=top, padding="same")
        widths = [base_channels * 2**i for i in range(depth)]
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        for i in range(depth):
            c_in = in_channels if i == 0 else widths[i - 1]
            self.nodes[f"{i}_0"] = ConvBlock(c_in, widths[i], "same", batch_norm)
        for j in range(1, depth):
            for i in range(depth - j):
                self.ups[f"{i}_{j}"] = nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                self.nodes[f"{i}_{j}"] = ConvBlock(
                    (j + 1) * widths[i], widths[i], "same", batch_norm
                )
        cols = range(1, depth) if self.deep_supervision else [top]
        self.heads = nn.ModuleDict({str(j): nn.Conv2d(widths[0], n_classes, 1) for j in cols})
        he_init(self)

    def _top_nodes(self, x: torch.Tensor, last: int) -> list[torch.Tensor]:
        """Compute the sub-network up to column ``last``; return ``X[0, 1..last]``."""
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(last + 1):
            x = self.nodes[f"{i}_0"](x if i == 0 else self.pool(x))
            nodes[i, 0] = self.dropout(x) if i == self.depth - 1 else x
        for j in range(1, last + 1):
            for i in range(last + 1 - j):
                up = self.ups[f"{i}_{j}"](nodes[i + 1, j - 1])
                inputs = [nodes[i, k] for k in range(j)] + [up]
                nodes[i, j] = self.nodes[f"{i}_{j}"](torch.cat(inputs, dim=1))
        return [nodes[0, j] for j in range(1, last + 1)]

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logits of every supervised head (top nodes left to right; the full network last)."""
        self.check_input(x)
        top = self._top_nodes(x, self.depth - 1)
        return [self.heads[str(j)](top[j - 1]) for j in map(int, self.heads)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes, H, W) of the output chosen by ``inference_output``."""
        if self.inference_output == "mean":
            return torch.stack(self.forward_all(x)).mean(dim=0)
        self.check_input(x)
        j = self.depth - 1 if self.inference_output == "final" else int(self.inference_output)
        return self.heads[str(j)](self._top_nodes(x, j)[-1])
