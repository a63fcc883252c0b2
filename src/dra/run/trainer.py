"""The one training loop every method uses: phases (a run's own training; a cross-domain run's
fine-tuning on a target subset's normals), optimiser steps, checkpoints, and scoring the test set."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dra.errors import DraError
from dra.methods import method_class
from dra.methods.rundata import RunData
from dra.plan.config import digest
from dra.run.checkpoint import CHECKPOINT, read_checkpoint, rng_state, seed_everything, set_rng_state, warn
from dra.run.localization import DEFAULT as LOC_DEFAULT
from dra.run.localization import for_metrics, metric_size
from dra.progress import Meter, say
from dra.run.interrupt import Interrupted, StopRequest
from dra.run.progress import Progress
from dra.run.schedule import make_optimizer
from dra.fsutil import atomic_path, ensure_free, nbytes_of


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
    model carried over). Epoch and iteration count within the current phase; the phase is saved too.
    A stop request (`stop`: SIGINT, SIGTERM) is honoured at the end of a step: checkpoint, then
    Interrupted."""

    def __init__(self, spec: dict, data: RunData, out: Path, device: torch.device, checkpoint_every: int = 0,
                 amp: bool = False, finetune: RunData | None = None, key: str | None = None,
                 progress: bool = False, stop: StopRequest | None = None):
        self.spec, self.out, self.device = spec, Path(out), device
        self.progress = progress
        self.stop = stop or StopRequest()
        self.params = spec["params"]
        self.phases = [Phase("train", data, self.params["epochs"])]
        if finetune is not None:
            self.phases.append(Phase("finetune", finetune, self.params["finetune_epochs"]))
        self.phase = 0
        self.checkpoint_every = checkpoint_every
        self.amp = amp
        seed_everything(spec["seed"])
        self.gen = torch.Generator().manual_seed(spec["seed"])
        self.model = method_class(spec["method"])(self.params, data, self.gen).to(device)
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        labeled = 0 if data.anomaly is None else len(data.anomaly)
        say(f"setup: {spec['method']} on {len(data.normal):,} train normals and {labeled} labeled anomalies at "
            f"{data.image_size} px")
        self.model.begin(data)
        self.opt, self.sched = make_optimizer(self.model, self.params)
        self.key = key or digest(spec)
        self.epoch, self.iteration, self.lrs, self.train_seconds = 0, 0, [], 0.0
        self.resumed_from = None
        self.final: dict | None = None  # the state when training ended, kept while the test set is scored

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
            unit = self.model.THROUGHPUT_UNIT.replace(" ", "_")
            out.append({"phase": ph.name, "epochs": ph.epochs, "iterations": its,
                        f"{unit}_seen": its * self.model.images_per_step(ph.data),
                        "n_train_normal": len(ph.data.normal),
                        "n_labeled": 0 if ph.data.anomaly is None else len(ph.data.anomaly)})
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a checkpoint holds, as of now (the tensors themselves, not copies)."""
        return {"key": self.key, "phase": self.phase, "epoch": self.epoch, "iteration": self.iteration,
                "lrs": list(self.lrs), "train_seconds": self.train_seconds, "model": self.model.state_dict(),
                "opt": self.opt.state_dict(), "sched": self.sched.state_dict(), "rng": rng_state(self.gen),
                "samplers": self.model.sampler_state(), "extra": self.model.extra_state()}

    def save(self, state: dict | None = None) -> None:
        state = self.state() if state is None else state
        ensure_free(self.out, nbytes_of(state) + (1 << 20), f"the checkpoint {CHECKPOINT}")
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
        say(f"resumed from the checkpoint {path} after {self.where()}")
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
                break
            self.begin_phase(self.phase + 1)
        # scoring changes no training state but may draw from the generator: an interruption while
        # scoring checkpoints this state, from which a rerun scores exactly as this run would have
        self.final = self.state()

    def where(self) -> str:
        """'step 13 of 32' (of phase finetune): how far training is."""
        its = [self.iterations(k) for k in range(len(self.phases))]
        done = sum(self.phases[k].epochs * its[k] for k in range(self.phase)) + self.epoch * its[self.phase] + self.iteration
        total = sum(ph.epochs * n for ph, n in zip(self.phases, its))
        return f"step {done} of {total}" + (f" (phase {self.phases[self.phase].name})" if len(self.phases) > 1 else "")

    def interrupted(self, during: str) -> Interrupted:
        """The stop request honoured: the checkpoint written where the state is whole (at the end of a
        step, or training's end while scoring), the one line that says so."""
        name = self.stop.name()
        state = self.final if during == "scoring" else (self.state() if during == "step end" else None)
        if state is not None:
            self.save(state)
            at = f"after {self.where()}" if during == "step end" else "while scoring, training done"
            return Interrupted(f"interrupted ({name}) {at}: checkpoint {self.out / CHECKPOINT} written; the same "
                               "command resumes from it")
        kept = (f"its checkpoint {self.out / CHECKPOINT} from earlier stays and a rerun resumes from it"
                if (self.out / CHECKPOINT).is_file() else "no checkpoint yet, so a rerun starts over")
        return Interrupted(f"interrupted ({name}) in the middle of training, after {self.where()}, where no "
                           f"checkpoint can be whole; {kept}")

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
        name = self.phases[self.phase].name
        per_step, unit = self.model.images_per_step(self.data), self.model.THROUGHPUT_UNIT
        left = total - steps_done
        say(f"{name}: {epochs} epochs x {iterations} iterations, {left} of {total} steps to go, "
            f"{self.model.step_text(self.data)} a step")
        log = Progress(total, steps_done, per_step, bar=self.progress,
                       phase=name if len(self.phases) > 1 else "", unit=unit)
        while self.epoch < epochs:
            with self.stop.deferred():  # a signal from here on is honoured where the state is whole
                if self.iteration == 0:
                    self.sched.epoch_start()
                    self.lrs.append(self.sched.lr())
                self.model.train()
            while self.iteration < iterations:
                with self.stop.deferred():
                    t = time.perf_counter()
                    loss = self.step()
                    self.train_seconds += time.perf_counter() - t
                    self.iteration += 1
                    steps_done += 1
                    log.step(steps_done, self.epoch, epochs, self.iteration, iterations, loss)
                    # a method whose step is a whole epoch (AHL) is saved after each one
                    every = 1 if self.model.STEP_IS_EPOCH else self.checkpoint_every
                    if self.checkpoint_every and steps_done % every == 0 and not self.stop.requested:
                        self.save()
                if self.stop.requested:
                    raise self.interrupted("step end")
            with self.stop.deferred():
                self.sched.epoch_end()
                self.epoch, self.iteration = self.epoch + 1, 0
            if self.stop.requested:
                raise self.interrupted("step end")

    @torch.no_grad()
    def score(self, localization: dict | None = None, keep_maps: bool = False) -> tuple[dict, dict]:
        """Score the test set: ({score and per-head parts: float64 N}, maps) where maps holds, when the
        method has a map and the test set has masks (or `keep_maps`), "metric" (the maps as the pixel
        metrics see them, `dra.run.localization`) and with `keep_maps` "full" (float16 at input size)."""
        self.model.eval()
        loc = {**LOC_DEFAULT, **(localization or {})}
        want = self.model.HAS_MAP and (self.data.test_masks is not None or keep_maps)
        size = metric_size(self.data.image_size, loc["size"])
        n, bs = len(self.data.test), self.params["test_batch"]
        parts: dict[str, list] = {}
        metric, full = [], []
        meter = Meter("scoring", n, "test images")
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
            meter.advance(len(idx))
        meter.finish()
        scores = {k: torch.cat(v).numpy().astype(np.float64) for k, v in parts.items()}
        maps = {}
        if metric:
            maps["metric"] = np.concatenate(metric)
        if full:
            maps["full"] = np.concatenate(full)
        return scores, maps
