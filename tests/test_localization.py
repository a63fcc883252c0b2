"""Localisation: the masks each dataset ships reach the right images, the methods' maps point at the
defect, and the pixel metrics follow their definitions (dra.pixel_metrics has the hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from sklearn.metrics import roc_auc_score

import rawlayouts as rl
from dra.data.cache import ImageCache, build_cache
from dra.data.manifest import read_manifest
from dra.data.prepare import prepare_subset
from dra.errors import DraError
from dra.run.localization import masks_at, pixel_metrics
from dra.pixel_metrics import pixel_auroc
from dra.methods.rundata import ImagePool, RunData
from dra.data.synth import generate
from dra.run.trainer import Trainer
from methods_fixtures import tiny_spec


def mask_of(manifest, name):
    df = read_manifest(manifest)
    row = df[df.path.str.endswith(name)].iloc[0]
    assert row["mask"], name
    return np.asarray(Image.open(manifest.parent / row["mask"])) > 0


def test_an_aitex_patch_gets_the_same_256_px_slice_of_its_strips_mask(tmp_path):
    rl.write_aitex(tmp_path / "raw")
    manifest = prepare_subset("aitex", tmp_path / "raw", tmp_path / "out", "aitex", check=False)
    want = rl.aitex_mask([3])[:, 3 * 256:4 * 256] > 0
    assert (mask_of(manifest, "0001_002_00_p03.png") == want).all()
    union = (rl.aitex_mask([0]) | rl.aitex_mask([9])) > 0  # the quirk: two masks, their union
    assert (mask_of(manifest, "0044_019_04_p09.png") == union[:, 9 * 256:10 * 256]).all()
    df = read_manifest(manifest)
    assert (df["mask"] != "").sum() == (df.label == 1).sum() and (df["mask"][df.label == 0] == "").all()


def test_an_sdd_third_gets_the_same_rows_of_its_label(tmp_path):
    rl.write_sdd(tmp_path / "raw")
    manifest = prepare_subset("sdd", tmp_path / "raw", tmp_path / "out", "sdd", check=False)
    label = np.asarray(Image.open(tmp_path / "raw" / "KolektorSDD" / "kos02" / "Part0_label.bmp")) > 0
    # height 31: thirds are rows 0-9, 10-19, 20-30; the defect spans rows 9-10
    assert (mask_of(manifest, "kos02_Part0_0.png") == label[0:10]).all()
    assert (mask_of(manifest, "kos02_Part0_1.png") == label[10:20]).all()
    assert mask_of(manifest, "kos02_Part0_0.png").shape == (10, 12)


def test_optical_and_mvtec_layout_masks_are_the_ones_their_files_name(tmp_path):
    rl.write_optical(tmp_path / "opt")
    manifest = prepare_subset("optical", tmp_path / "opt", tmp_path / "oout", "optical", check=False)
    assert mask_of(manifest, "Class3_Test_0003.PNG").all()  # the fixture's label images are all defect
    raw = generate(tmp_path / "synth", seed=1, size=32, n_train=4, n_test=2, n_anomaly=2)
    manifest = prepare_subset("d", raw, tmp_path / "sout", "weave", check=False, layout="mvtec")
    want = np.asarray(Image.open(raw / "weave" / "ground_truth" / "spot" / "001_mask.png")) > 0
    assert (mask_of(manifest, "test/spot/001.png") == want).all() and want.any()


def test_a_missing_or_misfit_mask_is_an_error_naming_it(tmp_path):
    raw = generate(tmp_path / "synth", seed=1, size=32, n_train=4, n_test=2, n_anomaly=2)
    missing = raw / "weave" / "ground_truth" / "spot" / "000_mask.png"
    missing.unlink()
    with pytest.raises(DraError, match=r"spot/000_mask\.png: mask of .*spot/000\.png not found"):
        prepare_subset("d", raw, tmp_path / "o1", "weave", check=False, layout="mvtec")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(missing)
    with pytest.raises(DraError, match=r"spot/000\.png: its mask is 8x8 pixels, the image 32x32"):
        prepare_subset("d", raw, tmp_path / "o2", "weave", check=False, layout="mvtec")
    missing.write_bytes(b"\x89PNG torn")
    with pytest.raises(DraError, match=r"000_mask\.png: unreadable or truncated"):
        prepare_subset("d", raw, tmp_path / "o3", "weave", check=False, layout="mvtec")


def test_the_cache_stores_masks_at_the_runs_size_beside_the_images(tmp_path):
    raw = generate(tmp_path / "synth", seed=1, size=64, n_train=4, n_test=2, n_anomaly=2)
    manifest = prepare_subset("d", raw, tmp_path / "out", "weave", check=False, layout="mvtec")
    build_cache(manifest, 32, tmp_path / "32.npy")
    cache = ImageCache(tmp_path / "32.npy")
    df = read_manifest(manifest)
    masks = cache.masks(list(df.path))
    assert masks.shape == (len(df), 32, 32)
    assert not masks[df.label.to_numpy() == 0].any() and masks[df.label.to_numpy() == 1].any(axis=(1, 2)).all()


# --- maps point at the defect ----------------------------------------------------------------------
SIZE = 64
CENTRES = [(16, 16), (16, 48), (48, 16), (48, 48)]  # the middle of each of the 2 x 2 feature cells at 64 px


def textured(rng, n):
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    out = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(n):
        wave = np.sin(2 * np.pi * 4 * (x + rng.uniform(0, 1)) + rng.uniform(0, 6.3))
        out[i] = np.clip(np.array([120.0, 100.0, 80.0]) * (1 + 0.15 * wave[..., None]) + rng.normal(0, 4, (SIZE, SIZE, 3)),
                         0, 255)
    return out


def planted(rng, n):
    """Images with a bright 16 px square in one of the four feature cells, and its mask."""
    imgs, masks = textured(rng, n), np.zeros((n, SIZE, SIZE), dtype=bool)
    for i in range(n):
        cy, cx = CENTRES[rng.integers(4)]
        imgs[i, cy - 8:cy + 8, cx - 8:cx + 8] = (250, 250, 250)
        masks[i, cy - 8:cy + 8, cx - 8:cx + 8] = True
    return imgs, masks


def peaks_inside(maps: np.ndarray, masks: np.ndarray) -> float:
    """The share of maps whose maximum is reached inside the image's mask and stands above the map's
    mean outside it (a constant map peaks nowhere)."""
    hits = [m[k].max() >= m.max() - 1e-6 * abs(m.max()) and m[k].max() > m[~k].mean() for m, k in zip(maps, masks)]
    return float(np.mean(hits))


class LocalTrunk(nn.Module):
    """A stand-in for pretrained features, which this machine cannot download: 512 channels per
    32 px cell computed from that cell alone. A ResNet-18 from a random start trained for seconds
    has no such locality (its last block sees the whole 64 px image), so its maps could test nothing."""
    out_channels = 512

    def __init__(self, weights="none"):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 512, 16, stride=16), nn.ReLU(), nn.Conv2d(512, 512, 2, stride=2))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("variant, budget", [
    ("devnet", {"epochs": 3, "iterations": 8, "batch_normal": 12, "batch_anomaly": 12, "lr": 1.0e-3, "rotation": 0.0}),
    ("dra", {"epochs": 3, "iterations": 8, "batch_normal": 12, "batch_anomaly": 8, "lr": 1.0e-3, "rotation": 0.0}),
])
def test_a_map_of_a_planted_defect_peaks_inside_its_mask(variant, budget, tmp_path, monkeypatch):
    """The method's map (the heads' patch scores, upsampled, combined, averaged over the scales) peaks
    inside the defect once its heads have learnt it, on local features."""
    import dra.methods.devnet
    import dra.methods.dra

    monkeypatch.setattr(dra.methods.devnet, "ResNet18Trunk", LocalTrunk)
    monkeypatch.setattr(dra.methods.dra, "ResNet18Trunk", LocalTrunk)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    dev = torch.device("cpu")
    seen, _ = planted(rng, 10)
    test_anom, test_masks = planted(rng, 24)
    test = np.concatenate([textured(rng, 12), test_anom])
    data = RunData(normal=ImagePool(textured(rng, 48), dev), anomaly=ImagePool(seen, dev), external=None,
                   test=ImagePool(test, dev), test_paths=[str(i) for i in range(len(test))],
                   test_labels=np.array([0] * 12 + [1] * 24), test_classes=["good"] * 12 + ["square"] * 24,
                   image_size=SIZE, device=dev,
                   test_masks=np.concatenate([np.zeros((12, SIZE, SIZE), bool), test_masks]))
    spec = tiny_spec(variant, {**budget, "pseudo": "cutmix"} if variant == "dra" else budget, size=SIZE)
    spec["localization"] = {"size": SIZE, "sigma": 0.0}
    trainer = Trainer(spec, data, tmp_path, dev)
    trainer.fit()
    scores, maps = trainer.score(spec["localization"])
    anomaly_maps = maps["metric"][12:]
    assert anomaly_maps.shape == (24, SIZE, SIZE)
    assert peaks_inside(anomaly_maps, test_masks) >= 0.75, peaks_inside(anomaly_maps, test_masks)
    # the criterion can fail: a flipped map peaks outside, a constant one at its first pixel
    assert peaks_inside(-anomaly_maps, test_masks) < 0.5
    assert peaks_inside(np.zeros_like(anomaly_maps), test_masks) < 0.5
    m = pixel_metrics(maps["metric"], masks_at(data.test_masks, SIZE))
    assert m["pixel_auroc"] > 0.6 and 0.0 <= m["aupro"] <= 1.0


def test_deepsad_has_no_map_and_none_is_made_up(tmp_path):
    from methods_fixtures import easy_data

    data = easy_data(n_normal=16)
    data.test_masks = np.zeros((len(data.test), 32, 32), dtype=bool)
    spec = tiny_spec("deepsad", {"epochs": 1, "iterations": 1, "batch_normal": 4, "batch_anomaly": 4})
    trainer = Trainer(spec, data, tmp_path, torch.device("cpu"))
    scores, maps = trainer.score()
    assert "map" not in scores and maps == {}


def test_pixel_auroc_is_scikit_learns_over_every_pixel():
    rng = np.random.default_rng(3)
    maps = rng.random((3, 5, 5)).astype(np.float32)
    masks = rng.random((3, 5, 5)) > 0.7
    assert pixel_auroc(maps, masks) == pytest.approx(roc_auc_score(masks.reshape(-1), maps.reshape(-1)))
