import pytest

torch = pytest.importorskip("torch")

from napari_unet.core.training.losses import (  # noqa: E402
    segmentation_loss,
    soft_dice_loss,
    weighted_cross_entropy,
)


def test_weighted_ce_matches_torch_and_ignores_zero_weight():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    target = torch.randint(0, 3, (2, 8, 8), generator=g)
    weights = torch.ones(2, 8, 8)
    ref = torch.nn.functional.cross_entropy(logits, target)
    assert torch.allclose(weighted_cross_entropy(logits, target, weights), ref, atol=1e-6)
    # pixels of weight 0 do not count at all: changing their target changes nothing
    weights[:, :4] = 0
    a = weighted_cross_entropy(logits, target, weights)
    target2 = target.clone()
    target2[:, :4] = (target2[:, :4] + 1) % 3
    assert torch.allclose(a, weighted_cross_entropy(logits, target2, weights))
    # and their gradient is zero
    lg = logits.clone().requires_grad_(True)
    weighted_cross_entropy(lg, target, weights).backward()
    assert lg.grad[:, :, :4].abs().max() == 0
    assert lg.grad[:, :, 4:].abs().max() > 0


def test_weights_scale_the_pixel_contribution():
    logits = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    w = torch.tensor([[[1.0, 10.0]]])
    # both pixels have ce = log 2; weighted sum / 2 annotated pixels
    expected = (1 + 10) * torch.log(torch.tensor(2.0)) / 2
    assert torch.allclose(weighted_cross_entropy(logits, target, w), expected)


def test_no_annotated_pixel_gives_zero_loss():
    logits = torch.randn(1, 2, 4, 4)
    assert (
        weighted_cross_entropy(logits, torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4))
        == 0
    )


def test_dice_is_zero_for_perfect_and_high_for_wrong():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    w = torch.ones(1, 8, 8)
    perfect = torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).float() * 50
    wrong = torch.nn.functional.one_hot(1 - target, 2).permute(0, 3, 1, 2).float() * 50
    assert soft_dice_loss(perfect, target, w) < 0.05
    assert soft_dice_loss(wrong, target, w) > 0.9
    both = segmentation_loss([perfect, wrong], target, w, dice_weight=1.0)
    single = segmentation_loss(wrong, target, w, dice_weight=1.0)
    assert 0 < both < single
