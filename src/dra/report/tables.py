"""One paper table: tidy cells (mean, std, n, per-seed values) beside the paper's numbers, written as
CSV, Markdown, LaTeX and HTML (the report shows the HTML).

Mean rows (MVTec AD over its categories, each hard subset over its classes) are computed per seed
and then averaged over seeds, as the paper's. A table may hold several metrics (the localisation
table: pixel AUROC and AUPRO); the paper's numbers are image AUROCs. Each AUROC cell carries its
bootstrap interval and its paired comparison with the row's best (dra.report.stats), each cell its
protocol deviations (dra.report.deviations). Every name shown (datasets, classes, variants,
captions) is escaped for the format; the bold, the flags and the marks are our own markup."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from dra.plan.runkey import HARD_MEAN, hard_class, is_hard, source_of
from dra.report.deviations import CODES, codes, deviations, legend as deviation_legend, reasons, run_protocol
from dra.escape import html_text, latex_text, markdown_text
from dra.report.stats import Replicates, cell_replicates, interval, rankings, rankings_frame

CELL_COLUMNS = ["table", "dataset", "subset", "setting", "variant", "shots", "metric", "mean", "std", "n", "seeds",
                "values", "missing_seeds", "paper_mean", "paper_std", "diff", "flagged", "best",
                "deviations", "deviation_codes", "comparison",
                "lo", "hi", "vs_best_diff", "vs_best_lo", "vs_best_hi", "below_best",
                "class_auroc", "class_spread", "classes_below_half", "variant_label", "dataset_label"]
METRIC_LABELS = {"auroc": "AUROC", "aupr": "AUPR", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}
LEGEND = ("Cells: ours (mean ± population std over seeds; one seed: its value) / paper (difference); best of ours "
          "per row, metric and shot count in bold; ! marks a difference beyond twice the larger std (at least 0.01).")
MARKS = ("[lo, hi]: 95 % interval of ours (stratified bootstrap over test images within each seed, and over seeds); "
         "† below the row's best: the paired bootstrap interval of the difference excludes 0.")


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
        spread.append(max(means.values()) - min(means.values()) if means else np.nan)
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


def row_label(d: str, s: str, st: str, dataset_labels: dict | None = None) -> tuple[str, str]:
    """(the dataset's paper name, with the subset where it has several; the setting shown)."""
    label = (dataset_labels or {}).get(d, d)
    name = label if s == d else (f"{label} (mean)" if s == "mean" else f"{label} / {s}")
    setting = "Mean" if st == HARD_MEAN or s == "mean" else (hard_class(st) if is_hard(st) else st)
    return name, setting


ESCAPE = {"md": markdown_text, "latex": latex_text, "html": html_text}
BOLD = {"md": "**{}**", "latex": "\\textbf{{{}}}", "html": "<b>{}</b>"}
DAGGER = {"md": " †", "latex": "$^\\dagger$", "html": "<span class='below'> †</span>"}
CODES_MARK = {"md": " [{}]", "latex": "\\textsuperscript{{{}}}", "html": "<sup class='dev'>{}</sup>"}


def _fmt(c: pd.Series, kind: str) -> str:
    """Ours: mean ± std (one seed: its value alone)."""
    pm = {"md": "±", "latex": "$\\pm$", "html": "±"}[kind]
    return f"{c['mean']:.3f}{pm}{c['std']:.3f}" if c.n > 1 else f"{c['mean']:.3f}"


def interval_text(c: pd.Series, kind: str) -> str:
    """' [lo, hi]' (in a grey span in HTML), or nothing where the cell has no interval."""
    if pd.isna(c.get("lo")):
        return ""
    ci = f" [{c['lo']:.3f}, {c['hi']:.3f}]"
    return f"<span class='ci'>{ci}</span>" if kind == "html" else ci


def cell_text(c: pd.Series, kind: str = "md", intervals: bool = False) -> str:
    """One cell in `kind` (md, latex, html): ours (bold where best, † where significantly below the
    best, the protocol-deviation codes), then the paper's number and the difference, flagged (!)
    or labelled n.c. where the runs' protocol is not the paper's."""
    if c.n == 0:
        return "missing"
    ours = _fmt(c, kind)
    if c.best:
        ours = BOLD[kind].format(ours)
    if intervals:
        ours += interval_text(c, kind)
    if _true(c.get("below_best")):
        ours += DAGGER[kind]
    if c.get("deviation_codes"):
        ours += CODES_MARK[kind].format(ESCAPE[kind](c.deviation_codes))
    if c.missing_seeds:
        ours += f" ({c.n}/{c.n + len(c.missing_seeds.split(';'))} seeds)"
    if not pd.isna(c.paper_mean):
        comparable = not c.get("deviation_codes")
        paper = f" / {c.paper_mean:.3f} ({c['diff']:+.3f}{'' if comparable else ', n.c.'})"
        if kind == "html":  # the paper's part in grey, the flag in red
            return f"{ours}<span class='paper'>{paper}</span>" + ("<span class='flag'> !</span>" if c.flagged else "")
        ours += paper + (" !" if c.flagged else "")
    return ours


def _true(x) -> bool:
    return x is not None and not (isinstance(x, float) and np.isnan(x)) and bool(x)


def column_name(variant: str, shots: int, setting: str, labels: dict, metric: str | None = None) -> str:
    name = labels.get(variant, variant)
    if metric:
        name += f" {METRIC_LABELS.get(metric, metric)}"
    if setting and source_of(setting):
        name += f" from {source_of(setting)}"
    return f"{name} ({shots}-shot)" if shots else name


def wide(df: pd.DataFrame, kind: str = "md", labels: dict | None = None,
         dataset_labels: dict | None = None, intervals: bool = False, value=None) -> pd.DataFrame:
    """One row per table row, one column per (variant, shots[, metric]), headed by the variant's label;
    every name escaped for `kind`. `value(cell, kind)` gives a cell's text (default: cell_text); a
    cell it gives None is left out.

    A cross-domain table (settings from-<source>) is laid out as the paper's Table 9: one row per
    target subset, one column per source (and per other variant, e.g. KDAD on the target)."""
    labels = labels or {}
    esc = ESCAPE[kind]
    value = value or (lambda c, k: cell_text(c, k, intervals))
    pivot = df.setting.map(lambda s: source_of(s) is not None).any()
    metrics = list(dict.fromkeys(df.metric))
    rank = {s: i for i, s in enumerate(dict.fromkeys(df.subset))}  # Table 9: sources in target order
    order = {v: i for i, v in enumerate(dict.fromkeys(df.variant))}
    table: dict[tuple, dict] = {}
    columns: dict[str, tuple] = {}  # column -> sort key; otherwise the layout's order (df's)
    for _, c in df.iterrows():
        text = value(c, kind)
        if text is None:
            continue
        name, setting = (esc(x) for x in row_label(c.dataset, c.subset, c.setting, dataset_labels))
        line = table.setdefault((name,) if pivot else (name, setting),
                                {"Dataset": name} if pivot else {"Dataset": name, "Setting": setting})
        col = esc(column_name(c.variant, c.shots, c.setting if pivot else "", labels,
                              c.metric if len(metrics) > 1 else None))
        line[col] = text
        source = source_of(c.setting)
        columns.setdefault(col, (source is None, order[c.variant], rank.get(source, len(rank))) if pivot
                           else (len(columns),))
    head = ["Dataset"] if pivot else ["Dataset", "Setting"]
    return pd.DataFrame(list(table.values()), columns=head + sorted(columns, key=columns.get)).fillna("")


def class_spread_text(c: pd.Series, kind: str) -> str | None:
    """A hard row's unseen classes in one cell: the spread of their AUROCs and how many are below 0.5."""
    if not is_hard(str(c.setting)) or pd.isna(c.get("class_spread")):
        return None
    return f"{c.class_spread:.3f} ({int(c.classes_below_half)} < 0.5)"


UNSEEN_NOTE = ("Per hard row and method: the spread (max - min) of the unseen classes' AUROCs, each class's "
               "anomalies against all test normals, means over seeds; in brackets how many unseen classes are "
               "below 0.5 (ranked worse than chance). Every class's AUROC: the table's _classes table.")


def legend_lines(df: pd.DataFrame, intervals: bool) -> list[str]:
    """What the marks a table uses mean: intervals and †, the protocol-deviation codes."""
    lines = []
    if intervals or df.get("below_best", pd.Series(dtype=bool)).any():
        lines.append(MARKS)
    used = "".join(sorted(set("".join(df.get("deviation_codes", pd.Series(dtype=str)).fillna(""))),
                          key=list(CODES).index))
    if used:
        lines.append(deviation_legend(used))
    return lines


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
        lines += settings_lines(p, labels)
    lines.append(f"Runs: {len(runs)} done" + (f", {expected - len(runs)} missing, of {expected}" if expected else ""))
    if commits:
        lines.append("Code: " + ", ".join(commits))
    return lines


TEXTURES = {"dtd": "DTD images", "synthetic": "generated noise (texture_source: synthetic)"}


def settings_lines(p: dict, labels: dict | None = None, epochs: bool = True) -> list[str]:
    """The training length per variant (with `epochs`), the parameters set away from the paper's
    protocol per variant, and AHL's textures: what a reader needs to weigh a number (a tenth of the
    steps per epoch is not the paper's training)."""
    labels = labels or {}
    lines = []
    if epochs and p.get("epochs"):
        lines.append("Epochs: " + ", ".join(f"{labels.get(v, v)} {'/'.join(map(str, e))}" for v, e in p["epochs"].items()))
    over = p.get("overrides") or {}
    if over:
        lines.append("Set away from the paper's protocol (ours, the protocol's in brackets): " + "; ".join(
            f"{labels.get(v, v)}: " + ", ".join(f"{k} {ours} ({ref})" for k, (ours, ref) in ks.items())
            for v, ks in over.items()))
    tex = p.get("textures") or {}
    if tex:
        lines.append("AHL's pseudo-anomaly textures: " + "; ".join(
            f"{labels.get(v, v)}: {', '.join(TEXTURES.get(t, t) for t in ts)}" for v, ts in tex.items()))
    return lines


def _labelled(frame: pd.DataFrame, labels: dict, *columns: str) -> pd.DataFrame:
    return frame.replace({c: labels for c in columns}) if len(frame) else frame


def markdown(layout: dict, df: pd.DataFrame, ranks: pd.DataFrame, tests: pd.DataFrame,
             runs: pd.DataFrame | None = None, intervals: bool | None = None) -> str:
    labels = layout.get("labels", {})
    intervals = layout.get("intervals", False) if intervals is None else intervals
    esc = markdown_text
    parts = [f"# {esc(layout['caption'])}", "", LEGEND, "",
             wide(df, "md", labels, layout.get("dataset_labels"), intervals).to_markdown(index=False,
                                                                                        disable_numparse=True)]
    parts += [x for line in legend_lines(df, intervals) for x in ("", line)]
    missing = df[df.n < len(layout["seeds"])]
    if len(missing):
        parts += ["", f"Missing runs: {len(missing)} cells lack some seeds (see the CSV's missing_seeds)."]
    unseen = wide(df, "md", labels, layout.get("dataset_labels"), value=class_spread_text)
    if unseen.shape[1] > 2:
        parts += ["", "## Unseen classes", "", UNSEEN_NOTE, "", unseen.to_markdown(index=False, disable_numparse=True)]
    ranks, tests = _labelled(ranks, labels, "variant"), _labelled(tests, labels, "reference", "versus")
    if len(ranks):
        parts += ["", "## Average rank over rows", "", _md_frame(ranks, ".2f")]
    if len(tests):
        parts += ["", "## Paired Wilcoxon signed-rank tests over rows", "", _md_frame(tests, ".4f")]
    friedman = rankings_frame(rankings(df), labels)
    if len(friedman):
        parts += ["", "## Friedman test over rows", "", FRIEDMAN_NOTE, "", _md_frame(friedman, ".4g")]
    if runs is not None:
        parts += ["", "---", ""] + [f"{esc(line)}  " for line in provenance_lines(layout, runs)]
    return "\n".join(parts) + "\n"


FRIEDMAN_NOTE = ("Per metric and shot count, over the rows where every method has a value (mean rows left out): "
                 "Friedman's test that all methods rank alike, and Nemenyi's critical difference of average ranks "
                 "(alpha 0.05); methods in order of average rank, 1 the best. The figure fig_cd_<table> draws it.")


def _md_frame(frame: pd.DataFrame, floatfmt: str) -> str:
    text = frame.map(lambda x: markdown_text(x) if isinstance(x, str) else x)
    return text.to_markdown(index=False, floatfmt=floatfmt)


def latex(layout: dict, df: pd.DataFrame, intervals: bool | None = None, runs: pd.DataFrame | None = None) -> str:
    """The tabular, its caption and legends as comments above it and, given the runs, the same
    provenance as the Markdown's footer as comments below it (a LaTeX comment shows nothing in the
    document, and the file stays one tabular to \\input)."""
    intervals = layout.get("intervals", False) if intervals is None else intervals
    w = wide(df, "latex", layout.get("labels"), layout.get("dataset_labels"), intervals)
    heads = 2 if "Setting" in w.columns else 1
    body = w.to_latex(index=False, escape=False, column_format="l" * heads + "c" * (w.shape[1] - heads))
    notes = "".join(f"% {latex_text(line)}\n" for line in legend_lines(df, intervals))
    footer = "".join(f"% {latex_text(line)}\n" for line in provenance_lines(layout, runs)) if runs is not None else ""
    return f"% {latex_text(layout['caption'])}\n" + notes + body + footer


HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:1em;color:#222}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}caption{font-weight:600;text-align:left;
padding:0 0 6px 0}p.legend,p.prov{font-size:12px;color:#555;max-width:70em}h3{font-size:14px;margin-top:1.2em}
span.paper{color:#888}span.flag{color:#c00;font-weight:700}span.ci{color:#666;font-size:11px}
span.below{color:#a60}sup.dev{color:#06c}"""


def to_html(layout: dict, df: pd.DataFrame, ranks: pd.DataFrame, tests: pd.DataFrame, runs: pd.DataFrame) -> str:
    """A standalone page: the table (ours with its interval, the paper's, the difference, flags, best
    in bold, marks), its caption and legends, the unseen classes, the ranks and tests, and the
    provenance. Every name is escaped; the markup is ours."""
    labels = layout.get("labels", {})
    w = wide(df, "html", labels, layout.get("dataset_labels"), intervals=True)
    table = _with_caption(w.to_html(index=False, escape=False, border=0), layout["caption"])
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>{html_text(layout['name'])}</title><style>{HTML_STYLE}</style></head><body>",
             table, f"<p class='legend'>{html_text(LEGEND)}</p>"]
    parts += [f"<p class='legend'>{html_text(line)}</p>" for line in legend_lines(df, True)]
    unseen = wide(df, "html", labels, layout.get("dataset_labels"), value=class_spread_text)
    if unseen.shape[1] > 2:
        parts += ["<h3>Unseen classes</h3>", f"<p class='legend'>{html_text(UNSEEN_NOTE)}</p>",
                  unseen.to_html(index=False, escape=False, border=0)]
    if len(ranks):
        parts += ["<h3>Average rank over rows</h3>",
                  _labelled(ranks, labels, "variant").to_html(index=False, float_format="%.2f", border=0)]
    if len(tests):
        parts += ["<h3>Paired Wilcoxon signed-rank tests over rows</h3>",
                  _labelled(tests, labels, "reference", "versus").to_html(index=False, float_format="%.4f",
                                                                          border=0)]
    friedman = rankings_frame(rankings(df), labels)
    if len(friedman):
        parts += ["<h3>Friedman test over rows</h3>", f"<p class='legend'>{html_text(FRIEDMAN_NOTE)}</p>",
                  friedman.to_html(index=False, float_format="%.4g", border=0)]
    parts.append("<p class='prov'>" + "<br>".join(html_text(x) for x in provenance_lines(layout, runs)) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _with_caption(table_html: str, caption: str) -> str:
    start = table_html.index(">", table_html.index("<table")) + 1
    return table_html[:start] + f"\n<caption>{html_text(caption)}</caption>" + table_html[start:]
