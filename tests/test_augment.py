import math

import torch

from augment_reference import cutmix

from dra.nets.augment import cutmix_box, rotate


def test_cutmix_box_area_and_aspect_in_bounds():
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        ph, pw = cutmix_box(gen, 224, 224)
        area = ph * pw / 224**2
        assert 0.015 <= area <= 0.16  # rounding of the side lengths
        assert 0.28 <= ph / pw <= 1 / 0.28


def test_cutmix_changes_only_the_pasted_region():
    gen = torch.Generator().manual_seed(1)
    img = torch.rand(3, 64, 64)
    for _ in range(50):
        out, (ty, tx, ph, pw) = cutmix(img, gen)
        outside = torch.ones(64, 64, dtype=torch.bool)
        outside[ty:ty + ph, tx:tx + pw] = False
        assert torch.equal(out[:, outside], img[:, outside])


def test_rotation_identity_and_quarter_turn():
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(rotate(x, torch.zeros(2)), x)
    quarter = rotate(x, torch.full((2,), 90.0))
    # a quarter turn keeps the pixels of the central region, permuted like rot90
    assert torch.allclose(quarter, torch.rot90(x, k=1, dims=(-2, -1))) or \
        torch.allclose(quarter, torch.rot90(x, k=-1, dims=(-2, -1)))


def test_rotation_fills_corners_with_black():
    x = torch.ones(1, 3, 32, 32)
    out = rotate(x, torch.tensor([45.0]))
    assert out[0, :, 0, 0].sum() == 0 and out[0, :, 16, 16].sum() == 3
    assert math.isclose(out.mean().item(), 1.0, abs_tol=0.5)
