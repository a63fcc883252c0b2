import math

import torch

from dra.nets.losses import bce_loss, deviation_loss, focal_loss


def test_deviation_loss_matches_hand_computation():
    score = torch.tensor([0.5, 6.0, 1.0])
    target = torch.tensor([0, 1, 1])
    gen = torch.Generator().manual_seed(3)
    r = torch.randn(5000, generator=torch.Generator().manual_seed(3))
    mu, sd = r.mean().item(), r.std().item()
    dev = [(s - mu) / sd for s in (0.5, 6.0, 1.0)]
    expected = (abs(dev[0]) + max(0.0, 5 - dev[1]) + max(0.0, 5 - dev[2])) / 3
    assert math.isclose(deviation_loss(score, target, gen).item(), expected, rel_tol=1e-5)


def test_deviation_loss_is_zero_for_perfect_scores():
    # normals at the reference mean and anomalies far beyond the margin pay (almost) nothing
    gen = torch.Generator().manual_seed(0)
    loss = deviation_loss(torch.tensor([0.0, 50.0]), torch.tensor([0, 1]), gen)
    assert loss.item() < 0.05


def test_focal_equals_bce_scaled():
    s, t = torch.tensor([2.0, -1.0]), torch.tensor([1, 0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(s, t.float(), reduction="none")
    expected = ((1 - torch.exp(-bce)) ** 2 * bce).mean()
    assert torch.isclose(focal_loss(s, t), expected)
    assert torch.isclose(bce_loss(s, t), bce.mean())
