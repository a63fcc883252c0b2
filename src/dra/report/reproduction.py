"""The reproduction table: across every table, each cell whose difference from the paper is flagged
(beyond twice the larger std, at least 0.01), with a per-table count of the cells compared."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dra.errors import DraError

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


def summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per table: cells, cells with ours and the paper's number (compared), flagged, mean |diff|."""
    compared = cells["paper_mean"].notna() & (cells["n"] > 0)
    by = cells.assign(compared=compared, flagged=cells["flagged"].astype(bool) & compared,
                      absdiff=cells["diff"].abs().where(compared))
    out = by.groupby("table", sort=False).agg(cells=("variant", "size"), compared=("compared", "sum"),
                                              flagged=("flagged", "sum"), mean_abs_diff=("absdiff", "mean"))
    return out.reset_index()


def flagged(cells: pd.DataFrame) -> pd.DataFrame:
    sel = cells[cells["flagged"].astype(bool) & cells["paper_mean"].notna()]
    return sel.sort_values(["table", "diff"], key=lambda c: c.abs() if c.name == "diff" else c,
                           ascending=[True, False], kind="stable")[FLAGGED_COLUMNS].reset_index(drop=True)


def markdown(summary_df: pd.DataFrame, flagged_df: pd.DataFrame) -> str:
    total, n_flagged = int(summary_df["compared"].sum()), len(flagged_df)
    parts = ["# Reproduction: our cells against the paper's", "",
             f"{total} cells have both our number and the paper's; {n_flagged} differ by more than twice the "
             "larger std (at least 0.01).", "", summary_df.to_markdown(index=False, floatfmt=".3f")]
    if n_flagged:
        parts += ["", "## Flagged cells (largest difference first, per table)", "",
                  flagged_df.to_markdown(index=False, floatfmt=".3f")]
    return "\n".join(parts) + "\n"
