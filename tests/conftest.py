"""Shared fixtures: the generated demo data prepared once per session, and a tiny run config."""

from __future__ import annotations

from pathlib import Path

import pytest

from dra.plan.config import deep_merge, load_config
from dra.data.prepare import prepare_subset
from dra.data.synth import generate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """The generated dataset, prepared: {subset: manifest path}."""
    base = tmp_path_factory.mktemp("demo")
    generate(base / "raw", seed=0, size=48)
    return {s: prepare_subset("demo", base / "raw", base / "prepared", s, check=False, layout="mvtec") for s in ("weave", "grain")}


@pytest.fixture(scope="session")
def tiny_config():
    """config.yaml with the demo dataset and a budget of a few iterations."""
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    tiny = {"weights": "none", "datasets": {"demo": {"image_size": 48}}}
    tiny["methods"] = {m: {"epochs": 2, "iterations": 2} for m in cfg["methods"]}
    return deep_merge(cfg, tiny)
