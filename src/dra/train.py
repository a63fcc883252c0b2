"""The one training loop every method uses, and the run folder it writes.

A run folder holds scores.csv and metrics.json, each appearing only when complete, and, while the
run is in progress, checkpoint.pt (model, optimiser, scheduler, every RNG state, phase and step), from
which a killed run resumes to exactly the scores an uninterrupted run gives (CPU). A cross-domain run
(paper Table 9) has a second phase: fine-tuning on a target subset's normals, whose test set it scores."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dra.config import digest
from dra.data.cache import ImageCache
from dra.data.manifest import read_manifest
from dra.errors import DraError
from dra.evaluate import metrics
from dra.localization import DEFAULT as LOC_DEFAULT
from dra.localization import for_metrics, masks_at, metric_size, pixel_metrics
from dra.params import check_params
from dra.fsutil import atomic_path, write_text
from dra.methods import method_class
from dra.rundata import ImagePool, RunData
from dra.runinfo import device_name, git_commit, peak_memory_mb, pick_device, versions
from dra.schedule import make_optimizer
from dra.splits import labeled, read_split

CHECKPOINT = "checkpoint.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(spec: dict, split: dict, cache: ImageCache, manifest: pd.DataFrame, device: torch.device,
              external: list[Path] = (), base_model: Path | None = None) -> RunData:
    shots = labeled(split, spec["shots"])
    ext = None
    if external:
        ext = ImagePool(np.concatenate([np.asarray(ImageCache(p).array) for p in external]), device)
    meta = manifest.set_index("path").loc[split["test"]]
    return RunData(
        normal=ImagePool.from_cache(cache, split["train_normal"], device),
        anomaly=ImagePool.from_cache(cache, shots, device) if shots else None,
        external=ext,
        test=ImagePool.from_cache(cache, split["test"], device),
        test_paths=list(split["test"]),
        test_labels=meta["label"].to_numpy(),
        test_classes=meta["anomaly_class"].tolist(),
        image_size=cache.size,
        device=device,
        test_masks=cache.masks(split["test"]),
        base_model=base_model,
    )


def rng_state(gen: torch.Generator) -> dict:
    """Every RNG's state as tensors and plain numbers (a checkpoint is loaded with weights_only)."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    state = {"gen": gen.get_state(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64),
                        "gauss": py_gauss}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


CHECKPOINT_KEYS = ("key", "phase", "epoch", "iteration", "lrs", "train_seconds", "model", "opt", "sched", "rng",
                   "samplers")


def read_checkpoint(path: Path, device: torch.device) -> dict | None:
    """A checkpoint is data, never code: loaded with weights_only (no pickled objects run), its
    structure checked. Unreadable or not a checkpoint of this pipeline: a warning naming it, None."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated, foreign or planted: never trusted, never fatal
        warn(f"{path}: cannot be read as a checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
             "discarded, the run starts over")
        return None
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        warn(f"{path}: not a checkpoint of this pipeline (keys {sorted(state) if isinstance(state, dict) else type(state).__name__}); "
             "discarded, the run starts over")
        return None
    return state


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class Progress:
    """Training progress on stderr (the run's log): epoch, iteration, loss, images/s and an ETA, about
    twenty lines a run and at least one a minute; by hand (`progress`, a terminal) a bar redrawn in
    place."""

    def __init__(self, total: int, done: int, images_per_step: int, bar: bool = False, phase: str = ""):
        self.total, self.start_done, self.images = max(total, 1), done, images_per_step
        self.bar = bar and sys.stderr.isatty()
        self.phase = f"{phase} " if phase else ""
        self.t0 = self.last = time.perf_counter()
        self.every = max(1, self.total // 20)

    def step(self, done: int, epoch: int, epochs: int, it: int, its: int, loss: torch.Tensor) -> None:
        now = time.perf_counter()
        if not (self.bar or done % self.every == 0 or done == self.total or now - self.last > 60):
            return
        self.last = now
        rate = (done - self.start_done) / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate else float("nan")
        text = (f"{self.phase}epoch {epoch + 1}/{epochs} iteration {it}/{its} loss {float(loss.detach()):.4f} "
                f"{rate * self.images:.1f} images/s eta {_duration(eta)}")
        if self.bar:
            filled = int(30 * done / self.total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {text}   ")
            if done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


class RestoreFailed(Exception):
    """A checkpoint was partly restored and then did not fit: the Trainer's state is spoilt."""


@dataclass
class Phase:
    """One stretch of training on one data set: the run's own ("train"), or a cross-domain
    fine-tuning on a target subset's normals ("finetune")."""
    name: str
    data: RunData
    epochs: int


class Trainer:
    """Trains the run's method through its phases: phase 0 on the run's data for `epochs`, then, with a
    `finetune` data set, phase 1 on it for `finetune_epochs` (a fresh optimiser and schedule, the
    model carried over). Epoch and iteration count within the current phase; the phase is saved too."""

    def __init__(self, spec: dict, data: RunData, out: Path, device: torch.device, checkpoint_every: int = 0,
                 amp: bool = False, finetune: RunData | None = None, key: str | None = None,
                 progress: bool = False):
        self.spec, self.out, self.device = spec, Path(out), device
        self.progress = progress
        self.params = spec["params"]
        self.phases = [Phase("train", data, self.params["epochs"])]
        if finetune is not None:
            self.phases.append(Phase("finetune", finetune, self.params["finetune_epochs"]))
        self.phase = 0
        self.checkpoint_every = checkpoint_every
        self.amp = amp
        seed_everything(spec["seed"])
        self.gen = torch.Generator().manual_seed(spec["seed"])
        self.model = method_class(spec["method"])(self.params, data, self.gen, spec["weights"]).to(device)
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.begin(data)
        self.opt, self.sched = make_optimizer(self.model, self.params)
        self.key = key or digest(spec)
        self.epoch, self.iteration, self.lrs, self.train_seconds = 0, 0, [], 0.0
        self.resumed_from = None

    @property
    def data(self) -> RunData:
        return self.phases[self.phase].data

    def iterations(self, k: int) -> int:
        return self.model.iterations_per_epoch(self.phases[k].data)

    def begin_phase(self, k: int) -> None:
        """Phase k > 0: a fresh optimiser and schedule, and the method's setup on the phase's data with
        a generator state derived from (seed, k) alone, so that a resumed run repeats it exactly."""
        self.phase, self.epoch, self.iteration = k, 0, 0
        saved = self.gen.get_state()
        self.gen.manual_seed(self.spec["seed"] + 1_000_003 * k)
        self.model.begin(self.data)
        self.gen.set_state(saved)
        self.opt, self.sched = make_optimizer(self.model, self.params)

    def summary(self) -> list[dict]:
        """Per phase: epochs, iterations and images seen (what the run trained on)."""
        out = []
        for k, ph in enumerate(self.phases):
            its = ph.epochs * self.iterations(k)
            out.append({"phase": ph.name, "epochs": ph.epochs, "iterations": its,
                        "images_seen": its * self.model.images_per_step(ph.data),
                        "n_train_normal": len(ph.data.normal),
                        "n_labeled": 0 if ph.data.anomaly is None else len(ph.data.anomaly)})
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def save(self) -> None:
        state = {"key": self.key, "phase": self.phase, "epoch": self.epoch, "iteration": self.iteration,
                 "lrs": self.lrs, "train_seconds": self.train_seconds, "model": self.model.state_dict(),
                 "opt": self.opt.state_dict(), "sched": self.sched.state_dict(), "rng": rng_state(self.gen),
                 "samplers": self.model.sampler_state(), "extra": self.model.extra_state()}
        with atomic_path(self.out / CHECKPOINT) as tmp:
            torch.save(state, tmp)

    def maybe_resume(self) -> bool:
        """Resume from the run folder's checkpoint where there is one of this run (its key: the spec's
        digest). False if nothing was restored; raises RestoreFailed after a partial restore (the
        caller starts over with a fresh Trainer)."""
        path = self.out / CHECKPOINT
        if not path.is_file():
            return False
        state = read_checkpoint(path, self.device)
        if state is None or state["key"] != self.key:  # unreadable, or a checkpoint of other settings
            path.unlink()
            return False
        try:
            if state["phase"] > 0:
                self.begin_phase(state["phase"])  # that phase's optimiser and setup, then its saved state
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["opt"])
            self.sched.load_state_dict(state["sched"])
            self.model.load_sampler_state(state["samplers"])
            self.model.load_extra_state(state.get("extra", {}))
            set_rng_state(self.gen, state["rng"])
            self.epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
            self.lrs, self.train_seconds = list(state["lrs"]), float(state["train_seconds"])
        except Exception as e:  # noqa: BLE001 - a checkpoint that does not fit: start over
            warn(f"{path}: does not fit this run ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                 "discarded, the run starts over")
            path.unlink()
            raise RestoreFailed from None
        self.resumed_from = (self.phase, self.epoch, self.iteration) if len(self.phases) > 1 else (
            self.epoch, self.iteration)
        return True

    # --- the loop ---------------------------------------------------------------------------
    def autocast(self):
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(self) -> None:
        while True:
            self.fit_phase()
            if self.phase + 1 == len(self.phases):
                return
            self.begin_phase(self.phase + 1)

    def step(self, batch: tuple | None = None) -> torch.Tensor:
        """One optimiser step: the method's loss on a batch it draws and augments itself (training),
        or on a batch already made by `model.make_batch` (the benchmark's model-only replay); then
        backward, gradient clipping, the optimiser's step. Returns the loss."""
        p = self.params
        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.model.loss(self.data) if batch is None else self.model.batch_loss(batch)
        if loss.requires_grad:  # a method may have taken its gradients in parts already (AHL's episodes)
            loss.backward()
        if p.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), p["grad_clip"])
        self.opt.step()
        if not torch.isfinite(loss):
            raise DraError(f"{self.out}: training loss became {loss.item()} at epoch {self.epoch}, "
                           f"iteration {self.iteration}" + (f" of phase {self.phases[self.phase].name}"
                                                            if len(self.phases) > 1 else ""))
        return loss

    def fit_phase(self) -> None:
        epochs, iterations = self.phases[self.phase].epochs, self.iterations(self.phase)
        steps_done = sum(self.phases[k].epochs * self.iterations(k) for k in range(self.phase))
        steps_done += self.epoch * iterations + self.iteration
        total = sum(self.phases[k].epochs * self.iterations(k) for k in range(len(self.phases)))
        log = Progress(total, steps_done, self.model.images_per_step(self.data), bar=self.progress,
                       phase=self.phases[self.phase].name if len(self.phases) > 1 else "")
        while self.epoch < epochs:
            if self.iteration == 0:
                self.sched.epoch_start()
                self.lrs.append(self.sched.lr())
            self.model.train()
            while self.iteration < iterations:
                t = time.perf_counter()
                loss = self.step()
                self.train_seconds += time.perf_counter() - t
                self.iteration += 1
                steps_done += 1
                log.step(steps_done, self.epoch, epochs, self.iteration, iterations, loss)
                # a method whose step is a whole epoch (AHL) is saved after each one
                every = 1 if self.model.STEP_IS_EPOCH else self.checkpoint_every
                if self.checkpoint_every and steps_done % every == 0:
                    self.save()
            self.sched.epoch_end()
            self.epoch, self.iteration = self.epoch + 1, 0

    @torch.no_grad()
    def score(self, localization: dict | None = None, keep_maps: bool = False) -> tuple[dict, dict]:
        """Score the test set: ({score and per-head parts: float64 N}, maps) where maps holds, when the
        method has a map and the test set has masks (or `keep_maps`), "metric" (the maps as the pixel
        metrics see them, `dra.localization`) and with `keep_maps` "full" (float16 at input size)."""
        self.model.eval()
        loc = {**LOC_DEFAULT, **(localization or {})}
        want = self.model.HAS_MAP and (self.data.test_masks is not None or keep_maps)
        size = metric_size(self.data.image_size, loc["size"])
        n, bs = len(self.data.test), self.params["test_batch"]
        parts: dict[str, list] = {}
        metric, full = [], []
        for start in range(0, n, bs):
            idx = torch.arange(start, min(start + bs, n))
            with self.autocast():
                out = self.model.score(self.data.test[idx], self.data, maps=want)
            m = out.pop("map", None)
            if m is not None:
                metric.append(for_metrics(m.float(), loc["sigma"], size))
                if keep_maps:
                    full.append(m.float().cpu().numpy().astype(np.float16))
            for k, v in out.items():
                parts.setdefault(k, []).append(v.float().cpu())
        scores = {k: torch.cat(v).numpy().astype(np.float64) for k, v in parts.items()}
        maps = {}
        if metric:
            maps["metric"] = np.concatenate(metric)
        if full:
            maps["full"] = np.concatenate(full)
        return scores, maps


def open_cache(cache_path: Path, split: dict, spec: dict) -> ImageCache:
    cache = ImageCache(cache_path, split["manifest_sha256"])
    if cache.size != spec["image_size"]:
        raise DraError(f"{cache_path}: cache holds {cache.size} px images, the run expects {spec['image_size']} px")
    return cache


SPEC_KEYS = ("variant", "method", "dataset", "subset", "setting", "shots", "seed", "image_size", "params", "weights")


def check_spec(spec: dict, where: str) -> dict:
    """A run spec given by hand (or by the workflow) checked as the workflow checks a config: the six
    words, the method, every parameter against the method's declarations."""
    if not isinstance(spec, dict):
        raise DraError(f"{where}: a run spec is a JSON object; got {type(spec).__name__}")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise DraError(f"{where}: the run spec lacks {missing}; expected the keys of `python -m dra train --help`")
    from dra.methods import METHODS
    from dra.params import closest, defaults

    if spec["method"] not in METHODS:
        raise DraError(f"{where}: method {spec['method']!r}{closest(str(spec['method']), METHODS)}; expected one of "
                       f"{list(METHODS)}")
    if not isinstance(spec["params"], dict):
        raise DraError(f"{where}: params is {type(spec['params']).__name__}; expected an object of parameters")
    params = check_params(spec["method"], spec["params"], f"{where} params")
    missing = {k: v for k, v in defaults(spec["method"]).items() if k not in params and k != "image_size"}
    return {**spec, "params": {**params, **missing}}  # a parameter not given takes its declared default


def save_model(model: torch.nn.Module, path: Path) -> None:
    """The trained model's weights (weights only), for a later step that builds on the run."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)


def save_maps(path: Path, ids: list[str], maps: np.ndarray) -> None:
    """Every test image's anomaly map at the input's size, float16, compressed."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, ids=np.array(ids), maps=maps)


def train_run(spec: dict, split_path: Path, cache_path: Path, manifest_path: Path, out: Path,
              external: list[Path] = (), device: str = "auto", checkpoint_every: int = 0, amp: str = "auto",
              target: tuple[Path, Path, Path] | None = None, base_model: Path | None = None,
              model_out: Path | None = None, maps_out: Path | None = None, progress: bool = False) -> dict:
    """Train on the split's data and score its test set. With `target` = (split, cache, manifest) of
    another subset (cross-domain, paper Table 9): after the run's own training, fine-tune for the
    variant's `finetune_epochs` on the target's normals only (no labeled anomalies) and score the
    target's test set instead. `base_model`: the trained model an AHL run builds on; `model_out`:
    where to keep this run's model; `maps_out`: where to save every test map."""
    t0 = time.perf_counter()
    out = Path(out)
    spec = check_spec(spec, str(out))
    p = spec["params"]
    if (target is None) != (not p.get("finetune_epochs")):
        raise DraError(f"{out}: a target subset and the variant's finetune_epochs go together; got target "
                       f"{'none' if target is None else target[0]} and finetune_epochs {p.get('finetune_epochs')}")
    out.mkdir(parents=True, exist_ok=True)
    split = read_split(split_path)
    cache = open_cache(cache_path, split, spec)
    dev = pick_device(device)
    use_amp = dev.type == "cuda" if amp == "auto" else amp == "bf16"
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
    data = load_data(spec, split, cache, read_manifest(manifest_path), dev, [Path(x) for x in external],
                     base_model=None if base_model is None else Path(base_model))
    finetune, key, target_split = None, None, None
    if target is not None:
        t_split_path, t_cache_path, t_manifest_path = (Path(x) for x in target)
        target_split = read_split(t_split_path)
        finetune = load_data({**spec, "shots": 0}, target_split, open_cache(t_cache_path, target_split, spec),
                             read_manifest(t_manifest_path), dev)
        finetune.external, finetune.base_model = data.external, data.base_model
        key = digest([spec, target_split])  # a checkpoint belongs to this source/target pair only
    trainer = Trainer(spec, data, out, dev, checkpoint_every, use_amp, finetune=finetune, key=key,
                      progress=progress)
    try:
        trainer.maybe_resume()
    except RestoreFailed:
        trainer = Trainer(spec, data, out, dev, checkpoint_every, use_amp, finetune=finetune, key=key,
                          progress=progress)
    trainer.fit()
    localization = spec.get("localization")
    scores, maps = trainer.score(localization, keep_maps=maps_out is not None)
    test = trainer.data  # the last phase's data: the target's test set in a cross-domain run
    where = str(out)
    result = metrics(test.test_labels, scores["score"], where)
    if np.ptp(scores["score"]) == 0:
        raise DraError(f"{where}: every test score is {scores['score'][0]}; constant scores carry no ranking")
    pixel = {"pixel_auroc": None, "aupro": None}
    if "metric" in maps and test.test_masks is not None:
        size = maps["metric"].shape[-1]
        pixel = pixel_metrics(maps["metric"], masks_at(test.test_masks, size))
    elif not trainer.model.HAS_MAP and test.test_masks is not None:
        pixel["no_map"] = f"{spec['method']} has no native anomaly map"
    phases = trainer.summary()
    steps = sum(ph["iterations"] for ph in phases)
    images = sum(ph["images_seen"] for ph in phases)
    info = {
        **result,
        "seconds": time.perf_counter() - t0,
        "train_seconds": trainer.train_seconds,
        "images_per_second": images / trainer.train_seconds if trainer.train_seconds else None,
        "peak_memory_mb": peak_memory_mb(dev),
        "device": device_name(dev),
        "device_type": dev.type,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **pixel,
        "localization": {**LOC_DEFAULT, **(localization or {})} if pixel["pixel_auroc"] is not None else None,
        "amp": "bf16" if use_amp else "off",
        "epochs": sum(ph["epochs"] for ph in phases), "iterations": steps, "images_seen": images,
        "phases": phases,
        "lr_per_epoch": trainer.lrs,
        "resumed_from": trainer.resumed_from,
        "n_train_normal": len(data.normal), "n_labeled": 0 if data.anomaly is None else len(data.anomaly),
        "n_test": len(test.test_paths), "n_test_anomalies": int(test.test_labels.sum()),
        "pseudo_source": p.get("pseudo"),
        "outliers": p.get("outliers"),
        "texture_source": p.get("texture_source"),  # AHL: DTD's images or generated textures
        "external": [str(x) for x in external],
        "split": str(split_path), "manifest_sha256": split["manifest_sha256"],
        "target_split": None if target is None else str(target[0]),
        "target_manifest_sha256": None if target_split is None else target_split["manifest_sha256"],
        "git_commit": git_commit(), "versions": versions(),
        "config_digest": trainer.key, "spec": spec,
    }
    table = pd.DataFrame({"id": test.test_paths, "label": test.test_labels, "anomaly_class": test.test_classes,
                          "score": scores["score"]})
    for k in sorted(scores):
        if k != "score":
            table[k] = scores[k]
    with atomic_path(out / "scores.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.9g")
    if maps_out is not None:
        if "full" not in maps:
            raise DraError(f"{where}: maps asked for, but {spec['method']} has no native anomaly map")
        save_maps(Path(maps_out), list(test.test_paths), maps["full"])
    if model_out is not None:
        save_model(trainer.model, Path(model_out))
    write_text(out / "metrics.json", json.dumps(info, indent=1, default=str))
    (out / CHECKPOINT).unlink(missing_ok=True)
    return info


def anomaly_maps(spec: dict, model_path: Path, split_path: Path, cache_path: Path, manifest_path: Path,
                 external: list[Path], n_images: int, out: Path, device: str = "auto",
                 base_model: Path | None = None) -> int:
    """Maps of `n_images` test anomalies with masks (one class after the other), from a run's
    trained model: {ids, images (uint8), maps (float16, smoothed as the metrics see them), masks}."""
    from dra.localization import smooth

    spec = check_spec(spec, str(out))
    split = read_split(split_path)
    cache = open_cache(cache_path, split, spec)
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
    manifest = read_manifest(manifest_path)
    masked = manifest[(manifest["mask"] != "") & manifest.path.isin(split["test"])].sort_values("path")
    by_class = [list(g.path) for _, g in masked.groupby("anomaly_class", sort=True)]
    ids = [p for group in itertools.zip_longest(*by_class) for p in group if p is not None][:n_images]
    if not ids:
        raise DraError(f"{split_path}: no test anomaly with a mask to map")
    data = load_data(spec, split, cache, manifest, dev, [Path(x) for x in external],
                     base_model=None if base_model is None else Path(base_model))
    seed_everything(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    model = method_class(spec["method"])(spec["params"], data, gen, "none").to(dev)
    if not model.HAS_MAP:
        raise DraError(f"{spec['method']} has no native anomaly map")
    model.begin(data)  # the phase's setup first (AHL sizes its psi there), then the trained weights
    try:
        model.load_state_dict(torch.load(model_path, map_location=dev, weights_only=True))
    except Exception as e:  # noqa: BLE001 - not this run's model
        raise DraError(f"{model_path}: not the trained model of this run ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:200]}); delete it and rerun the run") from None
    model.eval()
    images = torch.from_numpy(cache.gather(cache.rows(ids))).to(dev)
    with torch.no_grad():
        maps = model.score(images, data, maps=True)["map"]
    sigma = {**LOC_DEFAULT, **(spec.get("localization") or {})}["sigma"]
    maps = smooth(maps.float(), sigma).cpu().numpy().astype(np.float16)
    with atomic_path(out, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, ids=np.array(ids), images=images.cpu().numpy(), maps=maps,
                                masks=cache.masks(ids), variant=spec["variant"], dataset=spec["dataset"],
                                subset=spec["subset"])
    return len(ids)
