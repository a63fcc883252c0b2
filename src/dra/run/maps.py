"""`python -m dra maps`: the anomaly maps of a run's first few test anomalies with masks, from its
trained model (what a heatmap figure draws), smoothed as the pixel metrics see them."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from dra.errors import DraError
from dra.fsutil import atomic_path, ensure_free
from dra.methods import method_class
from dra.run.checkpoint import seed_everything
from dra.run.inputs import SubsetFiles, check_spec, load_run
from dra.run.localization import DEFAULT as LOC_DEFAULT
from dra.run.localization import smooth
from dra.run.runinfo import pick_device


def anomaly_ids(manifest, test: list[str], n_images: int) -> list[str]:
    """The first `n_images` test anomalies with masks, one class after the other (each sorted by path)."""
    masked = manifest[(manifest["mask"] != "") & manifest.path.isin(test)].sort_values("path")
    by_class = [list(g.path) for _, g in masked.groupby("anomaly_class", sort=True)]
    return [p for group in itertools.zip_longest(*by_class) for p in group if p is not None][:n_images]


def anomaly_maps(spec: dict, model_path: Path, own: SubsetFiles, external: list[Path], n_images: int, out: Path,
                 device: str = "auto", base_model: Path | None = None) -> int:
    """{ids, images (uint8), maps (float16, smoothed as the metrics see them), masks} of `n_images`
    test anomalies, from a run's trained model."""
    spec = check_spec(spec, str(out))
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
    data, _, split, _ = load_run(spec, own, dev, external, base_model, weights=False)
    from dra.data.manifest import read_manifest

    ids = anomaly_ids(read_manifest(own.manifest), split["test"], n_images)
    if not ids:
        raise DraError(f"{own.split}: no test anomaly with a mask to map")
    seed_everything(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    model = method_class(spec["method"])(spec["params"], data, gen).to(dev)
    if not model.HAS_MAP:
        raise DraError(f"{spec['method']} has no native anomaly map")
    model.begin(data)  # the phase's setup first (AHL sizes its psi there), then the trained weights
    try:
        model.load_state_dict(torch.load(model_path, map_location=dev, weights_only=True))
    except Exception as e:  # noqa: BLE001 - not this run's model
        raise DraError(f"{model_path}: not the trained model of this run ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:200]}); delete it and rerun the run") from None
    model.eval()
    index = {p: i for i, p in enumerate(data.test_paths)}
    rows = torch.tensor([index[p] for p in ids])
    images = data.test[rows]
    with torch.no_grad():
        maps = model.score(images, data, maps=True)["map"]
    sigma = {**LOC_DEFAULT, **(spec.get("localization") or {})}["sigma"]
    maps = smooth(maps.float(), sigma).cpu().numpy().astype(np.float16)
    masks = data.test_masks[rows.numpy()] if data.test_masks is not None else None
    ensure_free(Path(out).parent, images.numel() + maps.nbytes + (1 << 20), f"the anomaly maps {Path(out).name}")
    with atomic_path(out, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, ids=np.array(ids), images=images.cpu().numpy(), maps=maps, masks=masks,
                                variant=spec["variant"], dataset=spec["dataset"], subset=spec["subset"])
    return len(ids)
