"""Training progress on stderr (the run's log): epoch, iteration, loss, throughput and an ETA."""

from __future__ import annotations

import sys
import time

import torch

from dra.progress import duration

__all__ = ["Progress", "duration"]


class Progress:
    """About twenty lines a run and at least one a minute; by hand (`progress`, a terminal) a bar
    redrawn in place. `per_step` units go through the network per step (`unit`: images for every
    method but AHL, whose steps push cached feature maps through its heads)."""

    def __init__(self, total: int, done: int, per_step: int, bar: bool = False, phase: str = "",
                 unit: str = "images"):
        self.total, self.start_done, self.per_step, self.unit = max(total, 1), done, per_step, unit
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
                f"{rate * self.per_step:.1f} {self.unit}/s eta {duration(eta)}")
        if self.bar:
            filled = int(30 * done / self.total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {text}   ")
            if done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
