"""Progress lines on stderr (a run's log): a stage of known size says what it does and how much as
it starts, then how far it is with an ETA, then how long it took. Torch-free, so that a method's
own setup (AHL's feature bank) logs as the training loop does."""

from __future__ import annotations

import sys
import time


def duration(seconds: float) -> str:
    """'0m07s', '12m30s', '1h05m'; '?' for an unknown (nan) duration."""
    if seconds != seconds:  # nan
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Meter:
    """One stage of `total` units: a line as it starts, then one about every tenth of it (and at
    least one a minute) with the rate and an ETA, then one when done."""

    def __init__(self, what: str, total: int, unit: str, detail: str = ""):
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.done_units = 0
        self.t0 = self.last = time.perf_counter()
        self.every = max(1, self.total // 10)
        self.next = self.every
        say(f"{what}: {self.total:,} {unit}{detail}")

    def advance(self, n: int = 1) -> None:
        self.done_units += n
        now = time.perf_counter()
        if self.done_units < self.total and self.done_units < self.next and now - self.last < 60:
            return
        self.next = (self.done_units // self.every + 1) * self.every
        self.last = now
        if self.done_units >= self.total:
            return
        rate = self.done_units / max(now - self.t0, 1e-9)
        eta = (self.total - self.done_units) / rate if rate else float("nan")
        say(f"{self.what}: {self.done_units:,}/{self.total:,} {self.unit}, {rate:.1f} {self.unit}/s, "
            f"eta {duration(eta)}")

    def finish(self) -> float:
        seconds = time.perf_counter() - self.t0
        say(f"{self.what}: done in {duration(seconds)}")
        return seconds
