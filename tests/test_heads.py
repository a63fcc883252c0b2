import torch

from dra.methods.dra import head_targets
from dra.nets.heads import CompositeHead, NormalityHead, TopKClassifier, TopKHead, topk_count


def test_topk_sizes():
    assert topk_count(14, 14) == 19
    assert topk_count(7, 7) == 4
    assert topk_count(2, 2) == 1  # never zero


def test_topk_head_takes_mean_of_largest_absolute_positions():
    head = TopKHead(2)
    with torch.no_grad():
        head.conv.weight.zero_()
        head.conv.weight[0, 0] = 1.0
        head.conv.bias.zero_()
    feat = torch.zeros(1, 2, 7, 7)
    feat[0, 0].view(-1)[:4] = torch.tensor([-8.0, 6.0, 4.0, 2.0])  # K = 4 at 7x7; abs before top-K
    assert torch.allclose(head(feat), torch.tensor([5.0]))


def test_head_output_shapes():
    feat = torch.randn(6, 512, 7, 7)
    assert TopKHead()(feat).shape == (6,)
    assert CompositeHead()(feat, feat[:2].mean(0)).shape == (6,)
    assert NormalityHead()(feat).shape == (6,)
    assert TopKClassifier(classes=3)(feat).shape == (6, 3)
    assert (NormalityHead()(feat) >= 0).all()


def test_routing_for_labels_0_1_2():
    labels = torch.tensor([0, 1, 2, 0, 2, 1])
    t = head_targets(labels)
    mask, target = t["seen"]
    assert mask.tolist() == [True, True, False, True, False, True]
    assert target[mask].tolist() == [False, True, False, True]
    mask, target = t["pseudo"]
    assert mask.tolist() == [True, False, True, True, True, False]
    assert target[mask].tolist() == [False, True, False, True]
    mask, target = t["composite"]
    assert mask.all() and target.tolist() == [False, True, True, False, True, True]
    mask, target = t["normal"]
    assert mask.all() and target.tolist() == [True, False, False, True, False, False]
