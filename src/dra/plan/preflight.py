"""The pre-flight: everything the requested work needs that only a person (or an online machine) can
provide, listed once before any job starts, with what to do about each; and every public file the
work will download, with its size, the runs that need it and the config key that does without it
(offline, a download fails and every run that hangs on it is skipped).

Three kinds of need: a dataset's raw files that must be placed by hand (Kaggle's BrainMRI and
HeadCT, LAG, MVTec AD's archive when its link is down), the pretrained weights of `weights:
imagenet`, and the external pools some variants draw from (LAG for the medical datasets, DTD for
AHL's textures, with the config keys that do without them). The workflow calls `blockers` and
`downloads` with the jobs its DAG will run; `python -m dra datasets --configfile ...` and
`python -m dra plan` call `needs` and `selection_downloads` for the configuration's selected runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dra.plan import runkey
from dra.plan.config import run_spec, variant_method
from dra.data.download import RawFile, files_of, manual_message, size_text
from dra.data.external import POOLS, ROLES, without
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

    n_runs: int = 0
    avoid: str = ""           # how to do without it, in a few words

    def text(self) -> str:
        who = f" (needed by {self.needed_by})" if self.needed_by else ""
        return f"- {self.name}{who}: {self.help}"

    def short(self) -> str:
        """One line for the plan: what, for how many runs, and the way around it."""
        files = ", ".join(Path(m).name for m in self.missing)
        what = f"{self.name}: {files} by hand" if self.kind == "raw" else f"pretrained weights {files}"
        runs = f" ({runs_text(self.n_runs)})" if self.n_runs else ""
        return f"- {what}{runs}" + (f"; or {self.avoid}" if self.avoid else "")


def runs_text(n: int) -> str:
    """'1 run', '20 runs'."""
    return f"{n} run" if n == 1 else f"{n} runs"


def _raw_dir(cfg: dict, dataset: str) -> Path:
    return Path(runkey.RAW.format(data=cfg["paths"]["data"], dataset=dataset))


def manual_need(cfg: dict, dataset: str, needed_by: str, n_runs: int = 0) -> Need | None:
    """The hand-placed raw files of `dataset` that are missing (none if its extracted folder is there)."""
    raw = _raw_dir(cfg, dataset)
    if Path(runkey.EXTRACTED.format(data=cfg["paths"]["data"], dataset=dataset)).is_dir():
        return None
    files = [f for f in files_of(dataset) if f.url is None and not (raw / f.name).is_file()]
    if not files:
        return None
    home = getattr(dataset_module(dataset), "HOMEPAGE", "")
    help_ = " ".join(manual_message(dataset, f, raw / f.name, home) for f in files)
    avoid = ""
    if dataset in POOLS:
        avoid = "; ".join(ROLES[k][1] for k in POOLS[dataset])
        help_ += f" Or do without {dataset}: {avoid}; variants that name {dataset} itself cannot."
    return Need("raw", dataset, [str(raw / f.name) for f in files], help_, needed_by, n_runs, avoid)


def _who(runs: list[Run]) -> str:
    """'the variants dra, saoe (2) on brainmri, headct': who needs a thing, in one line."""
    if not runs:
        return ""
    variants = sorted({r.variant for r in runs})
    datasets = sorted({r.dataset for r in runs})
    return (f"{runs_text(len(runs))}: variants {', '.join(variants[:10])}{' ...' if len(variants) > 10 else ''} "
            f"on {', '.join(datasets)}")


def _pool_users(cfg: dict, runs: list[Run]) -> dict[str, dict[tuple[str, str], list[Run]]]:
    """pool -> (parameter, source it names) -> the runs that draw from it."""
    users: dict[str, dict[tuple[str, str], list[Run]]] = {}
    specs = {}
    for r in runs:
        key = (r.variant, r.dataset)
        if key not in specs:
            specs[key] = run_spec(cfg, *r.words().values())["external"]
        ext = specs[key]
        if ext is not None:
            users.setdefault(ext["pool"], {}).setdefault((ext["param"], ext["source"]), []).append(r)
    return users


def _external_users(cfg: dict, runs: list[Run]) -> dict[str, list[Run]]:
    return {pool: [r for rs in by.values() for r in rs] for pool, by in _pool_users(cfg, runs).items()}


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
            who = users.get(dataset, []) or [r for r in runs if r.dataset == dataset]
            need = manual_need(cfg, dataset, _who(who), len(who))
            if need:
                out.append(need)
    if runs and any(rule == "weights" for rule, _ in jobs):
        out += _weights_need(cfg, runs)
    return out


def _weights_need(cfg: dict, runs: list[Run]) -> list[Need]:
    weights = cfg.get("weights", "imagenet")
    lacking = {}  # per variant (not per run: thousands of runs share a few dozen variants)
    for v in {r.variant for r in runs}:
        lacking[v] = [f for f in weight_files(weights, variant_method(cfg, v)) if not Path(f).is_file()]
    users = [r for r in runs if lacking[r.variant]]
    missing = sorted({f for fs in lacking.values() for f in fs})
    return [Need("weights", "pretrained weights " + ", ".join(missing), missing, FETCH_HELP,
                 _who(users), len(users), "`snakemake --cores 1 weights` online, or `weights: none`")] if missing else []


def needs(cfg: dict, runs: list[Run]) -> list[Need]:
    """The same for a whole selection, from the config alone: every dataset its runs read (their
    own and their external pools) that is neither prepared nor placed, and missing weights."""
    datasets = {r.dataset for r in runs}
    users = _external_users(cfg, runs)
    datasets |= set(users)
    out = []
    for d in sorted(datasets):
        if _prepared(cfg, d):
            continue
        if d in _datasets_with_files():
            who = users.get(d, []) or [r for r in runs if r.dataset == d]
            need = manual_need(cfg, d, _who(who), len(who))
            if need:
                out.append(need)
    return out + _weights_need(cfg, runs)


def _datasets_with_files() -> set[str]:
    from dra.data.registry import DATASETS

    return {d for d in DATASETS if files_of(d)}


@dataclass
class Download:
    """Public files a rule will fetch: which, how large, for which runs, and how to do without them."""
    dataset: str
    files: list[RawFile]
    runs: list[Run]
    avoid: list[str]

    def text(self) -> str:
        names = ", ".join(f.name for f in self.files)
        who = _who(self.runs) or "the selection"
        return f"- {names} ({self.dataset}, {size_text(self.files)}) for {who}; without it: {'; or '.join(self.avoid)}"

    def short(self) -> str:
        names = self.files[0].name + (f" and {len(self.files) - 1} more" if len(self.files) > 1 else "")
        own = sum(r.dataset == self.dataset for r in self.runs)
        mixed = f" ({own} on {self.dataset} itself)" if 0 < own < len(self.runs) else ""
        return (f"- {names} ({self.dataset}, {size_text(self.files)}) for {runs_text(len(self.runs))}{mixed}; without it: "
                f"{self.avoid[0]}")


def download_alternatives(cfg: dict, dataset: str, own: list[Run], pooled: dict[tuple[str, str], list[Run]]) -> list[str]:
    """What a user writes (or does) so that no run needs `dataset`'s download."""
    out = list(dict.fromkeys(without(param, source) for (param, source) in pooled))
    if own:
        raw = _raw_dir(cfg, dataset)
        out.append(f"leave {dataset} out of select.datasets")
        out.append(f"offline, place the file by hand in {raw}/ (or its extracted copy in {raw}/extracted/)")
    return out


def download_advice(cfg: dict, dataset: str, runs: list[Run]) -> str:
    """'without it: ...' for the runs that hang on a failed download of `dataset`."""
    own = [r for r in runs if r.dataset == dataset]
    pooled = _pool_users(cfg, runs).get(dataset, {})
    return "without it: " + "; or ".join(download_alternatives(cfg, dataset, own, pooled))


def _download(cfg: dict, dataset: str, runs: list[Run], pools: dict) -> Download | None:
    raw = _raw_dir(cfg, dataset)
    if Path(runkey.EXTRACTED.format(data=cfg["paths"]["data"], dataset=dataset)).is_dir():
        return None
    files = [f for f in files_of(dataset) if f.url is not None and not (raw / f.name).is_file()]
    if not files:
        return None
    own = [r for r in runs if r.dataset == dataset]
    pooled = pools.get(dataset, {})
    users = sorted(set(own) | {r for rs in pooled.values() for r in rs})
    return Download(dataset, files, users, download_alternatives(cfg, dataset, own, pooled))


def downloads(cfg: dict, jobs: list[tuple[str, dict]]) -> list[Download]:
    """The downloads among the given jobs (rule name, wildcards), each with the runs that need it."""
    runs = [Run(w["variant"], w["dataset"], w["subset"], w["setting"], int(w["shots"]), int(w["seed"]))
            for rule, w in jobs if rule.startswith("train")]
    pools = _pool_users(cfg, runs)
    out = []
    for rule, _ in jobs:
        if rule.startswith("download_"):
            d = _download(cfg, rule[len("download_"):], runs, pools)
            if d:
                out.append(d)
    return out


def selection_downloads(cfg: dict, runs: list[Run]) -> list[Download]:
    """The same from the config alone: every dataset the runs read (their own and their pools) that
    is not prepared and whose public files are not here."""
    pools = _pool_users(cfg, runs)
    out = []
    for d in sorted({r.dataset for r in runs} | set(pools)):
        if d in _datasets_with_files() and not _prepared(cfg, d):
            dl = _download(cfg, d, runs, pools)
            if dl:
                out.append(dl)
    return out


def _prepared(cfg: dict, dataset: str) -> bool:
    prepared = Path(runkey.PREPARED.format(data=cfg["paths"]["data"], dataset=dataset, subset="x")).parent
    return prepared.is_dir() and any(prepared.glob("*/manifest.csv"))


DOWNLOADS = "Downloads the workflow will start (public files; offline they fail and the runs that need them are not run):"


def downloads_message(found: list[Download]) -> str:
    return "\n".join([DOWNLOADS] + [d.text() for d in found])


def message(found: list[Need]) -> str:
    lines = ["Before any job can start, these are missing (nothing was run):"] + [n.text() for n in found]
    return "\n".join(lines)
