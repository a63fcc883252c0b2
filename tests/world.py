"""The small world every test that trains on files shares (conftest's session fixture `world`): the
generated dataset (`python -m dra synth`, two subsets in MVTec layout with pixel masks) generated and
prepared once; each split and image cache made the first time a test asks for it, then kept."""

from __future__ import annotations

from pathlib import Path

from dra.data.cache import build_cache
from dra.data.prepare import prepare_subset
from dra.data.splits import write_split
from dra.data.synth import generate
from dra.plan.config import deep_merge, load_config, run_spec
from dra.plan.runkey import hard_class

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32   # the runs' image size: the smallest at which every network runs (ResNet-18's last map is 1x1)
RAW = 48    # the generated images: the 32 px caches are a real resize; the bf16 tests run at 48 px


class World:
    def __init__(self, base: Path):
        self.base = base
        raw = generate(base / "raw", seed=0, size=RAW, n_train=40, n_test=12, n_anomaly=10)
        self.manifests = {s: prepare_subset("demo", raw, base / "prepared", s, check=False, layout="mvtec",
                                            report=lambda text: None) for s in ("weave", "grain")}
        # config.yaml and demo.yaml, a random start, every method at a few steps
        cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
        self.cfg = deep_merge(cfg, {"weights": "none", "datasets": {"demo": {"image_size": SIZE}},
                                    "methods": {m: {"epochs": 2, "iterations": 2} for m in cfg["methods"]}})

    def split(self, subset: str = "weave", setting: str = "general", seed: int = 0) -> Path:
        path = self.base / "splits" / subset / setting / f"seed{seed}.json"
        if not path.is_file():
            write_split(self.manifests[subset], setting, hard_class(setting), seed, path, "demo", subset)
        return path

    def cache(self, subset: str = "weave", size: int = SIZE) -> Path:
        path = self.base / "cache" / subset / f"{size}.npy"
        if not path.is_file():
            build_cache(self.manifests[subset], size, path)
        return path

    def files(self, subset: str = "weave", setting: str = "general", size: int = SIZE, seed: int = 0):
        """The run's SubsetFiles (split of `seed`, manifest, cache at `size`)."""
        from dra.run.inputs import SubsetFiles  # torch: only where a test trains

        return SubsetFiles(self.split(subset, setting, seed), self.manifests[subset], self.cache(subset, size))

    def args(self, subset: str = "weave", setting: str = "general", size: int = SIZE) -> list[str]:
        """The same as `python -m dra train` options."""
        f = self.files(subset, setting, size)
        return ["--split", str(f.split), "--manifest", str(f.manifest), "--cache", str(f.cache)]

    def spec(self, variant: str, subset: str = "weave", setting: str = "general", shots: int = 10, seed: int = 0,
             size: int = SIZE, **params) -> dict:
        """The variant's run spec from the world's config, its parameters overridden by `params`."""
        spec = run_spec(self.cfg, variant, "demo", subset, setting, shots, seed)
        spec["image_size"] = size
        spec["params"] = deep_merge(spec["params"], params)
        return spec
