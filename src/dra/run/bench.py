"""Training throughput and memory per method: the real data path against the model alone.

For each method, on generated data cached at the asked size (no dataset needed):

- data path: `Trainer.step()`, exactly the training loop's step: the method's `loss(data)` draws its
  batch from the cached images (an ImagePool on the device), augments it on the device (rotation,
  pseudo anomalies), then forward, backward, clipping, optimiser step;
- model only: `Trainer.step(batch)` on one batch the method made beforehand (`make_batch`), replayed:
  the same forward, backward and step without any sampling or augmentation;
- a short run: `train_run` end to end (data loading, training, scoring, files) for a few iterations.

Warm-up steps are not timed. Timed steps alternate between the two modes (ABBA), so that a machine
shared with other jobs slows both alike; each mode's images/s is from its median step time (`ratio`:
data path / model only), `ratio_best` the same from each mode's fastest step (on a busy shared
machine the least disturbed measurement of each). Peak
memory is per mode: CUDA's allocator peak, or on a CPU the process's resident high-water mark (reset
before each step where Linux allows it)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from dra.plan.config import DEFAULT_CONFIG, external_subsets, is_unsupervised, load_config, run_spec
from dra.data.cache import ImageCache, build_cache
from dra.data.prepare import prepare_subset
from dra.plan.methods import STANDALONE
from dra.run.runinfo import device_name, peak_memory_mb, pick_device, reset_peak_memory
from dra.data.splits import write_split
from dra.data.synth import generate

DEMO_CONFIG = DEFAULT_CONFIG.parent / "demo.yaml"
SUBSET = "weave"  # the run's subset; the other generated subset is its external pool
COLUMNS = ["method", "size", "device", "amp", "threads", "images_per_step", "warmup", "steps",
           "data_images_per_s", "model_images_per_s", "ratio", "ratio_best", "data_step_s", "model_step_s",
           "data_best_step_s", "model_best_step_s",
           "data_peak_mb", "model_peak_mb", "run_iterations", "run_seconds", "run_train_images_per_s",
           "run_peak_mb", "auroc"]


# --- inputs -------------------------------------------------------------------------------------

def make_inputs(folder: Path, size: int, seed: int = 0) -> dict:
    """The generated dataset (64 px textures, both subsets), prepared, split (general, ten labeled
    anomalies) and cached at `size`: {subset: {"manifest", "cache"}} plus the run subset's "split"."""
    folder = Path(folder)
    raw = generate(folder / "raw", seed=seed, size=64, n_train=32, n_test=8, n_anomaly=8)
    out = {}
    for subset in ("weave", "grain"):
        manifest = prepare_subset("demo", raw, folder / "prepared", subset, check=False, layout="mvtec")
        cache = folder / f"{subset}{size}.npy"
        build_cache(manifest, size, cache)
        out[subset] = {"manifest": manifest, "cache": cache}
    out["split"] = folder / f"{SUBSET}-general.json"
    write_split(out[SUBSET]["manifest"], "general", None, seed, out["split"], "demo", SUBSET)
    return out


def bench_spec(method: str, size: int, seed: int = 0, iterations: int = 1) -> tuple[dict, dict]:
    """The method's protocol parameters (config.yaml: batch sizes, scales, augmentation) on the
    generated dataset (demo.yaml's dataset entry: external sources map to its other subset), at
    `size` px, random start, one epoch of `iterations`. -> (spec, the config it came from)."""
    cfg = load_config(DEFAULT_CONFIG, DEMO_CONFIG)
    cfg["methods"] = load_config(DEFAULT_CONFIG).get("methods") or {}  # the protocol's, not the demo's budget
    shots = 0 if is_unsupervised(cfg, method) else 10
    spec = run_spec(cfg, method, "demo", SUBSET, "general", shots, seed)
    spec["image_size"], spec["weights"] = int(size), "none"
    spec["params"].update(epochs=1, iterations=int(iterations))
    return spec, cfg


def subset_files(inputs: dict):
    from dra.run.inputs import SubsetFiles

    return SubsetFiles(inputs["split"], inputs[SUBSET]["manifest"], inputs[SUBSET]["cache"])


def external_caches(cfg: dict, spec: dict, inputs: dict) -> list[Path]:
    return [inputs[subset]["cache"] for _, subset in external_subsets(cfg, spec)]


# --- measurements -------------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_steps(spec: dict, inputs: dict, external: list[Path], device: torch.device, amp: bool,
                  warmup: int, steps: int, workdir: Path) -> dict:
    """Images/s and peak memory of the training step, data path and model only (see the module)."""
    from dra.run.inputs import load_run
    from dra.run.trainer import Trainer

    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)  # as train_run: the CPU kernels a run uses
    data, _, _, _ = load_run(spec, subset_files(inputs), device, external)
    trainer = Trainer(spec, data, workdir, device, amp=amp)
    trainer.model.train()
    for _ in range(warmup):
        trainer.step()
    with trainer.autocast():
        batch = trainer.model.make_batch(data)
    trainer.step(batch)  # the replay's own first step (allocations) is not timed either
    sync(device)
    times: dict[str, list[float]] = {"data": [], "model": []}
    peaks = {"data": 0.0, "model": 0.0}
    for i in range(steps):
        for mode in (("data", "model") if i % 2 == 0 else ("model", "data")):
            reset_peak_memory(device)
            t = time.perf_counter()
            trainer.step(None if mode == "data" else batch)
            sync(device)
            times[mode].append(time.perf_counter() - t)
            peaks[mode] = max(peaks[mode], peak_memory_mb(device))
    n = trainer.model.images_per_step(data)
    data_s, model_s = statistics.median(times["data"]), statistics.median(times["model"])
    data_best, model_best = min(times["data"]), min(times["model"])
    out = {"images_per_step": n, "data_step_s": data_s, "model_step_s": model_s, "data_best_step_s": data_best,
           "model_best_step_s": model_best, "data_images_per_s": n / data_s, "model_images_per_s": n / model_s,
           "ratio": model_s / data_s, "ratio_best": model_best / data_best,
           "data_peak_mb": peaks["data"], "model_peak_mb": peaks["model"]}
    del trainer, batch, data
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def short_run(spec: dict, inputs: dict, external: list[Path], device: str, amp: str, out: Path) -> dict:
    """`train_run` end to end for the spec's few iterations: wall time, its training images/s, peak."""
    from dra.run.train import train_run

    info = train_run(spec, subset_files(inputs), out, external, device=device, checkpoint_every=0, amp=amp)
    return {"run_seconds": info["seconds"], "run_train_images_per_s": info["images_per_second"],
            "run_peak_mb": info["peak_memory_mb"], "auroc": info["auroc"]}


def bench(methods=STANDALONE, size: int = 224, device: str = "auto", amp: str = "auto", warmup: int = 1,
          steps: int = 3, run_iterations: int = 3, seed: int = 0, workdir: Path | None = None,
          progress=print) -> pd.DataFrame:
    """One row per method (COLUMNS). run_iterations 0: no short run."""
    dev = pick_device(device)
    use_amp = dev.type == "cuda" if amp == "auto" else amp == "bf16"
    rows = []
    with tempfile.TemporaryDirectory(prefix="dra-bench-", dir=workdir) as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        inputs = make_inputs(tmp / "data", size, seed)
        progress(f"generated data cached at {size} px in {time.perf_counter() - t:.1f} s "
                 f"({len(ImageCache(inputs[SUBSET]['cache']).index)} images)")
        for method in methods:
            spec, cfg = bench_spec(method, size, seed, max(run_iterations, 1))
            external = external_caches(cfg, spec, inputs)
            row = {"method": method, "size": size, "device": device_name(dev), "amp": "bf16" if use_amp else "off",
                   "threads": torch.get_num_threads(), "warmup": warmup, "steps": steps,
                   "run_iterations": run_iterations}
            row.update(measure_steps(spec, inputs, external, dev, use_amp, warmup, steps, tmp / f"{method}-steps"))
            if run_iterations > 0:
                row.update(short_run(spec, inputs, external, str(dev), "bf16" if use_amp else "off",
                                     tmp / f"{method}-run"))
            progress(f"{method}: data path {row['data_images_per_s']:.1f} images/s, model only "
                     f"{row['model_images_per_s']:.1f} images/s (ratio {row['ratio']:.3f}, best steps "
                     f"{row['ratio_best']:.3f}), peak "
                     f"{row['data_peak_mb']:.0f} / {row['model_peak_mb']:.0f} MB"
                     + (f", {run_iterations}-iteration run {row['run_seconds']:.1f} s" if run_iterations > 0 else ""))
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def format_table(df: pd.DataFrame) -> str:
    show = df[["method", "size", "amp", "images_per_step", "data_images_per_s", "model_images_per_s", "ratio",
               "ratio_best", "data_peak_mb", "model_peak_mb", "run_seconds"]].rename(columns={
                   "images_per_step": "img/step", "data_images_per_s": "data img/s",
                   "model_images_per_s": "model img/s", "ratio": "data/model", "ratio_best": "best data/model",
                   "data_peak_mb": "data peak MB",
                   "model_peak_mb": "model peak MB", "run_seconds": "run s"})
    return show.to_string(index=False, float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")
