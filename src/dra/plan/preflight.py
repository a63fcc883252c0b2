"""The pre-flight: everything the requested work needs that only a person (or an online machine) can
provide, listed once before any job starts, with what to do about each.

Three kinds of need: a dataset's raw files that must be placed by hand (Kaggle's BrainMRI and
HeadCT, LAG, MVTec AD's archive when its link is down), the pretrained weights of `weights:
imagenet`, and the external pools some variants draw from (LAG for the medical datasets, with the
config keys that do without it). The workflow calls `blockers` with the jobs its DAG will run;
`python -m dra datasets --configfile ...` calls `needs` for the configuration's selected runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dra.plan import runkey
from dra.plan.config import run_spec
from dra.data.download import files_of, manual_message
from dra.data.external import POOLS, ROLES
from dra.data.registry import dataset_module
from dra.plan.weights import FETCH_HELP, weight_files
from dra.plan.runkey import Run



@dataclass
class Need:
    kind: str                 # "raw", "weights"
    name: str                 # dataset or file
    missing: list[str]        # files that are not there
    help: str                 # what to do
    needed_by: str = ""

    def text(self) -> str:
        who = f" (needed by {self.needed_by})" if self.needed_by else ""
        return f"- {self.name}{who}: {self.help}"


def _raw_dir(cfg: dict, dataset: str) -> Path:
    return Path(runkey.RAW.format(data=cfg["paths"]["data"], dataset=dataset))


def manual_need(cfg: dict, dataset: str, needed_by: str) -> Need | None:
    """The hand-placed raw files of `dataset` that are missing (none if its extracted folder is there)."""
    raw = _raw_dir(cfg, dataset)
    if Path(runkey.EXTRACTED.format(data=cfg["paths"]["data"], dataset=dataset)).is_dir():
        return None
    files = [f for f in files_of(dataset) if f.url is None and not (raw / f.name).is_file()]
    if not files:
        return None
    home = getattr(dataset_module(dataset), "HOMEPAGE", "")
    help_ = " ".join(manual_message(dataset, f, raw / f.name, home) for f in files)
    if dataset in POOLS:
        help_ += (f" Or do without {dataset}: " + "; ".join(ROLES[k][1] for k in POOLS[dataset])
                  + f"; variants that name {dataset} itself cannot.")
    return Need("raw", dataset, [str(raw / f.name) for f in files], help_, needed_by)


def _who(runs: list[Run]) -> str:
    """'the variants dra, saoe (2) on brainmri, headct': who needs a thing, in one line."""
    if not runs:
        return ""
    variants = sorted({r.variant for r in runs})
    datasets = sorted({r.dataset for r in runs})
    return (f"{len(runs)} runs: variants {', '.join(variants[:10])}{' ...' if len(variants) > 10 else ''} "
            f"on {', '.join(datasets)}")


def _external_users(cfg: dict, runs: list[Run]) -> dict[str, list[Run]]:
    users: dict[str, list[Run]] = {}
    specs = {}
    for r in runs:
        key = (r.variant, r.dataset)
        if key not in specs:
            ext = run_spec(cfg, *r.words().values())["external"]
            specs[key] = ext["pool"] if ext else None
        if specs[key] is not None:
            users.setdefault(specs[key], []).append(r)
    return users


def blockers(cfg: dict, jobs: list[tuple[str, dict]]) -> list[Need]:
    """What stops the given jobs (rule name, wildcards): hand-placed files their DAG would have to
    fetch, and missing weights while training runs are to start."""
    runs = [Run(w["variant"], w["dataset"], w["subset"], w["setting"], int(w["shots"]), int(w["seed"]))
            for rule, w in jobs if rule.startswith("train")]
    users = _external_users(cfg, runs)
    out = []
    for rule, _ in jobs:
        if rule.startswith("place_"):
            dataset = rule[len("place_"):]
            need = manual_need(cfg, dataset, _who(users.get(dataset, []) or [r for r in runs if r.dataset == dataset]))
            if need:
                out.append(need)
    if runs and any(rule == "weights" for rule, _ in jobs):
        out += _weights_need(cfg, runs)
    return out


def _weights_need(cfg: dict, runs: list[Run]) -> list[Need]:
    weights = cfg.get("weights", "imagenet")
    methods = {r.variant: run_spec(cfg, *r.words().values())["method"] for r in {r.with_variant(r.variant) for r in runs}}
    users = [r for r in runs if any(not Path(f).is_file() for f in weight_files(weights, methods[r.variant]))]
    missing = sorted({f for r in users for f in weight_files(weights, methods[r.variant]) if not Path(f).is_file()})
    return [Need("weights", "pretrained weights " + ", ".join(missing), missing, FETCH_HELP, _who(users))] \
        if missing else []


def needs(cfg: dict, runs: list[Run]) -> list[Need]:
    """The same for a whole selection, from the config alone: every dataset its runs read (their
    own and their external pools) that is neither prepared nor placed, and missing weights."""
    datasets = {r.dataset for r in runs}
    users = _external_users(cfg, runs)
    datasets |= set(users)
    out = []
    for d in sorted(datasets):
        prepared = Path(runkey.PREPARED.format(data=cfg["paths"]["data"], dataset=d, subset="x")).parent
        if prepared.is_dir() and any(prepared.glob("*/manifest.csv")):
            continue
        if d in _datasets_with_files():
            need = manual_need(cfg, d, _who(users.get(d, []) or [r for r in runs if r.dataset == d]))
            if need:
                out.append(need)
    return out + _weights_need(cfg, runs)


def _datasets_with_files() -> set[str]:
    from dra.data.registry import DATASETS

    return {d for d in DATASETS if files_of(d)}


def message(found: list[Need]) -> str:
    lines = ["Before any job can start, these are missing (nothing was run):"] + [n.text() for n in found]
    return "\n".join(lines)
