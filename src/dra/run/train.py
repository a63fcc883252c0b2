"""`python -m dra train`: one run, orchestrated. Its inputs are checked and loaded (dra.run.inputs),
the method trained through the one loop (dra.run.trainer), the test set scored, and the run folder
written (dra.run.outputs): scores.csv and metrics.json appear only when complete; while the run is
in progress its checkpoint lets a killed run resume to the same scores (CPU)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from dra.errors import DraError
from dra.evaluate import metrics
from dra.fsutil import remove_stale_temporaries
from dra.plan.config import digest
from dra.plan.sources import file_digests, train_modules
from dra.run.checkpoint import CHECKPOINT
from dra.run.interrupt import Interrupted, StopRequest
from dra.run.inputs import SubsetFiles, check_spec, check_target, load_run
from dra.run.localization import DEFAULT as LOC_DEFAULT
from dra.run.localization import masks_at, pixel_metrics
from dra.run.outputs import save_maps, save_model, write_metrics, write_scores
from dra.run.runinfo import device_name, git_commit, peak_memory_mb, pick_device, versions
from dra.run.trainer import RestoreFailed, Trainer


def localisation(maps: dict, test, model, spec: dict) -> dict:
    """Pixel AUROC and AUPRO where the method has a map and the test set has masks; otherwise None,
    with the reason (a method without a map; masks without a defect pixel, or without a defect-free
    one, where the pixel metrics are undefined: the image metrics stand)."""
    pixel = {"pixel_auroc": None, "aupro": None}
    if test.test_masks is None:
        return pixel
    if not model.HAS_MAP:
        return {**pixel, "no_map": f"{spec['method']} has no native anomaly map"}
    masks = masks_at(test.test_masks, maps["metric"].shape[-1])
    if not masks.any() or masks.all():
        return {**pixel, "no_pixel_metrics": "the test set's masks hold no " + ("defect" if not masks.any() else
                                                                                "defect-free") + " pixel"}
    return pixel_metrics(maps["metric"], masks)


def train_run(spec: dict, own: SubsetFiles, out: Path, external: list[Path] = (), device: str = "auto",
              checkpoint_every: int = 0, amp: str = "auto", target: SubsetFiles | None = None,
              base_model: Path | None = None, model_out: Path | None = None, maps_out: Path | None = None,
              progress: bool = False) -> dict:
    """Train on the split's data and score its test set (a SIGINT or SIGTERM stops it with
    Interrupted, dra.run.interrupt). With `target` (cross-domain, paper Table 9):
    after the run's own training, fine-tune for the variant's `finetune_epochs` on the target's
    normals only (no labeled anomalies) and score the target's test set instead. `base_model`: the
    trained model an AHL run builds on; `model_out`: where to keep this run's model; `maps_out`:
    where to save every test map."""
    stop = StopRequest()
    with stop.installed():
        try:
            return _train_run(spec, own, Path(out), external, device, checkpoint_every, amp, target, base_model,
                              model_out, maps_out, progress, stop)
        except KeyboardInterrupt:  # while loading or setting up: nothing trained, nothing to save
            kept = (f"the checkpoint {Path(out) / CHECKPOINT} from earlier stays and a rerun resumes from it"
                    if (Path(out) / CHECKPOINT).is_file() else "a rerun starts over")
            raise Interrupted(f"interrupted ({stop.name()}) before training started; {kept}") from None


def _train_run(spec, own, out, external, device, checkpoint_every, amp, target, base_model, model_out, maps_out,
               progress, stop) -> dict:
    t0 = time.perf_counter()
    spec = check_spec(spec, str(out))
    check_target(spec, target, str(out))
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out / CHECKPOINT)  # what a killed run's checkpoint write left behind
    dev = pick_device(device)
    use_amp = dev.type == "cuda" if amp == "auto" else amp == "bf16"
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
    data, finetune, split, target_split = load_run(spec, own, dev, external, base_model, target)
    key = None if target is None else digest([spec, target_split])  # a checkpoint of this source/target pair only

    def trainer() -> Trainer:
        return Trainer(spec, data, out, dev, checkpoint_every, use_amp, finetune=finetune, key=key, progress=progress,
                       stop=stop)

    run = trainer()
    try:
        run.maybe_resume()
    except RestoreFailed:
        run = trainer()
    try:
        run.fit()
    except KeyboardInterrupt:  # a second signal in the middle of a step
        raise run.interrupted("training") from None
    localization = spec.get("localization")
    try:
        scores, maps = run.score(localization, keep_maps=maps_out is not None)
    except KeyboardInterrupt:
        raise run.interrupted("scoring") from None
    with stop.deferred():  # the outputs are written whole: a signal now lets the run finish
        return _finish(spec, run, scores, maps, own, out, external, target, target_split, split, model_out, maps_out,
                       use_amp, dev, t0, data)


def _finish(spec, run, scores, maps, own, out, external, target, target_split, split, model_out, maps_out, use_amp,
            dev, t0, data) -> dict:
    localization = spec.get("localization")
    test = run.data  # the last phase's data: the target's test set in a cross-domain run
    where = str(out)
    if np.ptp(scores["score"]) == 0:
        raise DraError(f"{where}: every test score is {scores['score'][0]}; constant scores carry no ranking")
    scores_sha256, written = write_scores(out, test, scores)
    result = metrics(written["label"].to_numpy(), written["score"].to_numpy(), where,
                     classes=written["anomaly_class"].to_numpy())
    pixel = localisation(maps, test, run.model, spec)
    phases = run.summary()
    steps = sum(ph["iterations"] for ph in phases)
    unit = run.model.THROUGHPUT_UNIT.replace(" ", "_")  # images; AHL: feature_maps, not comparable
    seen = sum(ph[f"{unit}_seen"] for ph in phases)
    p = spec["params"]
    info = {
        **result,
        "seconds": time.perf_counter() - t0,
        "train_seconds": run.train_seconds,
        "images_per_second": None, "images_seen": None,
        f"{unit}_per_second": seen / run.train_seconds if run.train_seconds else None,
        "peak_memory_mb": peak_memory_mb(dev),
        "device": device_name(dev),
        "device_type": dev.type,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **pixel,
        "localization": {**LOC_DEFAULT, **(localization or {})} if pixel["pixel_auroc"] is not None else None,
        "amp": "bf16" if use_amp else "off",
        "epochs": sum(ph["epochs"] for ph in phases), "iterations": steps, f"{unit}_seen": seen,
        "phases": phases,
        "lr_per_epoch": run.lrs,
        "resumed_from": run.resumed_from,
        "n_train_normal": len(data.normal), "n_labeled": 0 if data.anomaly is None else len(data.anomaly),
        "n_test": len(test.test_paths), "n_test_anomalies": int(test.test_labels.sum()),
        "pseudo_source": p.get("pseudo"),
        "outliers": p.get("outliers"),
        "texture_source": p.get("texture_source"),  # AHL: DTD's images or generated textures
        "external": [str(x) for x in external],
        "split": str(own.split), "manifest_sha256": split["manifest_sha256"],
        "target_split": None if target is None else str(target.split),
        "target_manifest_sha256": None if target_split is None else target_split["manifest_sha256"],
        "scores_sha256": scores_sha256,
        "git_commit": git_commit(), "versions": versions(),
        # each file of the run's code by digest: a plan names the files whose edit reruns it
        "code_files": file_digests(*train_modules(spec["method"])),
        "config_digest": run.key, "spec": spec,
    }
    if maps_out is not None:
        if "full" not in maps:
            raise DraError(f"{where}: maps asked for, but {spec['method']} has no native anomaly map")
        save_maps(Path(maps_out), list(test.test_paths), maps["full"])
    if model_out is not None:
        save_model(run.model, Path(model_out))
    write_metrics(out, info)
    (out / CHECKPOINT).unlink(missing_ok=True)
    return info
