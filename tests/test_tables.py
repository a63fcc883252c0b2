"""Aggregation on hand-made runs: means, population stds, mean rows per seed, ranks, flags."""

import numpy as np
import pandas as pd
import pytest

from dra.report.cells import cells, stats
from dra.report.tables import latex, markdown

LAYOUT = {
    "name": "t",
    "caption": "t",
    "rows": [["mvtecad", "carpet", "general"], ["mvtecad", "grid", "general"], ["elpv", "elpv", "general"]],
    "columns": [["devnet", 10], ["dra", 10]],
    "seeds": [0, 1],
}
AUROC = {  # (variant, subset) -> per-seed values
    ("dra", "carpet"): [0.90, 0.94], ("dra", "grid"): [0.80, 0.70], ("dra", "elpv"): [0.85, 0.87],
    ("devnet", "carpet"): [0.70, 0.72], ("devnet", "grid"): [0.60, 0.64], ("devnet", "elpv"): [0.95],
}


@pytest.fixture
def runs():
    rows = []
    for (v, s), vals in AUROC.items():
        d = "elpv" if s == "elpv" else "mvtecad"
        rows += [{"variant": v, "dataset": d, "subset": s, "setting": "general", "shots": 10, "seed": k,
                  "auroc": x} for k, x in enumerate(vals)]
    return pd.DataFrame(rows)


@pytest.fixture
def paper():
    return pd.DataFrame([
        {"table": "t", "dataset": "mvtecad", "subset": "carpet", "setting": "general", "method": "dra", "shots": 10,
         "metric": "auroc", "mean": 0.92, "std": 0.01},
        {"table": "t", "dataset": "mvtecad", "subset": "grid", "setting": "general", "method": "dra", "shots": 10,
         "metric": "auroc", "mean": 0.99, "std": 0.01},
    ])


def cell(df, v, s):
    return df[(df.variant == v) & (df.subset == s)].iloc[0]


def test_means_population_std_and_seeds(runs, paper):
    df = cells(LAYOUT, runs, paper)
    c = cell(df, "dra", "carpet")
    assert c["mean"] == pytest.approx(0.92) and c["std"] == pytest.approx(0.02)  # ddof 0
    assert c.n == 2 and c["values"] == "0.900000;0.940000"


def test_mvtec_mean_row_is_per_seed_then_averaged(runs, paper):
    df = cells(LAYOUT, runs, paper)
    m = cell(df, "dra", "mean")
    per_seed = [np.mean([0.90, 0.80]), np.mean([0.94, 0.70])]
    assert m["mean"] == pytest.approx(np.mean(per_seed)) and m["std"] == pytest.approx(np.std(per_seed))
    # row order: the mean row follows MVTec's categories, before the next dataset
    order = list(df[df.variant == "dra"].subset)
    assert order == ["carpet", "grid", "mean", "elpv"]


def test_missing_seed_is_reported_not_hidden(runs, paper):
    df = cells(LAYOUT, runs, paper)
    c = cell(df, "devnet", "elpv")
    assert c.n == 1 and c.missing_seeds == "1"
    md = markdown(LAYOUT, df, *stats(df))
    assert "(1/2 seeds)" in md and "Missing runs" in md


def test_flags_against_paper(runs, paper):
    df = cells(LAYOUT, runs, paper)
    assert not cell(df, "dra", "carpet").flagged           # 0.92 vs 0.92
    grid = cell(df, "dra", "grid")
    assert grid.flagged and grid["diff"] == pytest.approx(0.75 - 0.99)  # beyond 2 x max(0.05, 0.01)
    assert not cell(df, "devnet", "carpet").flagged        # no paper number: never flagged


def test_best_ranks_and_wilcoxon(runs, paper):
    df = cells(LAYOUT, runs, paper)
    assert cell(df, "dra", "carpet").best and not cell(df, "devnet", "carpet").best
    assert cell(df, "devnet", "elpv").best
    ranks, tests = stats(df)
    r = dict(zip(ranks.variant, ranks.average_rank))
    assert r["dra"] == pytest.approx(4 / 3) and r["devnet"] == pytest.approx(5 / 3)
    t = tests.iloc[0]
    assert (t.versus, t.wins, t.losses, t.rows) == ("devnet", 2, 1, 3)
    assert 0 < t.p_value <= 1


def test_display_labels_head_columns_ranks_and_tests(runs, paper):
    layout = {**LAYOUT, "labels": {"dra": "DRA", "devnet": "DevNet"}}
    df = cells(layout, runs, paper)
    md = markdown(layout, df, *stats(df))
    header = md.splitlines()[4]
    assert "DevNet (10-shot)" in header and "DRA (10-shot)" in header and "devnet" not in header
    ranks = md.split("## Average rank over rows")[1].split("##")[0]
    assert "DevNet" in ranks and "devnet" not in ranks
    assert "| DRA " in md.split("## Paired Wilcoxon")[1]
    assert "DevNet (10-shot)" in latex(layout, df)
    assert "devnet (10-shot)" in markdown(LAYOUT, df, *stats(df))  # no labels: the variant names


def test_crossdomain_table_is_targets_by_sources_without_mean_rows():
    """Table 9's layout: one row per target texture, one column per source, then KDAD on the target."""
    layout = {"name": "t9", "caption": "t9", "seeds": [0], "mean_rows": False,
              "rows": [["mvtecad", "carpet", "from-grid"], ["mvtecad", "grid", "from-carpet"],
                       ["mvtecad", "carpet", "general"], ["mvtecad", "grid", "general"]],
              "cells": [["mvtecad", "carpet", "from-grid", "dra_xdomain"], ["mvtecad", "grid", "from-carpet", "dra_xdomain"],
                        ["mvtecad", "carpet", "general", "kdad"], ["mvtecad", "grid", "general", "kdad"]],
              "columns": [["kdad", 0], ["dra_xdomain", 10]], "labels": {"dra_xdomain": "DRA", "kdad": "KDAD"}}
    runs = pd.DataFrame([
        {"variant": "dra_xdomain", "dataset": "mvtecad", "subset": "carpet", "setting": "from-grid", "shots": 10,
         "seed": 0, "auroc": 0.83},
        {"variant": "dra_xdomain", "dataset": "mvtecad", "subset": "grid", "setting": "from-carpet", "shots": 10,
         "seed": 0, "auroc": 0.98},
        {"variant": "kdad", "dataset": "mvtecad", "subset": "carpet", "setting": "general", "shots": 0, "seed": 0,
         "auroc": 0.77},
        {"variant": "kdad", "dataset": "mvtecad", "subset": "grid", "setting": "general", "shots": 0, "seed": 0,
         "auroc": 0.75},
    ])
    paper = pd.DataFrame(columns=["table", "metric", "dataset", "subset", "setting", "method", "shots", "mean", "std"])
    df = cells(layout, runs, paper)
    assert len(df) == 4 and "mean" not in set(df.subset)  # no MVTec mean row
    assert not df.best.any()  # each cell is alone in its row and shot count
    md = markdown(layout, df, *stats(df))
    lines = [x for x in md.splitlines() if x.startswith("| ")]
    assert [h.strip() for h in lines[0].split("|")[1:-1]] == ["Dataset", "DRA from carpet (10-shot)",
                                                              "DRA from grid (10-shot)", "KDAD"]
    assert lines[1].replace(" ", "").split("|")[1:-1] == ["mvtecad/carpet", "", "0.830", "0.770"]  # one seed: no spurious ±0.000
    assert lines[2].replace(" ", "").split("|")[1:-1] == ["mvtecad/grid", "0.980", "", "0.750"]
    assert "{lccc}" in latex(layout, df)
