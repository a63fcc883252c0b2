"""What a run records when part of its metrics cannot be computed: the pixel metrics of a test set
whose masks hold no defect pixel (or no defect-free one) are absent with the reason, and the image
metrics stand (issue 21, item 15)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from dra.run.train import localisation


def test_masks_without_a_defect_pixel_leave_pixel_metrics_absent_with_the_reason():
    maps = {"metric": np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)}
    model = SimpleNamespace(HAS_MAP=True)
    spec = {"method": "dra"}
    empty = SimpleNamespace(test_masks=np.zeros((4, 8, 8), dtype=bool))
    out = localisation(maps, empty, model, spec)
    assert out["pixel_auroc"] is None and out["aupro"] is None and "no defect pixel" in out["no_pixel_metrics"]
    full = SimpleNamespace(test_masks=np.ones((4, 8, 8), dtype=bool))
    assert "no defect-free pixel" in localisation(maps, full, model, spec)["no_pixel_metrics"]
    some = np.zeros((4, 8, 8), dtype=bool)
    some[2, 2:5, 2:5] = True
    got = localisation(maps, SimpleNamespace(test_masks=some), model, spec)
    assert 0 <= got["pixel_auroc"] <= 1 and 0 <= got["aupro"] <= 1
    assert "no_map" in localisation(maps, SimpleNamespace(test_masks=some), SimpleNamespace(HAS_MAP=False), spec)
    assert localisation({}, SimpleNamespace(test_masks=None), model, spec) == {"pixel_auroc": None, "aupro": None}
