"""One paper table rendered from its cells (dra.report.cells) as Markdown, LaTeX and HTML (the
report shows the HTML): ours beside the paper's numbers, intervals, marks and deviation codes, the
unseen classes of hard rows, ranks and tests, and the provenance footer. Every name shown
(datasets, classes, variants, captions) is escaped for the format; the bold, the flags and the
marks are our own markup."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dra.plan.runkey import HARD_MEAN, hard_class, is_hard, source_of
from dra.report.deviations import CODES, legend as deviation_legend
from dra.escape import html_text, latex_text, markdown_text
from dra.report.stats import rankings, rankings_frame

METRIC_LABELS = {"auroc": "AUROC", "aupr": "AUPR", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}
LEGEND = ("Cells: ours (mean ± population std over seeds; one seed: its value) / paper (difference); best of ours "
          "per row, metric and shot count in bold; ! marks a difference beyond twice the larger std (at least 0.01).")
INTERVAL_MARK = ("[lo, hi]: 95 % interval of ours (stratified bootstrap over test images within each seed, and over "
                 "seeds).")
BELOW_MARK = "† below the row's best: the paired bootstrap interval of the difference excludes 0."


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
    if not is_hard(str(c.setting)) or pd.isna(c.get("classes_below_half")):
        return None
    spread = "– (one class)" if pd.isna(c.get("class_spread")) else f"{c.class_spread:.3f}"
    return f"{spread} ({int(c.classes_below_half)} < 0.5)"


UNSEEN_NOTE = ("Per hard row and method: the spread (max - min) of the unseen classes' AUROCs, each class's "
               "anomalies against all test normals, means over seeds; in brackets how many unseen classes are "
               "below 0.5 (ranked worse than chance); a row with one unseen class has no spread. Every class's "
               "AUROC: the table's _classes table.")


def legend_lines(df: pd.DataFrame, intervals: bool) -> list[str]:
    """What the marks a table uses mean: intervals and †, the protocol-deviation codes."""
    lines = []
    marks = [INTERVAL_MARK] if intervals else []
    if df.get("below_best", pd.Series(dtype=bool)).any():
        marks.append(BELOW_MARK)
    if marks:
        lines.append(" ".join(marks))
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
