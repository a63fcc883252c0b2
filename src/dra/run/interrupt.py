"""Stopping a run cleanly. SIGINT (Ctrl-C) and SIGTERM (a cluster's cancel or preemption) while a run
trains let the step in progress finish; the run then writes its checkpoint and stops with one line
and exit status EXIT_INTERRUPTED, and the same command (or the workflow's rerun) resumes from that
checkpoint to the scores an uninterrupted run gives. Deferring to the end of the step is what makes
the checkpoint exact: a step interrupted half-way has moved batch-norm statistics, samplers and
random generators that no checkpoint could put back. Outside the training loop (loading, setup,
scoring) and at a second signal the run stops at once."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

# sysexits' EX_TEMPFAIL: not the run's failure; run it again to resume
EXIT_INTERRUPTED = 75
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The run was stopped by a signal; the message says where and what a rerun does. The train
    command prints it as its last line, '<run folder>: interrupted ...', which is how a plan tells an
    interrupted run from a failed one (dra.plan.overview.file_state)."""


class StopRequest:
    """The signal handler of one run. While `deferred()`, a first signal is only recorded (the loop
    asks `requested` at the end of each step); otherwise, or at a second signal, KeyboardInterrupt."""

    def __init__(self):
        self.signum: int | None = None
        self.defer = False

    def _handler(self, signum, frame):
        first = self.signum is None
        if first:
            self.signum = signum
        if not (first and self.defer):
            raise KeyboardInterrupt

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "KeyboardInterrupt"

    @contextmanager
    def installed(self):
        """The handler for SIGINT and SIGTERM while the run lasts (main thread only; a signal the
        parent set to be ignored stays ignored)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.getsignal(s) for s in SIGNALS}
        for s, h in old.items():
            if h is not signal.SIG_IGN:
                signal.signal(s, self._handler)
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, signal.SIG_DFL if h is None else h)

    @contextmanager
    def deferred(self):
        self.defer = True
        try:
            yield
        finally:
            self.defer = False
