"""Adam + StepLR, stepped at the start (DRA's code) or the end (DevNet's) of each epoch."""

from __future__ import annotations

import warnings

import torch

from dra.errors import DraError


class Schedule:
    def __init__(self, optimizer: torch.optim.Optimizer, step: int, gamma: float, at: str):
        if at not in ("start", "end"):
            raise DraError(f"scheduler_at {at!r}: expected start or end")
        self.at = at
        self.sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=gamma)

    def epoch_start(self) -> None:
        if self.at == "start":
            with warnings.catch_warnings():  # stepping before the first optimizer.step() is intended
                warnings.simplefilter("ignore", UserWarning)
                self.sched.step()

    def epoch_end(self) -> None:
        if self.at == "end":
            self.sched.step()

    def lr(self) -> float:
        return self.sched.optimizer.param_groups[0]["lr"]

    def state_dict(self):
        return self.sched.state_dict()

    def load_state_dict(self, state):
        self.sched.load_state_dict(state)


def make_optimizer(model: torch.nn.Module, params: dict) -> tuple[torch.optim.Optimizer, Schedule]:
    """Adam with L2 weight decay (not AdamW), as the authors' code."""
    trainable = model.trainable_parameters() if hasattr(model, "trainable_parameters") else [
        p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=params["lr"], weight_decay=params["weight_decay"])
    return opt, Schedule(opt, params["lr_step"], params["lr_gamma"], params["scheduler_at"])
