"""One paper table: tidy cells (mean, std, n, per-seed values) beside the paper's numbers, written as
CSV, Markdown, LaTeX and HTML (the report shows the HTML).

Mean rows (MVTec AD over its categories, each hard subset over its classes) are computed per seed
and then averaged over seeds, as the paper's. A table may hold several metrics (the localisation
table: pixel AUROC and AUPRO); the paper's numbers are image AUROCs."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from dra.plan.runkey import HARD, HARD_MEAN

CELL_COLUMNS = ["table", "dataset", "subset", "setting", "variant", "shots", "metric", "mean", "std", "n", "seeds",
                "values", "missing_seeds", "paper_mean", "paper_std", "diff", "flagged", "best"]
METRIC_LABELS = {"auroc": "AUROC", "aupr": "AUPR", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}
LEGEND = ("Cells: ours (mean ± population std over seeds; one seed: its value) / paper (difference); best of ours "
          "per row, metric and shot count in bold; ! marks a difference beyond twice the larger std (at least 0.01).")


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
        if st.startswith(HARD) and (nxt is None or nxt[:2] != (d, s)):
            members = [r for r in rows if r[:2] == (d, s) and r[2].startswith(HARD)]
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


def cells(layout: dict, runs: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    seeds = layout["seeds"]
    rows = [tuple(r) for r in layout["rows"]]
    shown = {tuple(c) for c in layout.get("cells", [[*r, v] for r in rows for v, _ in layout["columns"]])}
    paper = paper[paper.table == layout["name"]]
    paper = paper.set_index(["metric", "dataset", "subset", "setting", "method", "shots"])
    out = []
    for metric in layout.get("metrics", ["auroc"]):
        for variant, shots in layout["columns"]:
            for d, s, st, members in mean_rows(rows, layout.get("mean_rows", True)):
                if (members or [(d, s, st)])[0] + (variant,) not in shown:
                    continue  # this row's section does not show this variant
                if members is None:
                    vals = per_seed(runs, metric, variant, shots, (d, s, st), seeds)
                else:  # per seed, the mean over the member rows (only seeds where every member ran)
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
    df = pd.DataFrame(out, columns=CELL_COLUMNS[:-1])
    group = df.groupby(["metric", "dataset", "subset", "setting", "shots"])["mean"]
    # a cell alone in its row and shot count (KDAD's, Table 9's) is compared with nothing: never bold
    df["best"] = df["mean"].notna() & (df["mean"] == group.transform("max")) & (group.transform("count") > 1)
    return df[CELL_COLUMNS]


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


def row_label(d: str, s: str, st: str, dataset_labels: dict | None = None) -> tuple[str, str]:
    """(the dataset's paper name, with the subset where it has several; the setting shown)."""
    label = (dataset_labels or {}).get(d, d)
    name = label if s == d else (f"{label} (mean)" if s == "mean" else f"{label} / {s}")
    setting = "Mean" if st == HARD_MEAN or s == "mean" else st.replace(HARD, "")
    return name, setting


def _fmt(c: pd.Series, kind: str) -> str:
    """Ours: mean ± std (one seed: its value alone)."""
    pm = {"md": "±", "latex": "$\\pm$", "html": "±"}[kind]
    return f"{c['mean']:.3f}{pm}{c['std']:.3f}" if c.n > 1 else f"{c['mean']:.3f}"


def cell_text(c: pd.Series, kind: str = "md") -> str:
    if c.n == 0:
        return "missing"
    ours = _fmt(c, kind)
    if c.best:
        ours = {"md": f"**{ours}**", "latex": f"\\textbf{{{ours}}}", "html": f"<b>{ours}</b>"}[kind]
    if c.missing_seeds:
        ours += f" ({c.n}/{c.n + len(c.missing_seeds.split(';'))} seeds)"
    if not pd.isna(c.paper_mean):
        flag = (" !" if c.flagged else "")
        paper = f" / {c.paper_mean:.3f} ({c['diff']:+.3f})"
        if kind == "html":  # the paper's part in grey, the flag in red
            return f"{ours}<span class='paper'>{paper}</span>" + ("<span class='flag'> !</span>" if c.flagged else "")
        ours += paper + flag
    return ours


def column_name(variant: str, shots: int, setting: str, labels: dict, metric: str | None = None) -> str:
    name = labels.get(variant, variant)
    if metric:
        name += f" {METRIC_LABELS.get(metric, metric)}"
    if setting.startswith("from-"):
        name += f" from {setting[len('from-'):]}"
    return f"{name} ({shots}-shot)" if shots else name


def wide(df: pd.DataFrame, kind: str = "md", labels: dict | None = None,
         dataset_labels: dict | None = None) -> pd.DataFrame:
    """One row per table row, one column per (variant, shots[, metric]), headed by the variant's label.

    A cross-domain table (settings from-<source>) is laid out as the paper's Table 9: one row per
    target subset, one column per source (and per other variant, e.g. KDAD on the target)."""
    labels = labels or {}
    pivot = df.setting.str.startswith("from-").any()
    metrics = list(dict.fromkeys(df.metric))
    rank = {s: i for i, s in enumerate(dict.fromkeys(df.subset))}  # Table 9: sources in target order
    order = {v: i for i, v in enumerate(dict.fromkeys(df.variant))}
    table: dict[tuple, dict] = {}
    columns: dict[str, tuple] = {}  # column -> sort key; otherwise the layout's order (df's)
    for _, c in df.iterrows():
        name, setting = row_label(c.dataset, c.subset, c.setting, dataset_labels)
        line = table.setdefault((name,) if pivot else (name, setting),
                                {"Dataset": name} if pivot else {"Dataset": name, "Setting": setting})
        col = column_name(c.variant, c.shots, c.setting if pivot else "", labels,
                          c.metric if len(metrics) > 1 else None)
        line[col] = cell_text(c, kind)
        source = c.setting[len("from-"):] if c.setting.startswith("from-") else None
        columns.setdefault(col, (source is None, order[c.variant], rank.get(source, len(rank))) if pivot
                           else (len(columns),))
    head = ["Dataset"] if pivot else ["Dataset", "Setting"]
    return pd.DataFrame(list(table.values()), columns=head + sorted(columns, key=columns.get)).fillna("")


def provenance_lines(layout: dict, runs: pd.DataFrame) -> list[str]:
    """What the table shows was run: datasets, variants, seeds, budget, weights, image sizes, the
    code's commits, runs done / missing."""
    p = layout.get("provenance", {})
    labels = layout.get("labels", {})
    expected = p.get("runs", 0)
    commits = sorted({str(c) for c in runs.get("git_commit", pd.Series(dtype=str)).dropna()})
    lines = []
    if p:
        lines.append("Datasets: " + ", ".join(p["datasets"].values()))
        lines.append("Variants: " + ", ".join(labels.get(v, v) for v in p["variants"]))
        lines.append(f"Seeds: {', '.join(map(str, p['seeds']))}; budget: {p['budget']:g} (training epochs x budget); "
                     f"weights: {p['weights']}")
        lines.append("Image sizes: " + ", ".join(f"{p['datasets'].get(d, d)} {'/'.join(map(str, s))} px"
                                                  for d, s in p["image_sizes"].items()))
    lines.append(f"Runs: {len(runs)} done" + (f", {expected - len(runs)} missing, of {expected}" if expected else ""))
    if commits:
        lines.append("Code: " + ", ".join(commits))
    return lines


def markdown(layout: dict, df: pd.DataFrame, ranks: pd.DataFrame, tests: pd.DataFrame,
             runs: pd.DataFrame | None = None) -> str:
    labels = layout.get("labels", {})
    ranks = ranks.replace({"variant": labels}) if len(ranks) else ranks
    tests = tests.replace({"reference": labels, "versus": labels}) if len(tests) else tests
    parts = [f"# {layout['caption']}", "", LEGEND, "",
             wide(df, "md", labels, layout.get("dataset_labels")).to_markdown(index=False, disable_numparse=True)]
    missing = df[df.n < len(layout["seeds"])]
    if len(missing):
        parts += ["", f"Missing runs: {len(missing)} cells lack some seeds (see the CSV's missing_seeds)."]
    if len(ranks):
        parts += ["", "## Average rank over rows", "", ranks.to_markdown(index=False, floatfmt=".2f")]
    if len(tests):
        parts += ["", "## Paired Wilcoxon signed-rank tests over rows", "", tests.to_markdown(index=False, floatfmt=".4f")]
    if runs is not None:
        parts += ["", "---", ""] + [f"{line}  " for line in provenance_lines(layout, runs)]
    return "\n".join(parts) + "\n"


def latex(layout: dict, df: pd.DataFrame) -> str:
    w = wide(df, "latex", layout.get("labels"), layout.get("dataset_labels"))
    heads = 2 if "Setting" in w.columns else 1
    body = w.to_latex(index=False, escape=False, column_format="l" * heads + "c" * (w.shape[1] - heads))
    return f"% {layout['caption']}\n" + body.replace("_", "\\_").replace("\\\\_", "\\_")


HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:1em;color:#222}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}caption{font-weight:600;text-align:left;
padding:0 0 6px 0}p.legend,p.prov{font-size:12px;color:#555;max-width:70em}h3{font-size:14px;margin-top:1.2em}
span.paper{color:#888}span.flag{color:#c00;font-weight:700}"""


def to_html(layout: dict, df: pd.DataFrame, ranks: pd.DataFrame, tests: pd.DataFrame, runs: pd.DataFrame) -> str:
    """A standalone page: the table (ours, the paper's, the difference, flags, best in bold), its
    caption and legend, the ranks and tests, and the provenance."""
    labels = layout.get("labels", {})
    w = wide(df, "html", labels, layout.get("dataset_labels"))
    table = _with_caption(w.to_html(index=False, escape=False, border=0), layout["caption"])
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>{html.escape(layout['name'])}</title><style>{HTML_STYLE}</style></head><body>",
             table, f"<p class='legend'>{html.escape(LEGEND)}</p>"]
    if len(ranks):
        parts += ["<h3>Average rank over rows</h3>",
                  ranks.replace({"variant": labels}).to_html(index=False, float_format="%.2f", border=0)]
    if len(tests):
        parts += ["<h3>Paired Wilcoxon signed-rank tests over rows</h3>",
                  tests.replace({"reference": labels, "versus": labels}).to_html(index=False, float_format="%.4f",
                                                                                 border=0)]
    parts.append("<p class='prov'>" + "<br>".join(html.escape(x) for x in provenance_lines(layout, runs)) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _with_caption(table_html: str, caption: str) -> str:
    start = table_html.index(">", table_html.index("<table")) + 1
    return table_html[:start] + f"\n<caption>{html.escape(caption)}</caption>" + table_html[start:]
