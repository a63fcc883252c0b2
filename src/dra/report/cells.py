"""A table's cells, computed: one tidy row per (row, variant, shots, metric) with ours (mean,
population std, per-seed values), the paper's number and the difference, the protocol deviations
of its runs, its bootstrap interval and the paired comparison with the row's best, the spread of a
hard row's unseen classes; mean rows (a dataset over its subsets, a subset over its hard classes)
per seed, then over seeds, as the paper's. dra.report.tables renders them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from dra.plan.runkey import HARD_MEAN, is_hard
from dra.report.deviations import CODES, codes, deviations, reasons, run_protocol
from dra.report.stats import Replicates, cell_replicates, interval

CELL_COLUMNS = ["table", "dataset", "subset", "setting", "variant", "shots", "metric", "mean", "std", "n", "seeds",
                "values", "missing_seeds", "paper_mean", "paper_std", "diff", "flagged", "best",
                "deviations", "deviation_codes", "comparison",
                "lo", "hi", "vs_best_diff", "vs_best_lo", "vs_best_hi", "below_best",
                "class_auroc", "class_spread", "classes_below_half", "variant_label", "dataset_label"]

def _std(values: list[float]) -> float:
    return float(np.std(values)) if values else float("nan")  # population std (ddof 0), docs/protocol.md


def mean_rows(rows: list[tuple], means: bool = True) -> list[tuple]:
    """Rows in display order, with mean rows inserted (unless `means` is off): (dataset, subset,
    setting, members)."""
    out = []
    for i, (d, s, st) in enumerate(rows):
        out.append((d, s, st, None))
        if not means:
            continue
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if is_hard(st) and (nxt is None or nxt[:2] != (d, s)):
            members = [r for r in rows if r[:2] == (d, s) and is_hard(r[2])]
            if len(members) > 1:
                out.append((d, s, HARD_MEAN, members))
        if st == "general" and (nxt is None or nxt[0] != d or nxt[2] != "general"):
            members = [r for r in rows if r[0] == d and r[2] == "general"]
            if len(members) > 1:
                out.append((d, "mean", "general", members))
    return out


def per_seed(runs: pd.DataFrame, metric: str, variant: str, shots: int, row: tuple, seeds: list[int]) -> dict[int, float]:
    d, s, st = row
    sel = runs[(runs.variant == variant) & (runs.shots == shots) & (runs.dataset == d) & (runs.subset == s)
               & (runs.setting == st)]
    return {int(k): float(v) for k, v in zip(sel.seed, sel[metric]) if int(k) in seeds and pd.notna(v)}


def cells(layout: dict, runs: pd.DataFrame, paper: pd.DataFrame, reps: Replicates | None = None) -> pd.DataFrame:
    """Every cell of the table: ours beside the paper's, with (given the runs' bootstrap replicates)
    its interval and its paired comparison with the row's best, its protocol deviations and (given
    per-class AUROCs) its unseen classes' spread."""
    df = base_cells(layout, runs, paper)
    df = add_deviations(df, layout, runs)
    df = add_intervals(df, layout, reps)
    df = add_class_spread(df, layout, runs)
    # the names the table shows, so that what reads the CSV (the reproduction table) shows them too
    df["variant_label"] = df["variant"].map(lambda v: layout.get("labels", {}).get(v, v))
    df["dataset_label"] = df["dataset"].map(lambda d: layout.get("dataset_labels", {}).get(d, d))
    return df[CELL_COLUMNS]


def _cell_rows(layout: dict):
    """(metric, variant, shots, (dataset, subset, setting), members) of every cell, in display order;
    members: the rows a mean row averages, or the row itself."""
    rows = [tuple(r) for r in layout["rows"]]
    shown = {tuple(c) for c in layout.get("cells", [[*r, v] for r in rows for v, _ in layout["columns"]])}
    for metric in layout.get("metrics", ["auroc"]):
        for variant, shots in layout["columns"]:
            for d, s, st, members in mean_rows(rows, layout.get("mean_rows", True)):
                if (members or [(d, s, st)])[0] + (variant,) not in shown:
                    continue  # this row's section does not show this variant
                yield metric, variant, shots, (d, s, st), members or [(d, s, st)]


def base_cells(layout: dict, runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Ours (mean, population std, per-seed values) beside the paper's number, flags and the best."""
    seeds = layout["seeds"]
    paper = paper[paper.table == layout["name"]]
    paper = paper.set_index(["metric", "dataset", "subset", "setting", "method", "shots"])
    out = []
    for metric, variant, shots, (d, s, st), members in _cell_rows(layout):
        # per seed, the mean over the member rows (only seeds where every member ran)
        each = [per_seed(runs, metric, variant, shots, m, seeds) for m in members]
        vals = {k: float(np.mean([e[k] for e in each])) for k in seeds if all(k in e for e in each)}
        v = [vals[k] for k in sorted(vals)]
        key = (metric, d, s, st, variant, shots)
        pm, ps = (paper.loc[key, "mean"], paper.loc[key, "std"]) if key in paper.index else (np.nan, np.nan)
        mean = float(np.mean(v)) if v else np.nan
        std = _std(v)
        diff = mean - pm
        tol = max(2 * max(std if v else 0.0, 0.0 if np.isnan(ps) else ps), 0.01)
        out.append({"table": layout["name"], "dataset": d, "subset": s, "setting": st, "variant": variant,
                    "shots": shots, "metric": metric, "mean": mean, "std": std, "n": len(v),
                    "seeds": ";".join(str(k) for k in sorted(vals)),
                    "values": ";".join(f"{x:.6f}" for x in v),
                    "missing_seeds": ";".join(str(k) for k in seeds if k not in vals),
                    "paper_mean": pm, "paper_std": ps, "diff": diff,
                    "flagged": bool(v) and not np.isnan(pm) and abs(diff) > tol})
    df = pd.DataFrame(out, columns=CELL_COLUMNS[:CELL_COLUMNS.index("best")])
    group = df.groupby(["metric", "dataset", "subset", "setting", "shots"])["mean"]
    # a cell alone in its row and shot count (KDAD's, Table 9's) is compared with nothing: never bold
    df["best"] = df["mean"].notna() & (df["mean"] == group.transform("max")) & (group.transform("count") > 1)
    return df


def _runs_by_key(runs: pd.DataFrame) -> dict[tuple, pd.Series]:
    return {(r.variant, r.dataset, r.subset, r.setting, int(r.shots), int(r.seed)): r for _, r in runs.iterrows()}


def add_deviations(df: pd.DataFrame, layout: dict, runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell, its runs' departures from the paper's protocol (dra.report.deviations): the reasons,
    their codes and whether the paper's number is comparable; a cell that deviates is never flagged."""
    by = _runs_by_key(runs)
    found, letters = [], []
    for (metric, variant, shots, row, members), seeds in zip(_cell_rows(layout), df.seeds):
        items = []
        for m in members:
            for k in _seed_list(seeds):
                r = by.get((variant, *m, shots, k))
                if r is not None:
                    items += deviations(_run_record(r), run_protocol(layout, variant, m[0]))
        items = sorted(dict.fromkeys(items), key=lambda x: list(CODES).index(x[0]))
        found.append(reasons(items))
        letters.append(codes(items))
    df = df.assign(deviations=found, deviation_codes=letters)
    has_paper = df.paper_mean.notna() & (df.n > 0)
    deviates = df.deviation_codes != ""
    df["comparison"] = np.where(~has_paper, "", np.where(deviates, "not comparable: " + df.deviation_codes,
                                                         "same protocol"))
    df["flagged"] = df.flagged & ~deviates
    return df


def _seed_list(seeds) -> list[int]:
    return [int(k) for k in str(seeds).split(";") if k not in ("", "nan")]


def _run_record(r: pd.Series) -> dict:
    """What a run records of its protocol: its spec where the frame holds it, else its columns."""
    spec = r.get("spec")
    if isinstance(spec, dict):
        return spec
    return {k: r.get(k) for k in ("budget", "weights", "image_size") if k in r and pd.notna(r.get(k))}


def add_intervals(df: pd.DataFrame, layout: dict, reps: Replicates | None) -> pd.DataFrame:
    """lo and hi: the 95 % bootstrap interval of each AUROC cell; vs_best_*: the paired bootstrap of
    the row's best cell minus this one (same test images, same seed draws), and below_best where
    that interval excludes 0. Without replicates (or for pixel metrics) they stay empty."""
    df = df.assign(lo=np.nan, hi=np.nan, vs_best_diff=np.nan, vs_best_lo=np.nan, vs_best_hi=np.nan,
                   below_best=False)
    if reps is None:
        return df
    cell = {}  # index -> (variant, shots, row, members, seeds) of every AUROC cell with values
    for i, (metric, variant, shots, row, members) in enumerate(_cell_rows(layout)):
        seeds = tuple(_seed_list(df.at[i, "seeds"]))
        if metric != "auroc" or not seeds:
            continue
        cell[i] = (variant, shots, row, members, seeds)
        r = cell_replicates(reps.auroc, variant, shots, row, members, seeds, reps.b)
        if r is not None:
            df.loc[i, ["lo", "hi"]] = interval(r)
    for best in df.index[df.best]:
        for j in df.index[_same_group(df, best) & (df.index != best)]:
            if best in cell and j in cell:
                _paired(df, reps, cell[best], cell[j], best, j)
    return df


def _paired(df: pd.DataFrame, reps: Replicates, best: tuple, other: tuple, ib: int, j: int) -> None:
    """Cell j's paired bootstrap against the best cell ib, over the seeds both have, where every pair
    of runs was scored on the same test images."""
    (bv, shots, row, members, bs), (ov, _, _, _, os_) = best, other
    seeds = tuple(k for k in bs if k in os_)
    if not seeds or not all(reps.paired((bv, *m, shots, k), (ov, *m, shots, k)) for m in members for k in seeds):
        return
    a = cell_replicates(reps.auroc, bv, shots, row, members, seeds, reps.b)
    b = cell_replicates(reps.auroc, ov, shots, row, members, seeds, reps.b)
    if a is None or b is None:
        return
    lo, hi = interval(a - b)
    bvals, ovals = _seed_values(df, ib), _seed_values(df, j)
    df.loc[j, ["vs_best_diff", "vs_best_lo", "vs_best_hi"]] = (
        float(np.mean([bvals[k] for k in seeds]) - np.mean([ovals[k] for k in seeds])), lo, hi)
    df.at[j, "below_best"] = bool(lo > 0)


def _same_group(df: pd.DataFrame, j: int) -> pd.Series:
    c = df.loc[j]
    return ((df.metric == c.metric) & (df.dataset == c.dataset) & (df.subset == c.subset)
            & (df.setting == c.setting) & (df.shots == c.shots))


def _seed_values(df: pd.DataFrame, i: int) -> dict[int, float]:
    return dict(zip(_seed_list(df.at[i, "seeds"]), (float(x) for x in str(df.at[i, "values"]).split(";"))))


def add_class_spread(df: pd.DataFrame, layout: dict, runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell of a single row, the AUROC of each anomaly class of its test set against all normals
    (mean over the cell's seeds; in a hard setting: the unseen classes), their spread (max - min) and
    how many fall below 0.5."""
    by = _runs_by_key(runs) if "class_auroc" in runs else {}
    per_class, spread, below = [], [], []
    for (metric, variant, shots, row, members), seeds in zip(_cell_rows(layout), df.seeds):
        means = {}
        if metric == "auroc" and len(members) == 1 and members[0] == row:
            means = class_means([by.get((variant, *row, shots, k)) for k in _seed_list(seeds)])
        per_class.append(json.dumps(means, sort_keys=True) if means else "")
        spread.append(max(means.values()) - min(means.values()) if len(means) > 1 else np.nan)  # one class: none
        below.append(sum(x < 0.5 for x in means.values()) if means else np.nan)
    return df.assign(class_auroc=per_class, class_spread=spread, classes_below_half=below)


def class_means(rows: list) -> dict[str, float]:
    """{class: mean over the runs of its AUROC} (classes every run has), from runs' class_auroc."""
    dicts = [_class_dict(r.get("class_auroc")) for r in rows if r is not None]
    dicts = [d for d in dicts if d]
    if not dicts:
        return {}
    common = set(dicts[0]).intersection(*dicts[1:])
    return {c: float(np.mean([d[c] for d in dicts])) for c in sorted(common)}


def _class_dict(value) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def stats(df: pd.DataFrame, reference: str = "dra") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Average rank per method over the table's rows (mean rows excluded), and paired Wilcoxon
    signed-rank tests of `reference` against each competitor over the rows, per metric and shot count."""
    base = df[(df.subset != "mean") & (df.setting != HARD_MEAN)]
    ranks, tests = [], []
    for (metric, shots), g in base.groupby(["metric", "shots"]):
        wide = g.pivot_table(index=["dataset", "subset", "setting"], columns="variant", values="mean").dropna()
        if wide.empty or wide.shape[1] < 2:
            continue
        r = wide.rank(axis=1, ascending=False).mean()
        ranks += [{"metric": metric, "shots": shots, "variant": v, "average_rank": float(x), "rows": len(wide)}
                  for v, x in r.items()]
        if reference in wide:
            for v in wide.columns.drop(reference):
                d = wide[reference] - wide[v]
                p = float(wilcoxon(wide[reference], wide[v]).pvalue) if (d != 0).any() and len(d) > 1 else float("nan")
                tests.append({"metric": metric, "shots": shots, "reference": reference, "versus": v,
                              "rows": len(wide), "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
                              "p_value": p})
    return pd.DataFrame(ranks), pd.DataFrame(tests)
