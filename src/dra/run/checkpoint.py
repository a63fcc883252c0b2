"""A run's checkpoint: model, optimiser, scheduler, every RNG state, phase and step, from which a
killed run resumes to exactly the scores an uninterrupted run gives (CPU). A checkpoint is data,
never code: it is loaded with weights_only and its structure checked."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import torch

from dra.plan.runkey import CHECKPOINT  # noqa: F401 - the run key owns every path
CHECKPOINT_KEYS = ("key", "phase", "epoch", "iteration", "lrs", "train_seconds", "model", "opt", "sched", "rng",
                   "samplers")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
