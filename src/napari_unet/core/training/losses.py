"""Training losses: weighted softmax cross entropy, optional Dice, the distance head's term.

The paper's pixel-wise cross entropy weighted by the weight map is the loss of every head's
classes; the ``distance`` head adds a regression term for its distance channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Pixel-wise softmax cross entropy weighted by the U-Net weight map (paper, eq. 1).

    Parameters
    ----------
    logits : torch.Tensor
        ``(N, K, H, W)`` network output.
    target : torch.Tensor
        ``(N, H, W)`` integer classes.
    weights : torch.Tensor
        ``(N, H, W)`` weight map; 0 ignores a pixel (outside the annotated region).

    Returns
    -------
    torch.Tensor
        ``sum(w * ce) / number of pixels with w > 0`` (0 when no pixel is annotated), so the
        loss scale does not depend on how much of a crop was annotated.
    """
    ce = F.cross_entropy(logits.float(), target.long(), reduction="none")
    n = (weights > 0).sum().clamp_min(1)
    return (ce * weights).sum() / n


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, eps: float = 1.0
) -> torch.Tensor:
    """``1 - soft Dice`` of the foreground classes, over annotated pixels (w > 0) only."""
    probs = torch.softmax(logits.float(), dim=1)
    k = probs.shape[1]
    onehot = F.one_hot(target.long(), k).permute(0, 3, 1, 2).to(probs.dtype)
    m = (weights > 0).to(probs.dtype)[:, None]
    probs, onehot = probs[:, 1:] * m, onehot[:, 1:] * m
    inter = (probs * onehot).sum(dim=(0, 2, 3))
    denom = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    return 1 - ((2 * inter + eps) / (denom + eps)).mean()


def segmentation_loss(
    outputs: torch.Tensor | list[torch.Tensor],
    target: torch.Tensor,
    weights: torch.Tensor,
    dice_weight: float = 0.0,
) -> torch.Tensor:
    """Weighted cross entropy (+ ``dice_weight`` x Dice), averaged over deep-supervision outputs.

    Parameters
    ----------
    outputs : torch.Tensor or list of torch.Tensor
        Logits, or the list from ``forward_all`` (each the target's size).
    target, weights : torch.Tensor
        As for :func:`weighted_cross_entropy`.
    dice_weight : float
        Weight of the Dice term (0 = the paper's loss alone).
    """
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    total = outputs[0].new_zeros((), dtype=torch.float32)
    for logits in outputs:
        loss = weighted_cross_entropy(logits, target, weights)
        if dice_weight > 0:
            loss = loss + dice_weight * soft_dice_loss(logits, target, weights)
        total = total + loss
    return total / len(outputs)


def distance_loss(logits: torch.Tensor, extra: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Binary cross entropy of the sigmoid distance channel against the normalised distance.

    Over annotated pixels (``weights > 0``), unweighted by the weight map: the map is about
    the classes; the distance matters as much in a cell's centre as at its border.
    """
    m = (weights > 0).to(torch.float32)
    bce = F.binary_cross_entropy_with_logits(logits.float(), extra.float(), reduction="none")
    return (bce * m).sum() / m.sum().clamp_min(1)


def head_loss(
    outputs: torch.Tensor | list[torch.Tensor],
    target: torch.Tensor,
    weights: torch.Tensor,
    extra: torch.Tensor | None = None,
    dice_weight: float = 0.0,
    head: str = "paper",
) -> torch.Tensor:
    """The loss of ``head``: :func:`segmentation_loss` on its classes, plus the distance term.

    ``paper`` and ``3class``: the weighted cross entropy over all channels. ``distance``: the
    cross entropy over channels 0-1 plus :func:`distance_loss` on channel 2 (``extra`` is its
    target), averaged over deep-supervision outputs like the classes.
    """
    if head != "distance":
        return segmentation_loss(outputs, target, weights, dice_weight)
    if extra is None:
        raise ValueError("the distance head needs its regression target (extra)")
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    classes = [o[:, :2] for o in outputs]
    total = segmentation_loss(classes, target, weights, dice_weight)
    for o in outputs:
        total = total + distance_loss(o[:, 2], extra, weights) / len(outputs)
    return total
