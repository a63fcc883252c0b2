"""One paper table: tidy cells (mean, std, n, per-seed values) beside the paper's numbers.

Mean rows (MVTec AD over its categories, each hard subset over its classes) are computed per seed
and then averaged over seeds, as the paper's."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

METRIC = "auroc"
CELL_COLUMNS = ["table", "dataset", "subset", "setting", "variant", "shots", "metric", "mean", "std", "n", "seeds",
                "values", "missing_seeds", "paper_mean", "paper_std", "diff", "flagged", "best"]


def _std(values: list[float]) -> float:
    return float(np.std(values)) if values else float("nan")  # population std (ddof 0), PROTOCOL section 2


def mean_rows(rows: list[tuple], means: bool = True) -> list[tuple]:
    """Rows in display order, with mean rows inserted (unless `means` is off): (dataset, subset,
    setting, members)."""
    out = []
    for i, (d, s, st) in enumerate(rows):
        out.append((d, s, st, None))
        if not means:
            continue
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if st.startswith("hard-") and (nxt is None or nxt[:2] != (d, s)):
            members = [r for r in rows if r[:2] == (d, s) and r[2].startswith("hard-")]
            if len(members) > 1:
                out.append((d, s, "hard-mean", members))
        if st == "general" and (nxt is None or nxt[0] != d or nxt[2] != "general"):
            members = [r for r in rows if r[0] == d and r[2] == "general"]
            if len(members) > 1:
                out.append((d, "mean", "general", members))
    return out


def per_seed(runs: pd.DataFrame, variant: str, shots: int, row: tuple, seeds: list[int]) -> dict[int, float]:
    d, s, st = row
    sel = runs[(runs.variant == variant) & (runs.shots == shots) & (runs.dataset == d) & (runs.subset == s)
               & (runs.setting == st)]
    return {int(k): float(v) for k, v in zip(sel.seed, sel[METRIC]) if int(k) in seeds}


def cells(layout: dict, runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    seeds = layout["seeds"]
    rows = [tuple(r) for r in layout["rows"]]
    shown = {tuple(c) for c in layout.get("cells", [[*r, v] for r in rows for v, _ in layout["columns"]])}
    paper = paper[paper.table == layout["name"]].set_index(["dataset", "subset", "setting", "method", "shots"])
    out = []
    for variant, shots in layout["columns"]:
        for d, s, st, members in mean_rows(rows, layout.get("mean_rows", True)):
            if (members or [(d, s, st)])[0] + (variant,) not in shown:
                continue  # this row's section does not show this variant
            if members is None:
                vals = per_seed(runs, variant, shots, (d, s, st), seeds)
            else:  # per seed, the mean over the member rows (only seeds where every member ran)
                each = [per_seed(runs, variant, shots, m, seeds) for m in members]
                vals = {k: float(np.mean([e[k] for e in each])) for k in seeds if all(k in e for e in each)}
            v = [vals[k] for k in sorted(vals)]
            key = (d, s, st, variant, shots)
            pm, ps = (paper.loc[key, "mean"], paper.loc[key, "std"]) if key in paper.index else (np.nan, np.nan)
            mean = float(np.mean(v)) if v else np.nan
            std = _std(v)
            diff = mean - pm
            tol = max(2 * max(std if v else 0.0, 0.0 if np.isnan(ps) else ps), 0.01)
            out.append({"table": layout["name"], "dataset": d, "subset": s, "setting": st, "variant": variant,
                        "shots": shots, "metric": METRIC, "mean": mean, "std": std, "n": len(v),
                        "seeds": ";".join(str(k) for k in sorted(vals)),
                        "values": ";".join(f"{x:.6f}" for x in v),
                        "missing_seeds": ";".join(str(k) for k in seeds if k not in vals),
                        "paper_mean": pm, "paper_std": ps, "diff": diff,
                        "flagged": bool(v) and not np.isnan(pm) and abs(diff) > tol})
    df = pd.DataFrame(out)
    group = df.groupby(["dataset", "subset", "setting", "shots"])["mean"]
    # a cell alone in its row and shot count (KDAD's, Table 9's) is compared with nothing: never bold
    df["best"] = df["mean"].notna() & (df["mean"] == group.transform("max")) & (group.transform("count") > 1)
    return df[CELL_COLUMNS]


def stats(df: pd.DataFrame, reference: str = "dra") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Average rank per method over the table's rows (mean rows excluded), and paired Wilcoxon
    signed-rank tests of `reference` against each competitor over the rows, per shot count."""
    base = df[(df.subset != "mean") & (df.setting != "hard-mean")]
    ranks, tests = [], []
    for shots, g in base.groupby("shots"):
        wide = g.pivot_table(index=["dataset", "subset", "setting"], columns="variant", values="mean").dropna()
        if wide.empty:
            continue
        r = wide.rank(axis=1, ascending=False).mean()
        ranks += [{"shots": shots, "variant": v, "average_rank": float(x), "rows": len(wide)} for v, x in r.items()]
        if reference in wide:
            for v in wide.columns.drop(reference):
                d = wide[reference] - wide[v]
                p = float(wilcoxon(wide[reference], wide[v]).pvalue) if (d != 0).any() and len(d) > 1 else float("nan")
                tests.append({"shots": shots, "reference": reference, "versus": v, "rows": len(wide),
                              "wins": int((d > 0).sum()), "losses": int((d < 0).sum()), "p_value": p})
    return pd.DataFrame(ranks), pd.DataFrame(tests)


def row_label(d: str, s: str, st: str) -> tuple[str, str]:
    """(dataset or dataset/subset, setting shown) of a table row."""
    name = d if s == d else f"{d}/{s}"
    setting = "Mean" if st in ("hard-mean",) or s == "mean" else st.replace("hard-", "")
    return name, setting


def cell_text(c: pd.Series, latex: bool = False) -> str:
    if c.n == 0:
        return "missing"
    ours = f"{c['mean']:.3f}±{c['std']:.3f}" if not latex else f"{c['mean']:.3f}$\\pm${c['std']:.3f}"
    if c.best:
        ours = f"**{ours}**" if not latex else f"\\textbf{{{ours}}}"
    if c.missing_seeds:
        ours += f" ({c.n}/{c.n + len(c.missing_seeds.split(';'))} seeds)"
    if not pd.isna(c.paper_mean):
        flag = (" !" if c.flagged else "")
        ours += f" / {c.paper_mean:.3f} ({c['diff']:+.3f}){flag}"
    return ours


def column_name(variant: str, shots: int, setting: str, labels: dict) -> str:
    name = labels.get(variant, variant)
    if setting.startswith("from-"):
        name += f" from {setting[len('from-'):]}"
    return f"{name} ({shots}-shot)" if shots else name


def wide(df: pd.DataFrame, latex: bool = False, labels: dict | None = None) -> pd.DataFrame:
    """One row per table row, one column per (variant, shots), headed by the variant's display label.

    A cross-domain table (settings from-<source>) is laid out as the paper's Table 9: one row per
    target subset, one column per source (and per other variant, e.g. KDAD on the target)."""
    labels = labels or {}
    pivot = df.setting.str.startswith("from-").any()
    rank = {s: i for i, s in enumerate(dict.fromkeys(df.subset))}  # Table 9: sources in target order
    order = {v: i for i, v in enumerate(dict.fromkeys(df.variant))}
    table: dict[tuple, dict] = {}
    columns: dict[str, tuple] = {}  # column -> sort key; otherwise the layout's order (df's)
    for _, c in df.iterrows():
        name, setting = row_label(c.dataset, c.subset, c.setting)
        line = table.setdefault((name,) if pivot else (name, setting),
                                {"Dataset": name} if pivot else {"Dataset": name, "Setting": setting})
        col = column_name(c.variant, c.shots, c.setting if pivot else "", labels)
        line[col] = cell_text(c, latex)
        source = c.setting[len("from-"):] if c.setting.startswith("from-") else None
        columns.setdefault(col, (source is None, order[c.variant], rank.get(source, len(rank))) if pivot
                           else (len(columns),))
    head = ["Dataset"] if pivot else ["Dataset", "Setting"]
    return pd.DataFrame(list(table.values()), columns=head + sorted(columns, key=columns.get)).fillna("")


def markdown(layout: dict, df: pd.DataFrame, ranks: pd.DataFrame, tests: pd.DataFrame) -> str:
    labels = layout.get("labels", {})
    ranks = ranks.replace({"variant": labels}) if len(ranks) else ranks
    tests = tests.replace({"reference": labels, "versus": labels}) if len(tests) else tests
    parts = [f"# {layout['caption']}", "",
             "Cells: ours (mean ± population std over seeds) / paper (difference); best of ours per row and "
             "shot count in bold; ! marks a difference beyond twice the larger std (at least 0.01).", "",
             wide(df, labels=labels).to_markdown(index=False)]
    missing = df[df.n < len(layout["seeds"])]
    if len(missing):
        parts += ["", f"Missing runs: {len(missing)} cells lack some seeds (see the CSV's missing_seeds)."]
    if len(ranks):
        parts += ["", "## Average rank over rows", "", ranks.to_markdown(index=False, floatfmt=".2f")]
    if len(tests):
        parts += ["", "## Paired Wilcoxon signed-rank tests over rows", "", tests.to_markdown(index=False, floatfmt=".4f")]
    return "\n".join(parts) + "\n"


def latex(layout: dict, df: pd.DataFrame) -> str:
    w = wide(df, latex=True, labels=layout.get("labels"))
    heads = 2 if "Setting" in w.columns else 1
    body = w.to_latex(index=False, escape=False, column_format="l" * heads + "c" * (w.shape[1] - heads))
    return f"% {layout['caption']}\n" + body.replace("_", "\\_").replace("\\\\_", "\\_")
