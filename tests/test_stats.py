"""Numbers a reviewer can trust (issue 23): per-run operating points and per-class AUROCs on scores
with known answers, the bootstrap interval's coverage by simulation, the paired bootstrap on two
simulated methods, the Friedman ranking on a table with a known order, protocol deviations."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from conftest import ROOT
from dra.evaluate import image_metrics, operating_points, per_class_auroc
from dra.report.deviations import deviations
from dra.report.stats import (Replicates, RunScores, cell_replicates, friedman, interval, stratified_counts,
                              weighted_auroc)
from dra.report.cells import cells, stats
from dra.report.tables import latex, markdown
from runfiles import files, layout, write_run

NO_PAPER = pd.DataFrame(columns=["table", "metric", "dataset", "subset", "setting", "method", "shots", "mean", "std"])


# --- per-run metrics -----------------------------------------------------------------------------

def known_scores():
    """100 normals scoring 0..99; anomalies: 5 at 99.5 and 5 at 98.5 (class a), 8 at 50.5 (class b),
    2 at 49.5 (class c)."""
    normals = np.arange(100, dtype=float)
    anomalies = np.array([99.5] * 5 + [98.5] * 5 + [50.5] * 8 + [49.5] * 2)
    labels = np.r_[np.zeros(100, int), np.ones(20, int)]
    classes = [""] * 100 + ["a"] * 10 + ["b"] * 8 + ["c"] * 2
    return labels, np.r_[normals, anomalies], classes


def test_operating_points_on_known_scores():
    labels, scores, _ = known_scores()
    p = operating_points(labels, scores)
    # FPR <= 1 %: one normal (99) may pass, so the threshold 98.5 catches the ten class-a anomalies
    assert p["tpr_at_fpr_1"] == pytest.approx(10 / 20)
    assert p["tpr_at_fpr_5"] == pytest.approx(10 / 20)  # the next anomalies (50.5) pass 49 normals
    # 95 % of 20 anomalies is 19: the threshold 49.5 catches all 20 and passes normals 50..99
    assert p["fpr_at_tpr_95"] == pytest.approx(50 / 100)
    assert p["undefined"] is None


def test_per_class_auroc_is_each_class_against_all_normals():
    labels, scores, classes = known_scores()
    got = per_class_auroc(labels, scores, classes)
    assert set(got) == {"a", "b", "c"}
    # class a: 99.5 beats every normal; 98.5 beats 99 of 100
    assert got["a"] == pytest.approx((5 * 100 + 5 * 99) / (10 * 100))
    assert got["b"] == pytest.approx(51 / 100) and got["c"] == pytest.approx(50 / 100)
    m = image_metrics(labels, scores, classes)
    assert m["class_auroc"] == got and m["auroc"] == pytest.approx(roc_auc_score(labels, scores))


def test_a_single_label_test_set_says_so():
    m = image_metrics(np.ones(5, int), np.arange(5.0), ["a"] * 5)
    assert m["auroc"] is None and m["tpr_at_fpr_1"] is None and m["fpr_at_tpr_95"] is None
    assert "only anomalies" in m["undefined"] and m["class_auroc"] == {}


# --- the vectorised bootstrap ---------------------------------------------------------------------

def test_weighted_auroc_equals_sklearn_on_explicit_resamples():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(30, int), np.ones(20, int)]
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: ties between and within classes
    classes = np.where(labels == 1, np.where(np.arange(50) % 2, "x", "y"), "")
    whole, _ = weighted_auroc(scores, labels, np.ones((1, 50), int))
    assert whole[0] == pytest.approx(roc_auc_score(labels, scores))
    counts = stratified_counts(np.array([f"{y}:{c}" for y, c in zip(labels, classes)]), seed=3, b=5)
    assert (counts[:, labels == 0].sum(axis=1) == 30).all() and (counts[:, classes == "x"].sum(axis=1) == 10).all()
    whole, parts = weighted_auroc(scores, labels, counts, {"x": classes[labels == 1] == "x"})
    for b in range(5):
        idx = np.repeat(np.arange(50), counts[b])
        assert whole[b] == pytest.approx(roc_auc_score(labels[idx], scores[idx]))
        pick = idx[(labels[idx] == 0) | (classes[idx] == "x")]
        assert parts["x"][b] == pytest.approx(roc_auc_score(labels[pick], scores[pick]))


def simulated_runs(rng, n_sets, seeds=1, n0=60, n1=40, auroc=0.8, variant="m"):
    """Score sets with a known AUROC: normals N(0, 1), anomalies N(d, 1), AUROC = Phi(d / sqrt 2)."""
    d = np.sqrt(2) * norm.ppf(auroc)
    labels = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    out = []
    for i in range(n_sets):
        runs = {}
        for k in range(seeds):
            scores = np.r_[rng.normal(0, 1, n0), rng.normal(d, 1, n1)]
            runs[(variant, "sim", f"set{i}", "general", 10, k)] = RunScores(
                np.array([f"img{j}" for j in range(n0 + n1)]), labels, np.where(labels == 1, "a", ""), scores)
        out.append(runs)
    return out


def coverage(n_sets, seeds):
    hits = 0
    for i, runs in enumerate(simulated_runs(np.random.default_rng(7), n_sets, seeds)):
        row = ("sim", f"set{i}", "general")
        r = cell_replicates(Replicates(runs).auroc, "m", 10, row, [row], tuple(range(seeds)))
        lo, hi = interval(r)
        hits += lo <= 0.8 <= hi
    return hits / n_sets


def test_interval_coverage_on_a_known_auroc_is_near_95_percent():
    """200 simulated test sets of 60 normals and 40 anomalies with AUROC 0.8, one seed each."""
    assert 0.90 <= coverage(200, seeds=1) <= 0.99


def test_interval_over_three_seeds_covers_at_least_nominally():
    """Three seeds without training noise: resampling seeds on top of images is conservative (it
    counts the test sets' noise twice; docs/protocol.md says so), never below nominal."""
    assert coverage(60, seeds=3) >= 0.95


def test_same_inputs_give_the_same_interval_bit_for_bit():
    runs = simulated_runs(np.random.default_rng(1), 1, seeds=2)[0]
    row = ("sim", "set0", "general")
    a = cell_replicates(Replicates(runs).auroc, "m", 10, row, [row], (0, 1))
    b = cell_replicates(Replicates(dict(reversed(list(runs.items())))).auroc, "m", 10, row, [row], (0, 1))
    assert np.array_equal(a, b)


# --- paired comparison within a row ---------------------------------------------------------------

def two_methods(rng, gap_sd):
    """Two methods on the same 150 normals and 75 anomalies: B is A's scores plus noise of sd gap_sd
    (a real loss of AUROC), or, with gap_sd None, an independent draw of the same quality."""
    n0, n1 = 150, 75
    labels = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    signal = rng.normal(labels * 1.2, 1.0)
    other = rng.normal(labels * 1.2, 1.0) if gap_sd is None else signal + rng.normal(0, gap_sd, n0 + n1)
    ids = np.array([f"img{j}" for j in range(n0 + n1)])
    cls = np.where(labels == 1, "a", "")
    return {("a", "sim", "s", "general", 10, 0): RunScores(ids, labels, cls, signal),
            ("b", "sim", "s", "general", 10, 0): RunScores(ids, labels, cls, other)}


def marked_below(runs):
    lay = {"name": "t", "caption": "t", "rows": [["sim", "s", "general"]], "columns": [["a", 10], ["b", 10]],
           "seeds": [0]}
    frame = pd.DataFrame([{"variant": k[0], "dataset": "sim", "subset": "s", "setting": "general", "shots": 10,
                           "seed": 0, "auroc": roc_auc_score(r.labels, r.scores)} for k, r in runs.items()])
    df = cells(lay, frame, NO_PAPER, Replicates(runs))
    worse = df[~df.best].iloc[0]
    assert worse.vs_best_lo <= worse.vs_best_diff <= worse.vs_best_hi
    return bool(worse.below_best)


def test_paired_bootstrap_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(11)
    real = [marked_below(two_methods(rng, gap_sd=1.5)) for _ in range(20)]
    null = [marked_below(two_methods(rng, gap_sd=None)) for _ in range(40)]
    assert sum(real) >= 18, real
    assert sum(null) <= 4, null  # about 5 %: the best is picked from the data


# --- ranking over rows ----------------------------------------------------------------------------

def ordered_table(n_rows=8):
    rng = np.random.default_rng(2)
    rows = []
    for i in range(n_rows):
        base = rng.uniform(0.6, 0.7)
        for j, v in enumerate(["best", "second", "third", "worst"]):
            rows.append({"dataset": "d", "subset": f"s{i}", "setting": "general", "variant": v, "shots": 10,
                         "metric": "auroc", "n": 1, "mean": base + 0.05 * (3 - j)})
    return pd.DataFrame(rows)


def test_friedman_and_nemenyi_recover_a_known_order():
    df = ordered_table()
    wide = df.pivot_table(index="subset", columns="variant", values="mean")[["best", "second", "third", "worst"]]
    r = friedman(wide, "auroc", 10)
    assert list(r.ranks.sort_values().index) == ["best", "second", "third", "worst"]
    assert list(r.ranks.sort_values()) == [1.0, 2.0, 3.0, 4.0]
    assert r.p_value < 0.001
    assert r.nemenyi.loc["best", "worst"] < 0.05 and r.nemenyi.loc["best", "second"] > 0.05
    assert r.cd == pytest.approx(2.569 * np.sqrt(4 * 5 / (6 * 8)), rel=1e-3)  # Demsar's q_0.05 for k = 4
    assert friedman(wide[["best", "second"]], "auroc", 10) is None  # two methods: no Friedman test


def test_cd_figure_is_drawn_and_says_when_there_is_no_ranking(tmp_path):
    from dra.report.cd import cd_figure
    from dra.report.stats import rankings

    df = ordered_table().assign(table="t")
    fig = cd_figure(rankings(df), "Known order", {"best": "Best $x$"})
    assert "Friedman p" in fig.axes[0].get_title()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("Best" in t for t in texts) and any("worst" in t for t in texts)
    r = rankings(df)[0]
    assert f"CD = {r.cd:.2f}" in texts  # the scale bar's label, once per panel
    assert fig.axes[0].get_xlim()[1] >= r.ranks.min() + r.cd  # the bar fits the axis
    fig.savefig(tmp_path / "cd.png")
    empty = cd_figure([], "Nothing")
    assert "No ranking" in empty.axes[0].texts[0].get_text()


# --- protocol deviations --------------------------------------------------------------------------

def test_deviation_codes_against_a_protocol_reference():
    run = {"budget": 0.1, "weights": "none", "image_size": 64,
           "params": {"epochs": 3, "pseudo": "cutmix", "texture_source": "synthetic", "lr": 0.1}}
    ref = {"image_size": 224, "params": {"epochs": 30, "pseudo": "lag", "texture_source": "dtd", "lr": 0.0002}}
    got = dict(deviations(run, ref))
    assert list(got) == ["B", "W", "S", "P", "T", "E"]  # epochs: explained by the budget, not an E
    assert got["B"] == "budget 0.1" and got["E"] == "lr 0.1 (protocol 0.0002)"
    same = {"budget": 1.0, "weights": "imagenet", "image_size": 224, "params": dict(ref["params"])}
    assert deviations(same, ref) == []
    shorter = {**same, "params": {**ref["params"], "epochs": 3}}  # at budget 1: an overridden schedule
    assert deviations(shorter, ref) == [("E", "epochs 3 (protocol 30)")]
    assert [c for c, _ in deviations(run)] == ["B", "W"]  # no reference: only budget and weights


def test_a_deviating_cell_is_marked_not_comparable_and_a_conforming_one_is_flagged(tmp_path):
    """Same scores, far from the paper's number: at the paper's protocol the cell is flagged; at a
    CPU budget without ImageNet weights it says not comparable and is never flagged."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(40, int), np.ones(20, int)]
    scores = rng.normal(labels * 0.5, 1.0)
    ok = write_run(tmp_path / "a", "dra", "elpv", "elpv", "general", 10, 0, labels, scores)
    off = write_run(tmp_path / "b", "dra", "elpv", "elpv", "general", 10, 0, labels, scores, budget=0.1,
                    weights="none")
    lay = layout("table1_general", [("elpv", "elpv", "general")], ["dra"], seeds=[0])
    paper = pd.DataFrame([{"table": "table1_general", "metric": "auroc", "dataset": "elpv", "subset": "elpv",
                           "setting": "general", "method": "dra", "shots": 10, "mean": 0.99, "std": 0.005}])
    from dra.report.runs import verified_runs_frame

    good = cells(lay, verified_runs_frame(files([ok]))[0], paper).iloc[0]
    bad = cells(lay, verified_runs_frame(files([off]))[0], paper).iloc[0]
    assert good.flagged and good.deviation_codes == "" and good.comparison == "same protocol"
    assert not bad.flagged and bad.deviation_codes == "BW" and bad.comparison == "not comparable: BW"
    assert bad.deviations == "budget 0.1; weights none" and bad.paper_mean == 0.99  # the paper's number stays
    df = cells(lay, verified_runs_frame(files([off]))[0], paper)
    md = markdown(lay, df, *stats(df))
    cell_line = next(x for x in md.splitlines() if x.startswith("| elpv"))
    assert "[BW]" in cell_line and "n.c." in cell_line and "!" not in cell_line and "Protocol deviations" in md
    assert "\\textsuperscript{BW}" in latex(lay, df)
    md_ok = markdown(lay, cells(lay, verified_runs_frame(files([ok]))[0], paper), pd.DataFrame(), pd.DataFrame())
    ok_line = next(x for x in md_ok.splitlines() if x.startswith("| elpv"))
    assert "[BW]" not in ok_line and "n.c." not in ok_line and ok_line.rstrip(" |").endswith("!")
    assert "Protocol deviations" not in md_ok


def test_summary_counts_deviating_cells_by_reason():
    from dra.report.summary import deviation_counts

    t = pd.DataFrame({"deviations": ["budget 0.1; weights none", "weights none", "", np.nan]})
    assert deviation_counts(t) == "weights none: 2 cells; budget 0.1: 1 cell"


# --- the table command end to end -----------------------------------------------------------------

def test_table_command_writes_intervals_classes_and_cd_figure(tmp_path):
    """Two hard rows x three methods x two seeds: the CSV holds lo <= mean <= hi and the unseen
    classes' spread; the per-class table lists every unseen class; the CD figure is written; the
    cells computed again from the same files are the same CSV, bit for bit."""
    rng = np.random.default_rng(5)
    folders = []
    rows = [("mvtecad", "carpet", "hard-color"), ("mvtecad", "carpet", "hard-cut")]
    for setting in ("hard-color", "hard-cut"):
        unseen = ["hole", "thread"]
        labels = np.r_[np.zeros(30, int), np.ones(20, int)]
        classes = [""] * 30 + [unseen[i % 2] for i in range(20)]
        for seed in (0, 1):
            for j, v in enumerate(["devnet", "dra", "kdad"]):
                shift = np.where(np.array(classes) == "hole", 2.5 - 0.5 * j, -1.0)  # thread: below 0.5
                folders.append(write_run(tmp_path, v, "mvtecad", "carpet", setting, 10, seed, labels,
                                         rng.normal(labels * shift, 1.0), classes))
    lay = layout("table2_hard", rows, ["devnet", "dra", "kdad"], seeds=[0, 1])
    (tmp_path / "layout.json").write_text(json.dumps(lay))

    r = subprocess.run([sys.executable, "-m", "dra", "table", "table2_hard", *map(str, files(folders)),
                        "--layout", f"@{tmp_path / 'layout.json'}", "--paper", str(ROOT / "config/paper_results.csv"),
                        "--out", str(tmp_path / "t"), "--cd-out", str(tmp_path / "fig_cd"),
                        "--classes-out", str(tmp_path / "classes"), "--intervals"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "t.csv")
    single = df[df.setting != "hard-mean"]
    assert (single.lo <= single["mean"]).all() and (single["mean"] <= single.hi).all()
    assert df.lo.notna().all()  # the mean rows too
    assert (single.classes_below_half == 1).all() and (single.class_spread > 0.2).all()
    assert set(json.loads(single.class_auroc.iloc[0])) == {"hole", "thread"}
    classes = pd.read_csv(tmp_path / "classes.csv")
    assert set(classes.anomaly_class) == {"hole", "thread"} and len(classes) == 2 * 2 * 3
    assert (classes.lo <= classes["mean"]).all() and (classes["mean"] <= classes.hi).all()
    assert (tmp_path / "fig_cd.png").stat().st_size > 1000 and (tmp_path / "classes.html").is_file()
    md = (tmp_path / "t.md").read_text()
    assert "## Unseen classes" in md and "(1 < 0.5)" in md and "## Friedman test over rows" in md
    from dra.commands.table import run_scores
    from dra.report.runs import verified_runs_frame

    runs, scores = verified_runs_frame(list(reversed(files(folders))))  # another order, the same cells
    runs = runs.sort_values(["variant", "dataset", "subset", "setting", "shots", "seed"]).reset_index(drop=True)
    again = cells(lay, runs, pd.read_csv(ROOT / "config/paper_results.csv"), Replicates(run_scores(scores)))
    assert again.to_csv(index=False, float_format="%.6f") == (tmp_path / "t.csv").read_text()


def test_the_legend_explains_only_the_marks_a_table_shows():
    from dra.report.tables import BELOW_MARK, INTERVAL_MARK, legend_lines

    plain = pd.DataFrame({"below_best": [False, False], "deviation_codes": ["", ""]})
    assert legend_lines(plain, intervals=False) == []
    assert legend_lines(plain, intervals=True) == [INTERVAL_MARK]
    marked = pd.DataFrame({"below_best": [True, False], "deviation_codes": ["BW", ""]})
    lines = legend_lines(marked, intervals=False)
    assert lines[0] == BELOW_MARK and "[lo, hi]" not in lines[0] and lines[1].startswith("Protocol deviations")
    from dra.report.classes import note

    assert "the CSV's lo, hi" in note(False) and "the CSV" not in note(True)


def test_a_hard_row_with_one_unseen_class_has_no_spread(tmp_path):
    """ELPV's hard rows test one unseen class each: no spread to show (not 0.000), its count below 0.5 still."""
    from dra.report.runs import verified_runs_frame

    labels = np.r_[np.zeros(30, int), np.ones(10, int)]
    scores = np.r_[np.arange(30.0), np.arange(10.0)]  # the unseen class mostly below the normals
    run = write_run(tmp_path, "dra", "elpv", "elpv", "hard-mono", 10, 0, labels, scores, [""] * 30 + ["poly"] * 10)
    lay = layout("table2_hard", [("elpv", "elpv", "hard-mono")], ["dra"])
    df = cells(lay, verified_runs_frame(files([run]))[0], NO_PAPER)
    row = df[df.setting == "hard-mono"].iloc[0]
    assert np.isnan(row.class_spread) and row.classes_below_half == 1
    md = markdown(lay, df, *stats(df))
    assert "– (one class) (1 < 0.5)" in md and "0.000 (" not in md
