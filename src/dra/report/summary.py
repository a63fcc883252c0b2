"""What a configuration ran, for the report's landing page and results/summary.md: datasets,
variants, seeds, budget, weights, image sizes, the code's commits, runs done and missing, and per
table how many cells were compared with the paper and flagged."""

from __future__ import annotations

import pandas as pd

from dra.escape import markdown_text, rst_text
from dra.report.reproduction import summary as reproduction_summary
from dra.report.tables import settings_lines


def facts(plan: dict, runs: pd.DataFrame) -> list[tuple[str, str]]:
    p = plan["provenance"]
    names = p["datasets"]
    expected = {tuple(r) for r in plan["runs"]}
    done = {(r.variant, r.dataset, r.subset, r.setting, int(r.shots), int(r.seed)) for r in runs.itertuples()}
    n_done = len(expected & done)
    commits = sorted({str(c) for c in runs["git_commit"].dropna()}) if len(runs) else []
    out = [
        ("Datasets", ", ".join(names.values())),
        ("Variants", ", ".join(p["variants"])),
        ("Seeds", ", ".join(map(str, p["seeds"]))),
        ("Budget", f"{p['budget']:g} x each method's epochs: " + _epochs(p["epochs"])),
        ("Weights", p["weights"]),
        ("Image sizes", ", ".join(f"{names.get(d, d)} {'/'.join(map(str, s))} px" for d, s in p["image_sizes"].items())),
        *[tuple(line.split(": ", 1)) for line in settings_lines(p, epochs=False)],
        ("Runs", f"{n_done} done, {len(expected) - n_done} missing, of {len(expected)}"
         + (" (partial: tables and figures show the runs done so far)" if plan.get("partial") else "")),
        ("Code", ", ".join(commits) or "(no run yet)"),
        ("Tables", ", ".join(plan["tables"]) or "(none)"),
        ("Figures", ", ".join(plan["plots"]) or "(none)"),
    ]
    return out


def _epochs(by_variant: dict) -> str:
    """{variant: [epochs]} -> '3 epochs: dra, saoe; 5 epochs: devnet' (or '2 epochs, every variant')."""
    groups: dict[str, list[str]] = {}
    for v, e in by_variant.items():
        groups.setdefault("/".join(map(str, e)), []).append(v)
    if len(groups) == 1:
        return f"{next(iter(groups))} epochs, every variant"
    return "; ".join(f"{e} epochs: {', '.join(vs)}" for e, vs in groups.items())


def deviation_counts(tables: pd.DataFrame) -> str:
    """'weights none: 36 cells; budget 0.1: 36 cells': the table cells whose runs deviate from the
    paper's protocol, counted per reason (a cell with two reasons counts under each)."""
    if "deviations" not in tables:
        return ""
    reasons = tables["deviations"].map(lambda x: x.split("; ") if isinstance(x, str) else []).explode()
    counts = reasons[reasons.notna() & (reasons != "")].value_counts(sort=False)
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    return "; ".join(f"{r}: {n} cell{'s' if n != 1 else ''}" for r, n in counts.items())


def _against_paper(tables: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    s = reproduction_summary(tables)
    text = (f"{int(s['compared'].sum())} cells have our number and the paper's under its protocol; "
            f"{int(s['flagged'].sum())} differ by more than twice the larger std (at least 0.01).")
    apart = int(s["not_comparable"].sum())
    if apart:
        text += f" {apart} more have the paper's number but deviate from its protocol: not comparable, never flagged."
    return s, text


def markdown(plan: dict, runs: pd.DataFrame, tables: pd.DataFrame | None) -> str:
    parts = ["# What was run", ""] + [f"- **{markdown_text(k)}**: {markdown_text(v)}" for k, v in facts(plan, runs)]
    if tables is not None and len(tables):
        s, text = _against_paper(tables)
        parts += ["", "## Against the paper", "", text, "", s.to_markdown(index=False, floatfmt=".3f")]
        deviating = deviation_counts(tables)
        if deviating:
            parts += ["", f"Cells deviating from the paper's protocol, by reason: {deviating}."]
    return "\n".join(parts) + "\n"


def rst(plan: dict, runs: pd.DataFrame, tables: pd.DataFrame | None) -> str:
    """The same as reStructuredText, which the report's landing page includes: every value made
    inert (dra.escape.rst_text), so a dataset label cannot become a directive or markup."""
    parts = ["What was run", "-" * 12, ""] + [f"- **{k}**: {rst_text(v)}" for k, v in facts(plan, runs)]
    if tables is not None and len(tables):
        s, text = _against_paper(tables)
        s = s.assign(table=s["table"].map(rst_text))
        parts += ["", "Against the paper", "-" * 17, "", rst_text(text), "",
                  s.to_markdown(index=False, tablefmt="rst", floatfmt=".3f")]
        deviating = deviation_counts(tables)
        if deviating:
            parts += ["", rst_text(f"Cells deviating from the paper's protocol, by reason: {deviating}.")]
    return "\n".join(parts) + "\n"
