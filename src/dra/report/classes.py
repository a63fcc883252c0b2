"""The per-class table of a table's hard rows (`<table>_classes`): for every hard row (seen class) and
every unseen class of its test set, each method's AUROC of that class's anomalies against all test
normals: mean over seeds, population std, the 95 % bootstrap interval; best per row in bold. Written
as CSV (tidy, one row per cell), Markdown and HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dra.escape import html_text, markdown_text
from dra.report.stats import Replicates, cell_replicates, interval
from dra.report.cells import _std
from dra.report.tables import BOLD, ESCAPE, HTML_STYLE, column_name, interval_text, row_label
from dra.plan.runkey import is_hard

CLASS_COLUMNS = ["table", "dataset", "subset", "setting", "anomaly_class", "variant", "shots", "metric", "mean", "std",
                 "n", "seeds", "values", "lo", "hi", "best"]


def note(intervals: bool) -> str:
    """The table's legend: where each cell's interval is (in the cell, or only in the CSV)."""
    shown = " and its 95 % bootstrap interval" if intervals else " (its 95 % bootstrap interval: the CSV's lo, hi)"
    return ("Each cell: the AUROC of one unseen class's test anomalies against all test normals (mean ± population "
            f"std over seeds){shown}; best per row and shot count in bold. Rows: the hard setting (the seen class) "
            "and each unseen class of its test set.")


def hard_rows(layout: dict) -> list[tuple]:
    return [tuple(r) for r in layout["rows"] if is_hard(str(r[2]))]


def class_cells(layout: dict, runs: pd.DataFrame, reps: Replicates | None = None) -> pd.DataFrame:
    """One row per (hard row, unseen class, variant, shots), from the runs' class_auroc dicts."""
    seeds = layout["seeds"]
    shown = {tuple(c) for c in layout.get("cells", [[*r, v] for r in layout["rows"] for v, _ in layout["columns"]])}
    by = {(r.variant, r.dataset, r.subset, r.setting, int(r.shots), int(r.seed)): r.class_auroc
          for r in runs.itertuples() if isinstance(r.class_auroc, dict)}
    out = []
    for row in hard_rows(layout):
        classes = sorted({c for (v, *rest), d in by.items() if tuple(rest[:3]) == row for c in d})
        for cls in classes:
            for variant, shots in layout["columns"]:
                if row + (variant,) not in shown:
                    continue
                vals = {k: by[(variant, *row, shots, k)][cls] for k in seeds
                        if cls in by.get((variant, *row, shots, k), {})}
                v = [vals[k] for k in sorted(vals)]
                lo = hi = np.nan
                if reps is not None and vals:
                    r = cell_replicates(_ClassView(reps, cls), variant, shots, row + (cls,), [row],
                                        tuple(sorted(vals)), reps.b)
                    if r is not None:
                        lo, hi = interval(r)
                out.append({"table": layout["name"], "dataset": row[0], "subset": row[1], "setting": row[2],
                            "anomaly_class": cls, "variant": variant, "shots": shots, "metric": "auroc",
                            "mean": float(np.mean(v)) if v else np.nan, "std": _std(v), "n": len(v),
                            "seeds": ";".join(map(str, sorted(vals))), "values": ";".join(f"{x:.6f}" for x in v),
                            "lo": lo, "hi": hi})
    df = pd.DataFrame(out, columns=CLASS_COLUMNS[:-1])
    group = df.groupby(["dataset", "subset", "setting", "anomaly_class", "shots"])["mean"]
    df["best"] = df["mean"].notna() & (df["mean"] == group.transform("max")) & (group.transform("count") > 1)
    return df


class _ClassView(dict):
    """{run key: that run's replicates of one class's AUROC}, looked up lazily."""

    def __init__(self, reps: Replicates, cls: str):
        super().__init__()
        self.reps, self.cls = reps, cls

    def get(self, key, default=None):
        return self.reps.classes.get(key, {}).get(self.cls, default)


def _text(c: pd.Series, kind: str, intervals: bool) -> str:
    if c.n == 0:
        return "missing"
    text = f"{c['mean']:.3f}±{c['std']:.3f}" if c.n > 1 else f"{c['mean']:.3f}"
    if c.best:
        text = BOLD["md" if kind == "md" else "html"].format(text)
    return text + (interval_text(c, kind) if intervals else "")


def wide_classes(df: pd.DataFrame, layout: dict, kind: str, intervals: bool) -> pd.DataFrame:
    esc = ESCAPE[kind]
    labels = layout.get("labels", {})
    lines: dict[tuple, dict] = {}
    columns: list[str] = []
    for _, c in df.iterrows():
        name, seen = row_label(c.dataset, c.subset, c.setting, layout.get("dataset_labels"))
        line = lines.setdefault((name, seen, c.anomaly_class),
                                {"Dataset": esc(name), "Seen": esc(seen), "Unseen": esc(c.anomaly_class)})
        col = esc(column_name(c.variant, c.shots, "", labels))
        if col not in columns:
            columns.append(col)
        line[col] = _text(c, kind, intervals)
    return pd.DataFrame(list(lines.values()), columns=["Dataset", "Seen", "Unseen"] + columns).fillna("")


def markdown(layout: dict, df: pd.DataFrame, intervals: bool = False) -> str:
    title = markdown_text(f"{layout['caption']}: every unseen class")
    body = wide_classes(df, layout, "md", intervals).to_markdown(index=False, disable_numparse=True) if len(df) \
        else "No hard-setting row has runs with per-class AUROCs."
    return "\n".join([f"# {title}", "", note(intervals), "", body]) + "\n"


def to_html(layout: dict, df: pd.DataFrame) -> str:
    name = f"{layout['name']}_classes"
    body = wide_classes(df, layout, "html", True).to_html(index=False, escape=False, border=0) if len(df) \
        else "<p>No hard-setting row has runs with per-class AUROCs.</p>"
    return "\n".join(["<!DOCTYPE html><html><head><meta charset='utf-8'>",
                      f"<title>{html_text(name)}</title><style>{HTML_STYLE}</style></head><body>",
                      f"<h3>{html_text(layout['caption'])}: every unseen class</h3>",
                      f"<p class='legend'>{html_text(note(True))}</p>", body, "</body></html>"]) + "\n"
