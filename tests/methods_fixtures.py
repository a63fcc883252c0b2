"""Shared helpers of the method tests: an easy tensor-made data set and a tiny training run.

Normals are smooth striped textures; an anomaly is a normal with a saturated square in it (obvious
on purpose: the tests check that a method learns and that its score points the right way, not how
well it does). Everything is CPU, random start (weights none), 32 px, a handful of steps."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from dra.plan.config import deep_merge, load_config, run_spec
from dra.methods.rundata import ImagePool, RunData
from dra.run.train import Trainer

SIZE = 32
torch.set_num_threads(1)  # the test machine's cores are shared; one thread is also the fastest here


def normals(rng: np.random.Generator, n: int, size: int = SIZE) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        wave = np.sin(2 * np.pi * 4 * (x + rng.uniform(0, 1)) + rng.uniform(0, 6.3))
        img = np.array([120.0, 100.0, 80.0]) * (1 + 0.15 * wave[..., None]) + rng.normal(0, 4, (size, size, 3))
        out[i] = np.clip(img, 0, 255)
    return out


def anomalies(rng: np.random.Generator, n: int, size: int = SIZE) -> np.ndarray:
    out = normals(rng, n, size)
    side = size // 4
    for i in range(n):
        y, x = rng.integers(0, size - side, 2)
        out[i, y:y + side, x:x + side] = rng.choice([[250, 250, 250], [20, 200, 40], [10, 10, 10]])
    return out


def outliers(rng: np.random.Generator, n: int, size: int = SIZE) -> np.ndarray:
    """External images of another kind (stand-ins for other MVTec categories or LAG): colour noise."""
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def easy_data(seed: int = 0, n_normal: int = 64, n_labeled: int = 10, n_test: int = 24, size: int = SIZE,
              external: bool = True, labeled: bool = True) -> RunData:
    rng = np.random.default_rng(seed)
    dev = torch.device("cpu")
    test = np.concatenate([normals(rng, n_test, size), anomalies(rng, n_test, size)])
    return RunData(
        normal=ImagePool(normals(rng, n_normal, size), dev),
        anomaly=ImagePool(anomalies(rng, n_labeled, size), dev) if labeled else None,
        external=ImagePool(outliers(rng, 32, size), dev) if external else None,
        test=ImagePool(test, dev),
        test_paths=[f"t{i:03d}" for i in range(len(test))],
        test_labels=np.array([0] * n_test + [1] * n_test),
        test_classes=["good"] * n_test + ["square"] * n_test,
        image_size=size,
        device=dev,
    )


def tiny_spec(variant: str, overrides: dict | None = None, dataset: str = "mvtecad", subset: str = "carpet",
              shots: int = 10, seed: int = 0, size: int = SIZE) -> dict:
    """The variant's effective spec from config.yaml, at a tiny budget and a random start."""
    cfg = load_config()
    spec = run_spec(cfg, variant, dataset, subset, "general", shots, seed)
    spec["image_size"], spec["weights"] = size, "none"
    spec["params"] = deep_merge(spec["params"], {"epochs": 1, "iterations": 4, "test_batch": 64, **(overrides or {})})
    return spec


def train_and_score(spec: dict, data: RunData, out) -> tuple[float, dict, Trainer]:
    """Train with the pipeline's own loop; return (AUROC, scores, trainer)."""
    trainer = Trainer(spec, data, out, torch.device("cpu"))
    trainer.fit()
    scores, _ = trainer.score()
    return float(roc_auc_score(data.test_labels, scores["score"])), scores, trainer
