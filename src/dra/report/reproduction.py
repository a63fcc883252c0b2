"""The reproduction table: across every table, each cell whose difference from the paper is flagged
(beyond twice the larger std, at least 0.01), with a per-table count of the cells compared. A cell
whose runs deviate from the paper's protocol (its `comparison` says not comparable) has the paper's
number but is not compared: it is counted apart, never flagged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dra.errors import DraError
from dra.escape import markdown_text

NEEDED = ["table", "dataset", "subset", "setting", "variant", "shots", "mean", "std", "n", "paper_mean",
          "paper_std", "diff", "flagged"]
FLAGGED_COLUMNS = ["table", "dataset", "subset", "setting", "variant", "shots", "mean", "std", "n", "paper_mean",
                   "paper_std", "diff"]


def read_tables(paths: list[Path]) -> pd.DataFrame:
    """Every table's cells, one frame; a file that is not a table CSV is an error naming it."""
    frames = []
    for p in paths:
        df = pd.read_csv(p)
        lacking = [c for c in NEEDED if c not in df.columns]
        if lacking:
            raise DraError(f"{p}: not a table CSV (written by `python -m dra table`): lacks columns {lacking}")
        frames.append(df)
    if not frames:
        raise DraError("no table CSVs given")
    return pd.concat(frames, ignore_index=True)


def not_comparable(cells: pd.DataFrame) -> pd.Series:
    """Cells with the paper's number whose runs deviate from the paper's protocol."""
    if "comparison" not in cells:
        return pd.Series(False, index=cells.index)
    return cells["comparison"].map(lambda x: isinstance(x, str) and x.startswith("not comparable")).astype(bool)


def summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per table: cells, cells with ours and the paper's number under the paper's protocol
    (compared), flagged, mean |diff|, and cells with the paper's number that are not comparable."""
    has_both = cells["paper_mean"].notna() & (cells["n"] > 0)
    apart = has_both & not_comparable(cells)
    compared = has_both & ~apart
    by = cells.assign(compared=compared, not_comparable=apart, flagged=cells["flagged"].astype(bool) & compared,
                      absdiff=cells["diff"].abs().where(compared))
    out = by.groupby("table", sort=False).agg(cells=("variant", "size"), compared=("compared", "sum"),
                                              flagged=("flagged", "sum"), mean_abs_diff=("absdiff", "mean"),
                                              not_comparable=("not_comparable", "sum"))
    return out.reset_index()


def flagged(cells: pd.DataFrame) -> pd.DataFrame:
    sel = cells[cells["flagged"].astype(bool) & cells["paper_mean"].notna() & ~not_comparable(cells)]
    sel = sel.sort_values(["table", "diff"], key=lambda c: c.abs() if c.name == "diff" else c,
                          ascending=[True, False], kind="stable")
    labels = [c for c in ("variant_label", "dataset_label") if c in sel]
    return sel[FLAGGED_COLUMNS + labels].reset_index(drop=True)


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The flagged cells as the tables name them (the paper's names for variants and datasets, where the
    table CSVs carry them), every text escaped for a Markdown table."""
    out = frame.copy()
    for name in ("variant", "dataset"):
        if f"{name}_label" in out:
            labels = out.pop(f"{name}_label")
            out[name] = [label if isinstance(label, str) and label else own for label, own in zip(labels, out[name])]
    return out.map(lambda x: markdown_text(x) if isinstance(x, str) else x)


def markdown(summary_df: pd.DataFrame, flagged_df: pd.DataFrame) -> str:
    total, n_flagged = int(summary_df["compared"].sum()), len(flagged_df)
    apart = int(summary_df["not_comparable"].sum()) if "not_comparable" in summary_df else 0
    parts = ["# Reproduction: our cells against the paper's", "",
             f"{total} cells have both our number and the paper's; {n_flagged} differ by more than twice the "
             "larger std (at least 0.01)." + (f" {apart} more have the paper's number but runs that deviate from "
                                              "its protocol: not comparable, never flagged." if apart else ""),
             "", _shown(summary_df).to_markdown(index=False, floatfmt=".3f")]
    if n_flagged:
        parts += ["", "## Flagged cells (largest difference first, per table)", "",
                  _shown(flagged_df).to_markdown(index=False, floatfmt=".3f")]
    return "\n".join(parts) + "\n"
