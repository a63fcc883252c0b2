"""The job matrix, from the config alone (no data needed): which runs each table shows.

Used by the Snakefile at parse time, so it stays cheap and imports neither torch nor pandas."""

from __future__ import annotations

from dataclasses import dataclass

from dra.config import is_unsupervised, subsets
from dra.errors import DraError


@dataclass(frozen=True, order=True)
class Run:
    variant: str
    dataset: str
    subset: str
    setting: str
    shots: int
    seed: int

    def path(self, results: str) -> str:
        return (f"{results}/runs/{self.variant}/{self.dataset}/{self.subset}/{self.setting}/"
                f"{self.shots}shot/seed{self.seed}")


def parse_row_spec(cfg: dict, item: str) -> list[tuple[str, str]]:
    """'mvtecad' -> every subset of mvtecad; 'mvtecad/carpet' -> that subset."""
    dataset, _, subset = item.partition("/")
    if dataset not in cfg["datasets"]:
        raise DraError(f"table row {item!r}: unknown dataset {dataset!r}; expected one of {sorted(cfg['datasets'])}")
    names = subsets(cfg, dataset)
    if subset and subset not in names:
        raise DraError(f"table row {item!r}: unknown subset {subset!r}; expected one of {names}")
    return [(dataset, subset)] if subset else [(dataset, s) for s in names]


def hard_classes(cfg: dict, dataset: str, subset: str) -> list[str]:
    hard = cfg["datasets"][dataset].get("hard", {})
    if subset not in hard:
        raise DraError(f"hard setting asked for {dataset}/{subset}, but config datasets.{dataset}.hard lists "
                       f"no classes for it")
    return list(hard[subset])


def table_rows(cfg: dict, table: str) -> list[tuple[str, str, str]]:
    """(dataset, subset, setting) per row of the table, in display order."""
    rows = []
    for section in cfg["tables"][table]["sections"]:
        for item in section["datasets"]:
            for dataset, subset in parse_row_spec(cfg, item):
                kind = section["setting"]
                if kind == "general":
                    rows.append((dataset, subset, "general"))
                elif kind == "hard":
                    rows += [(dataset, subset, f"hard-{c}") for c in hard_classes(cfg, dataset, subset)]
                elif kind == "crossdomain":
                    rows += [(dataset, subset, f"from-{src}") for src in section["sources"] if src != subset]
                else:
                    raise DraError(f"table {table}: section setting {kind!r}; expected general, hard or crossdomain")
    return rows


def shots_for(cfg: dict, table: str, variant: str) -> list[int]:
    return [0] if is_unsupervised(cfg, variant) else list(cfg["tables"][table]["shots"])


def table_runs(cfg: dict, table: str) -> list[Run]:
    spec = cfg["tables"][table]
    seeds = spec.get("seeds", cfg["seeds"])
    runs = {Run(v, d, s, st, k, seed)
            for (d, s, st) in table_rows(cfg, table)
            for v in spec["variants"]
            for k in shots_for(cfg, table, v)
            for seed in seeds}
    return sorted(runs)


def all_runs(cfg: dict) -> list[Run]:
    return sorted({r for t in cfg["tables"] for r in table_runs(cfg, t)})


def table_layout(cfg: dict, table: str) -> dict:
    """Everything the table command needs (and nothing else, so only a layout change reruns it)."""
    spec = cfg["tables"][table]
    return {
        "name": table,
        "caption": spec.get("caption", table),
        "rows": [list(r) for r in table_rows(cfg, table)],
        "columns": [[v, k] for k in sorted({k for v in spec["variants"] for k in shots_for(cfg, table, v)})
                    for v in spec["variants"] if k in shots_for(cfg, table, v)],
        "seeds": list(spec.get("seeds", cfg["seeds"])),
    }
