"""The pre-flight: everything the requested work needs that only a person (or an online machine) can
provide, listed once before any job starts, with what to do about each.

Three kinds of need: a dataset's raw files that must be placed by hand (Kaggle's BrainMRI and
HeadCT, LAG, MVTec AD's archive when its link is down), the pretrained weights of `weights:
imagenet`, and the external pools some variants draw from (LAG for the medical datasets, with the
config keys that do without it). The workflow calls `blockers` with the jobs its DAG will run;
`python -m dra datasets --configfile ...` calls `needs` for the configuration's selected runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dra import runkey
from dra.config import external_source, run_spec
from dra.data.download import files_of, manual_message
from dra.data.registry import dataset_module
from dra.nets.weights import weight_files
from dra.runkey import Run

WEIGHTS_HELP = ("run `snakemake --cores 1 weights` on a machine with internet (a cluster's login node), "
                "or set `weights: none` (a random start) or `weights: <a file path>` in the config")
EXTERNAL_HELP = {
    "lag": "or do without LAG: `pseudo_source: cutmix` (DRA's pseudo anomalies) and `outlier_source: mvtecad` "
           "(SAOE's outliers) in those datasets' config; variants that use LAG by name (dra_extlag) cannot",
}


@dataclass
class Need:
    kind: str                 # "raw", "weights"
    name: str                 # dataset or file
    missing: list[str]        # files that are not there
    help: str                 # what to do
    needed_by: list[str] = field(default_factory=list)

    def text(self) -> str:
        who = f" (needed by {', '.join(self.needed_by[:8])}{' ...' if len(self.needed_by) > 8 else ''})" \
            if self.needed_by else ""
        return f"- {self.name}{who}: {self.help}"


def _raw_dir(cfg: dict, dataset: str) -> Path:
    return Path(runkey.RAW.format(data=cfg["paths"]["data"], dataset=dataset))


def manual_need(cfg: dict, dataset: str, needed_by: list[str]) -> Need | None:
    """The hand-placed raw files of `dataset` that are missing (none if its extracted folder is there)."""
    raw = _raw_dir(cfg, dataset)
    if (raw / "extracted").is_dir():
        return None
    files = [f for f in files_of(dataset) if f.url is None and not (raw / f.name).is_file()]
    if not files:
        return None
    home = getattr(dataset_module(dataset), "HOMEPAGE", "")
    help_ = " ".join(manual_message(dataset, f, raw / f.name, home) for f in files)
    if dataset in EXTERNAL_HELP:
        help_ += " " + EXTERNAL_HELP[dataset] + "."
    return Need("raw", dataset, [str(raw / f.name) for f in files], help_, needed_by)


def _run_label(r: Run) -> str:
    return f"{r.variant} on {r.dataset}/{r.subset} {r.setting}"


def _external_users(cfg: dict, runs: list[Run]) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for r in runs:
        src = external_source(cfg, run_spec(cfg, *r.words().values()))
        if src is not None:
            users.setdefault(src, []).append(_run_label(r))
    return users


def _compact(labels: list[str]) -> list[str]:
    """'dra on brainmri/brainmri general' x 6 seeds -> one entry per (variant, dataset)."""
    return list(dict.fromkeys(" ".join(x.split(" ")[:3]).rsplit("/", 1)[0] for x in labels))


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
            by = _compact(users.get(dataset, [])) or sorted({r.dataset for r in runs if r.dataset == dataset})
            need = manual_need(cfg, dataset, by)
            if need:
                out.append(need)
    if runs and any(rule == "weights" for rule, _ in jobs):
        missing = sorted({f for r in runs for f in weight_files(cfg.get("weights", "imagenet"),
                                                                run_spec(cfg, *r.words().values())["method"])
                          if not Path(f).is_file()})
        if missing:
            out.append(Need("weights", "pretrained weights " + ", ".join(missing), missing, WEIGHTS_HELP))
    return out


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
            need = manual_need(cfg, d, _compact(users.get(d, [])) or sorted({r.variant for r in runs if r.dataset == d}))
            if need:
                out.append(need)
    missing = sorted({f for r in runs for f in weight_files(cfg.get("weights", "imagenet"),
                                                            run_spec(cfg, *r.words().values())["method"])
                      if not Path(f).is_file()})
    if missing:
        out.append(Need("weights", "pretrained weights " + ", ".join(missing), missing, WEIGHTS_HELP))
    return out


def _datasets_with_files() -> set[str]:
    from dra.data.registry import DATASETS

    return {d for d in DATASETS if files_of(d)}


def message(found: list[Need]) -> str:
    lines = ["Before any job can start, these are missing (nothing was run):"] + [n.text() for n in found]
    return "\n".join(lines)
