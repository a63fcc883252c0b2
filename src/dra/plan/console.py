"""What the workflow says on the console, beside Snakemake's own lines: the plan at the head of a dry
run, one line per finished run while it runs (runs done of the selection, failed, interrupted, and an
ETA from the finished runs' durations), and closing lines that name every cause of a run not done.

`Console` is a logging filter on Snakemake's logger: it reads the records as they pass (a job's
start, end or error) and lets every one through unchanged. It lives in the main Snakemake process
only (on a cluster: the one that submits the jobs, so the lines reach the user's terminal, not a
job's log), costs a dictionary update per record and, per finished run, one small file read and a
few stats. Torch-free and Snakemake-free: the workflow hands it its runs and DAG questions as
functions (workflow/rules/preflight.smk)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dra.plan import runkey
from dra.plan.overview import file_state
from dra.plan.preflight import runs_text
from dra.plan.runkey import Run
from dra.progress import duration

TRAIN_RULES = ("train", "train_keep_model")


def run_of(wildcards: dict) -> Run | None:
    try:
        return Run(wildcards["variant"], wildcards["dataset"], wildcards["subset"], wildcards["setting"],
                   int(wildcards["shots"]), int(wildcards["seed"]))
    except (KeyError, TypeError, ValueError):
        return None


def who(runs) -> str:
    """'ahl_devnet, ahl_dra on elpv': the variants and datasets of some runs."""
    runs = list(runs)
    return f"{', '.join(sorted({r.variant for r in runs}))} on {', '.join(sorted({r.dataset for r in runs}))}"


@dataclass
class Failure:
    """A job that failed in this session: its rule, what it was for, its log."""
    rule: str
    jobid: int
    wildcards: dict = field(default_factory=dict)
    log: list = field(default_factory=list)

    def label(self) -> str:
        run = run_of(self.wildcards) if self.rule in TRAIN_RULES else None
        if run is not None:
            return f"train {run.dir('').lstrip('/').removeprefix('runs/')}"
        wc = ", ".join(f"{k}={v}" for k, v in self.wildcards.items())
        return self.rule + (f" ({wc})" if wc else "")


class Console(logging.Filter):
    """Reads Snakemake's log records (never drops or changes one).

    `planned()`: the runs this invocation will train (the DAG's train jobs that need to run), asked
    once, when the first job starts; `dryrun()`: whether this is a dry run; `plan()`: the plan's
    lines (dra.plan.overview), printed before Snakemake's job table in a dry run."""

    def __init__(self, runs: list[Run], results: str, planned: Callable[[], list[Run]],
                 dryrun: Callable[[], bool] = lambda: False, plan: Callable[[], list[str]] = lambda: [],
                 dependents: Callable[[int], list[Run]] = lambda jobid: [], out=None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.runs, self.results = list(runs), results
        self.selected = set(self.runs)
        self._planned, self._dryrun, self._plan, self._dependents = planned, dryrun, plan, dependents
        self.out, self.clock = out, clock
        self.lock = threading.Lock()
        self.jobs: dict[int, tuple[str, dict]] = {}   # jobid -> (rule, wildcards), from each job's start
        self.started: dict[Run, float] = {}
        self.seconds: dict[Run, float] = {}          # finished in this session
        self.failures: list[Failure] = []
        self.todo: set[Run] | None = None
        self.done_before = 0
        self.first_start: float | None = None
        self.planned_shown = False
        self.stopped = False  # Snakemake was told to stop (Ctrl-C)
        self.blocked: set[Run] = set()  # runs that hang on a failed job

    # --- records ------------------------------------------------------------------------------
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            with self.lock:
                self.read(record)
        except Exception as e:  # noqa: BLE001 - a console line is never worth a failed workflow
            self.say(f"(progress line unavailable: {type(e).__name__}: {e})")
        return True

    def read(self, record: logging.LogRecord) -> None:
        event = str(getattr(record, "event", "") or "")
        if event == "run_info" and not self.planned_shown and self._dryrun():
            self.planned_shown = True
            lines = self._plan()
            if lines:
                self.say("\n".join(lines) + "\n")
        elif event == "job_info" and not self._dryrun():
            self.job_started(int(record.jobid), record.rule_name, dict(getattr(record, "wildcards", None) or {}))
        elif event == "job_finished":
            self.job_finished(int(record.job_id))
        elif event == "job_error":
            log = getattr(record, "log", None) or []
            self.job_failed(int(record.jobid), record.rule_name, list(log) if isinstance(log, (list, tuple)) else [log])
        elif not event and str(record.getMessage()).startswith("Terminating processes on user request"):
            self.stopped = True  # a plain info line: formatting every record's message would slow a dry run

    def say(self, text: str) -> None:
        out = self.out or sys.stderr
        out.write(text + "\n")
        out.flush()

    # --- what the records say -------------------------------------------------------------------
    def _begin(self) -> None:
        if self.todo is None:
            self.todo = set(self._planned())
            self.done_before = sum(file_state(r, self.results) == "done" for r in self.runs if r not in self.todo)

    def job_started(self, jobid: int, rule: str, wildcards: dict) -> None:
        self._begin()
        self.jobs[jobid] = (rule, wildcards)
        run = run_of(wildcards) if rule in TRAIN_RULES else None
        if run is not None:
            now = self.clock()
            self.started[run] = now
            self.first_start = now if self.first_start is None else self.first_start

    def started_here(self, jobid: int) -> bool:
        """Whether the job started in this session and reported no error (its outputs, if there, are
        its own: Snakemake removes a job's old outputs before it starts)."""
        return jobid in self.jobs and all(f.jobid != jobid for f in self.failures)

    def _train_run(self, jobid: int) -> Run | None:
        rule, wildcards = self.jobs.get(jobid, ("", {}))
        return run_of(wildcards) if rule in TRAIN_RULES else None

    def job_finished(self, jobid: int) -> None:
        run = self._train_run(jobid)
        if run is None:
            return
        self.seconds[run] = self._seconds(run)
        self.say(self.progress_line())

    def job_failed(self, jobid: int, rule: str, log: list) -> None:
        self._begin()
        _, wildcards = self.jobs.get(jobid, (rule, {}))
        self.failures = [f for f in self.failures if f.jobid != jobid]  # a retried job: its last failure
        self.failures.append(Failure(rule, jobid, wildcards, log))
        self.blocked |= set(self._dependents(jobid))
        self.say(self.progress_line())

    def _seconds(self, run: Run) -> float:
        """The run's own duration (metrics.json `seconds`); the wall time Snakemake saw where unreadable."""
        try:
            return float(json.loads(Path(runkey.run_file(run, self.results, "metrics")).read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.clock() - self.started.get(run, self.clock())

    # --- the progress line ------------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds until this invocation's runs are trained: each run left takes the mean duration of
        the finished runs of its variant (of all, for a variant with none yet), divided by how many
        ran side by side (the finished runs' total time over the wall time since the first began)."""
        if not self.seconds or self.first_start is None:
            return None
        ended = {f.jobid for f in self.failures}
        failed = {run_of(w) for j, (rule, w) in self.jobs.items() if j in ended and rule in TRAIN_RULES}
        left = [r for r in self.todo or () if r not in self.seconds and r not in failed and r not in self.blocked]
        by_variant: dict[str, list[float]] = {}
        for r, s in self.seconds.items():
            by_variant.setdefault(r.variant, []).append(s)
        mean = sum(self.seconds.values()) / len(self.seconds)
        work = sum(sum(by_variant[r.variant]) / len(by_variant[r.variant]) if r.variant in by_variant else mean
                   for r in left)
        wall = max(self.clock() - self.first_start, 1e-9)
        parallel = max(1.0, sum(self.seconds.values()) / wall)
        return work / parallel

    def progress_line(self) -> str:
        states = Counter()
        for f in self.failures:
            run = run_of(f.wildcards) if f.rule in TRAIN_RULES else None
            if run is not None:  # its log may say it was interrupted; otherwise it failed
                states["interrupted" if file_state(run, self.results) == "interrupted" else "failed"] += 1
        done = self.done_before + sum(1 for r in self.seconds if r in self.selected)
        todo = len(self.todo or ())
        finished_here = len(self.seconds) + states["failed"] + states["interrupted"]
        eta = self.eta()
        parts = [f"runs: {done}/{len(self.runs)} done"]
        if states["failed"]:
            parts.append(f"{states['failed']} failed")
        if states["interrupted"]:
            parts.append(f"{states['interrupted']} interrupted")
        blocked = len(self.blocked & (self.todo or set()))
        if blocked:
            parts.append(f"{blocked} cannot run (a job they need failed)")
        line = ", ".join(parts) + f"; this invocation {finished_here}/{todo}"
        if eta is not None and finished_here + blocked < todo:
            line += f", ETA {duration(eta)}"
        return line


def closing_lines(runs: list[Run], results: str, failures: list[Failure],
                  dependents: Callable[[int], list[Run]], in_dag: set[Run], keep_going: bool,
                  advice: Callable[[Failure, list[Run]], str] = lambda f, runs: "", stopped: bool = False) -> list[str]:
    """The workflow's last lines about runs: how many are done, failed, interrupted and not run, of the
    selection; then each failed job that is not a run with the runs that hang on it, its log and
    advice (a download's alternative); the runs left because Snakemake stopped starting jobs, and
    those these targets did not ask for."""
    states = {r: file_state(r, results) for r in runs}
    n = Counter(states.values())
    left = {r for r, s in states.items() if s == "to run"}
    head = [f"{n['done']} done"]
    if n["failed"]:
        head.append(f"{n['failed']} failed (their logs: {results}/logs/train/)")
    if n["interrupted"]:
        head.append(f"{n['interrupted']} interrupted (a rerun resumes each from its checkpoint, where it wrote one)")
    head.append(f"{len(left)} not run")
    lines = [f"runs: {', '.join(head)}, of the {len(runs)} the configuration selects"]
    if stopped:
        lines.append("  the workflow was stopped on request; the same command goes on where it stopped")
    explained: set[Run] = set()
    for f in failures:
        hanging = sorted(set(dependents(f.jobid)) & left)
        if f.rule in TRAIN_RULES and not hanging:
            continue  # counted above as failed or interrupted
        explained |= set(hanging)
        log = f" (log: {', '.join(map(str, f.log))})" if f.log else ""
        text = f"  {f.label()} failed{log}"
        if hanging:
            text += f": {runs_text(len(hanging))} depend{'s' if len(hanging) == 1 else ''} on it ({who(hanging)})"
        tip = advice(f, hanging)
        lines.append(text + (f"; {tip}" if tip else ""))
    rest = left - explained
    asked = rest & in_dag
    if asked:
        if stopped:
            why = "the workflow was stopped"
        elif failures and not keep_going:
            why = ("Snakemake starts no new job after a failure; --keep-going runs every job that does not depend on "
                   "a failed one")
        else:
            why = "their jobs did not run"
        lines.append(f"  {runs_text(len(asked))} not started: {why}")
    if rest - asked:
        lines.append(f"  {runs_text(len(rest - asked))} not asked for by these targets (all_tables asks for every one)")
    return lines
