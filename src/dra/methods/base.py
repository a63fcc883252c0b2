"""The interface every method implements; the pipeline owns data, seeds, devices, files and metrics."""

from __future__ import annotations

import torch
from torch import nn

from dra.nets.augment import normalize, random_rotate, to_float
from dra.errors import DraError
from dra.methods.rundata import ImagePool, RunData

def external_pool(data: RunData, what: str) -> ImagePool:
    """The run's external image pool; the run checked against its spec that it got the pool the
    spec names (dra.run.inputs, with what to do about a missing one), so here only a run built by
    hand without it can fail."""
    if data.external is None or len(data.external) == 0:
        raise DraError(f"{what} come from an external image pool, but this run has none (no --external cache)")
    return data.external


class CycleSampler:
    """Indices into a pool, walked through a random permutation, a fresh one (from the run's
    generator) whenever it runs out: the authors' balanced sampler, so that a batch's anomaly slots
    hold nearly every labeled anomaly instead of independent draws with replacement. Its state (the
    permutation and the position in it) goes into the run's checkpoint."""

    def __init__(self, n: int, gen: torch.Generator):
        self.n, self.gen = n, gen
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def take(self, k: int) -> torch.Tensor:
        out = []
        while k > 0:
            if self.perm is None or self.pos == self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
            step = min(k, self.n - self.pos)
            out.append(self.perm[self.pos:self.pos + step])
            self.pos += step
            k -= step
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def state_dict(self) -> dict:
        return {"n": self.n, "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        if state["n"] != self.n:
            raise DraError(f"sampler state for a pool of {state['n']} images, this run's has {self.n}")
        self.perm, self.pos = state["perm"], int(state["pos"])


class Method(nn.Module):
    """A method is built from its parameters (config), trained by `dra.run.train`'s one loop through
    `loss(data)`, and asked for `score(images)` -> {"score": ..., optional per-head parts}.

    A training step is two halves: `make_batch(data)` draws and augments the step's inputs (every
    sampling and augmentation draw), `batch_loss(batch)` runs the network on them and returns the
    loss (with the loss's own draws, e.g. the deviation loss's reference scores). `loss` is the one
    after the other; the benchmark replays one made batch through `batch_loss` to time the model
    alone."""

    def __init__(self, params: dict, data: RunData, gen: torch.Generator):
        super().__init__()
        self.params = params
        self.gen = gen

    # --- training -------------------------------------------------------------------------
    def begin(self, data: RunData) -> None:
        """The start of a training phase: fresh balanced samplers over the phase's pools, then `setup`."""
        self.samplers = {"normal": CycleSampler(len(data.normal), self.gen)}
        if data.anomaly is not None:
            self.samplers["anomaly"] = CycleSampler(len(data.anomaly), self.gen)
        self.setup(data)

    def sampler_state(self) -> dict:
        return {k: s.state_dict() for k, s in self.samplers.items()}

    def load_sampler_state(self, state: dict) -> None:
        if set(state) != set(self.samplers):
            raise DraError(f"sampler state for pools {sorted(state)}, this run has {sorted(self.samplers)}")
        for k, s in state.items():
            self.samplers[k].load_state_dict(s)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """What the run's optimiser steps (a method with a second optimiser of its own, or a frozen
        part, narrows this)."""
        return [p for p in self.parameters() if p.requires_grad]

    def extra_state(self) -> dict:
        """State beyond the module's tensors and the samplers that a checkpoint must hold for an
        exact resume (tensors and plain values only: checkpoints are loaded with weights_only)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        if state:
            raise DraError(f"checkpoint holds extra state {sorted(state)} this method does not keep")

    def setup(self, data: RunData) -> None:
        """Called at the start of each training phase with that phase's data, before its first step
        (e.g. DeepSAD's centre)."""

    def loss(self, data: RunData) -> torch.Tensor:
        """One training step's loss: a batch drawn and augmented on the device, then the network."""
        return self.batch_loss(self.make_batch(data))

    def make_batch(self, data: RunData) -> tuple:
        """The step's inputs, ready for the network (tensors on the device): sampling and augmentation."""
        raise NotImplementedError

    def batch_loss(self, batch: tuple) -> torch.Tensor:
        """The loss on a batch that `make_batch` made: the network's forward pass and the loss."""
        raise NotImplementedError

    def images_per_step(self, data: RunData) -> int:
        """Images pushed through the network per step on this data (for images/second and images seen;
        a method whose steps push something else counts that, named by THROUGHPUT_UNIT)."""
        raise NotImplementedError

    #: what images_per_step counts: images through the network, as every method but AHL
    THROUGHPUT_UNIT = "images"

    def step_text(self, data: RunData) -> str:
        """What one step does, for the run's log."""
        return f"{self.images_per_step(data)} {self.THROUGHPUT_UNIT}"

    def iterations_per_epoch(self, data: RunData) -> int:
        """Steps per epoch; the config's fixed `iterations` unless a method defines an epoch otherwise."""
        return int(self.params["iterations"])

    # --- scoring --------------------------------------------------------------------------
    #: whether the method has a native anomaly map (score(..., maps=True) returns "map")
    HAS_MAP = True
    #: one optimiser step is a whole epoch (AHL): checkpoints are written after each
    STEP_IS_EPOCH = False

    def score(self, images: torch.Tensor, data: RunData, maps: bool = False) -> dict[str, torch.Tensor]:
        """{"score": N, optional per-head parts ("head_<name>": N), with `maps` and HAS_MAP also
        "map": N x H x W, the anomaly map at the input's resolution}."""
        raise NotImplementedError

    # --- shared helpers -------------------------------------------------------------------
    def draw(self, pool: ImagePool, n: int) -> torch.Tensor:
        """n images drawn uniformly with replacement, uint8 on the pool's device (references,
        external images)."""
        return pool[torch.randint(len(pool), (n,), generator=self.gen)]

    def cycle(self, data: RunData, pool: str, n: int) -> torch.Tensor:
        """n images of the run's `normal` or `anomaly` pool from its balanced sampler, uint8."""
        return getattr(data, pool)[self.samplers[pool].take(n)]

    def labeled_batch(self, data: RunData, n_normal: int, n_anomaly: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The balanced batch: n_normal training normals (label 0), then n_anomaly labeled anomalies
        (label 1), each from its pool's balanced sampler; no anomaly slots when the run has none.
        Float [0, 1]."""
        parts = [to_float(self.cycle(data, "normal", n_normal))]
        labels = [torch.zeros(n_normal)]
        if data.anomaly is not None and n_anomaly > 0:
            parts.append(to_float(self.cycle(data, "anomaly", n_anomaly)))
            labels.append(torch.ones(n_anomaly))
        x = torch.cat(parts)
        return x, torch.cat(labels).to(x.device)

    def labeled_count(self, data: RunData, n_normal: int, n_anomaly: int) -> int:
        """How many images `labeled_batch` returns on this data."""
        return n_normal + (n_anomaly if data.anomaly is not None and n_anomaly > 0 else 0)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """float [0, 1] -> randomly rotated, normalised (the training transform)."""
        return normalize(random_rotate(x, self.gen, self.params["rotation"]))

    @staticmethod
    def test_view(images_u8: torch.Tensor) -> torch.Tensor:
        return normalize(to_float(images_u8))
