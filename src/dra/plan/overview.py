"""The plan on one screen: what a configuration's selection runs, per table, dataset and variant;
which runs are done, which an edit reruns (naming the changed source files and configuration keys,
never a digest), which were interrupted (a rerun resumes them) or failed; what the workflow will
download and what only a person can place. From the config and the results folder alone (no DAG,
no torch): `python -m dra plan`, `make plan`, and the head of the workflow's dry run."""

from __future__ import annotations

import json
import os
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dra.plan import runkey
from dra.plan.config import run_data_files, run_spec, variant_spec
from dra.plan.matrix import empty_selected
from dra.plan.runkey import CHECKPOINT, Run
from dra.plan.sources import changed_files, train_modules

WIDTH = 110
STATES = ("done", "rerun", "interrupted", "failed", "to run")


@dataclass(frozen=True)
class RunState:
    state: str       # one of STATES
    why: str = ""    # rerun: what changed; failed: the log


def _flat(obj, prefix="") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def spec_changes(recorded: dict, current: dict) -> list[str]:
    """The keys (dotted: params.iterations) whose value differs between a run's recorded spec and the
    one the configuration gives it now."""
    a, b = _flat(recorded), _flat(json.loads(json.dumps(current)))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def file_state(run: Run, results: str) -> str:
    """What a run's files say: done (metrics.json), interrupted (a checkpoint and no metrics.json: a
    rerun resumes it; or a log whose last line says the run was interrupted before it had one),
    failed (a log and neither), to run."""
    words = run.words()
    folder = runkey.RUN_DIR.format(results=results, **words)  # strings, not Paths: thousands a dry run
    if os.path.isfile(os.path.join(folder, runkey.RUN_FILES["metrics"])):
        return "done"
    if os.path.isfile(os.path.join(folder, CHECKPOINT)):
        return "interrupted"
    log = runkey.RUN_LOG.format(results=results, **words)
    if os.path.isfile(log):
        return "interrupted" if _ends_interrupted(Path(log)) else "failed"
    return "to run"


def _ends_interrupted(log: Path) -> bool:
    """The train command's last line on a signal is '<run folder>: interrupted ...' (dra.run.interrupt)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(f.seek(0, 2) - 2048, 0))
            tail = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return False
    return bool(tail) and ": interrupted" in tail[-1]


def run_state(cfg: dict, run: Run, results: str, resolved: dict | None = None) -> RunState:
    """file_state, and for a done run whether Snakemake reruns it: where its spec or a file of its code
    changed since it ran, or a data file it reads is newer or missing (naming them)."""
    state = file_state(run, results)
    if state == "failed":
        return RunState(state, runkey.RUN_LOG.format(results=results, **run.words()))
    if state != "done":
        return RunState(state)
    metrics = Path(run.dir(results)) / runkey.RUN_FILES["metrics"]
    try:
        m = json.loads(metrics.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return RunState("rerun", f"unreadable {metrics.name}")
    spec = run_spec(cfg, *run.words().values(), resolved=resolved)
    changed = spec_changes(m.get("spec") or {}, spec)
    if changed:
        return RunState("rerun", "configuration: " + ", ".join(changed))
    if not m.get("code_files"):
        return RunState("done", "no code record")
    files = changed_files(m["code_files"], train_modules(spec["method"]))
    if files:
        return RunState("rerun", "code: " + ", ".join(files))
    data = stale_data(run_data_files(cfg, spec), [metrics, metrics.with_name(runkey.RUN_FILES["scores"])])
    if data:
        return RunState("rerun", "data: " + ", ".join(data))
    return RunState("done")


def stale_data(files: dict, outputs: list[Path]) -> list[str]:
    """The data files a run reads that are newer than its outputs, or missing (each rebuilt first):
    Snakemake reruns the run for either."""
    try:
        written = min(os.path.getmtime(o) for o in outputs)
    except OSError:
        return []
    def why(f: str) -> str | None:
        try:
            return " (newer than the run)" if os.path.getmtime(f) > written else None
        except OSError:
            return " (missing)"

    paths = [f for v in files.values() for f in (v if isinstance(v, list) else [v])]
    return [f + w for f in paths if (w := why(f))]


def run_states(cfg: dict, runs: list[Run]) -> dict[Run, RunState]:
    results = cfg["paths"]["results"]
    resolved = {}
    out = {}
    for r in runs:
        key = (r.variant, r.dataset)
        if key not in resolved:
            resolved[key] = variant_spec(cfg, r.variant, r.dataset)
        out[r] = run_state(cfg, r, results, resolved[key])
    return out


def _counts(runs: list[Run], states: dict[Run, RunState], key) -> str:
    """'elpv 99 (40 done)' per group, in first-seen order."""
    total, done = Counter(), Counter()
    for r in runs:
        total[key(r)] += 1
        done[key(r)] += states[r].state == "done"
    return ", ".join(f"{k} {n}" + (f" ({done[k]} done)" if done[k] else "") for k, n in total.items())


def _wrapped(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"  {label:<10}", subsequent_indent=" " * 12,
                         break_on_hyphens=False) or [f"  {label}"]


def overview(cfg: dict, by_artefact: dict[str, list[Run]], sources: str = "") -> list[str]:
    """The plan's lines (about a screen): runs and their states, per table, dataset and variant; what
    reruns and why; tables the selection leaves empty; downloads; what only a person can place."""
    from dra.plan.preflight import DOWNLOADS, needs, runs_text, selection_downloads

    runs = sorted({r for rs in by_artefact.values() for r in rs})
    states = run_states(cfg, runs)
    n = Counter(s.state for s in states.values())
    where = f" ({sources})" if sources else ""
    lines = [f"Plan{where}: {runs_text(len(runs))}, results in {cfg['paths']['results']}/",
             "  " + ", ".join(f"{n[s]} {s}" for s in STATES if n[s] or s in ("done", "to run"))]
    lines += _wrapped("tables", ", ".join(f"{t} {len(rs)}" + (f" ({d} done)" if (d := sum(states[r].state == "done"
                                                                                        for r in rs)) else "")
                                          for t, rs in by_artefact.items()))
    lines += _wrapped("datasets", _counts(runs, states, lambda r: r.dataset))
    lines += _wrapped("variants", _counts(runs, states, lambda r: r.variant))
    reasons = Counter(s.why for s in states.values() if s.state == "rerun")
    for why, k in reasons.most_common(4):
        variants = sorted({r.variant for r, s in states.items() if s.why == why})
        lines += _wrapped("rerun", f"{runs_text(k)} ({', '.join(variants)}): {why} changed since they ran")
    if len(reasons) > 4:
        lines.append(f"  {'':<10}and {sum(reasons.values()) - sum(k for _, k in reasons.most_common(4))} more runs "
                     "for other changes")
    unknown = sum(s.why == "no code record" for s in states.values())
    if unknown:
        lines += _wrapped("done?", f"{runs_text(unknown)} done do not record their code's files (made by an older version): "
                                   "an edit since then is not seen here; Snakemake's dry run says whether they rerun")
    if n["interrupted"]:
        saved = sum((Path(r.dir(cfg["paths"]["results"])) / CHECKPOINT).is_file()
                    for r, s in states.items() if s.state == "interrupted")
        lines.append(f"  {'resume':<10}{runs_text(n['interrupted'])} interrupted; {saved} with a checkpoint the rerun "
                     "resumes from" + (f", {n['interrupted'] - saved} stopped before they had one"
                                       if saved < n["interrupted"] else ""))
    if n["failed"]:
        first = next(s.why for s in states.values() if s.state == "failed")
        lines += _wrapped("failed", f"{runs_text(n['failed'])} failed before and run again; e.g. {first}")
    lines += [f"  {'skipped':<10}{line}" for line in empty_selected(cfg, by_artefact)]
    fetched, found = selection_downloads(cfg, runs), needs(cfg, runs)
    if fetched:
        lines += [DOWNLOADS] + [d.short() for d in fetched]
    if found:
        lines += ["Only a person can provide these (the workflow starts no job until they are there):"]
        lines += [n.short() for n in found]
    else:
        lines.append("Nothing needs a person's hand.")
    if fetched or found:
        lines.append("Where each file comes from and goes: python -m dra datasets --configfile <the same files>")
    return lines
