"""The whole pipeline, end to end (`make test-e2e`): the micro demo (config/micro.yaml over the demo:
every method, the hard and cross-domain settings, AHL on its base runs, pixel metrics, the figures;
one seed) ran once in one copy of the project (conftest's `micro`, in folders whose names hold a
space). Each test overlays its own configuration on that copy: precise reruns after an edit, the
report, a dataset of one's own, the count-check switch, a stale run folder, failed runs."""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
import shutil

import pandas as pd
import pytest

from dra.data.synth import generate
from dra.plan import runkey
from dra.plan.config import load_config, method_params
from dra.plan.matrix import all_runs, artefact, plots, runs_by_artefact, table_cells, tables
from dra.plan.methods import METHODS
from dra.plan.sources import closure
from snake import trained

pytestmark = pytest.mark.e2e


def micro_config(micro) -> dict:
    return load_config(micro.base / "config" / "config.yaml", *(micro.base / c for c in micro.configs))


def report_pages(html: str) -> list[str]:
    """The HTML pages a Snakemake report embeds (base64)."""
    return [base64.b64decode(m).decode("utf-8", "replace")
            for m in re.findall(r"data:text/html;charset=utf8;(?:filename=[^;]+;)?base64,([A-Za-z0-9+/=]+)", html)]


def test_every_table_and_figure_is_complete_and_nothing_is_left_to_do(micro):
    cfg = micro_config(micro)
    res = micro.results
    for table in tables(cfg):
        df = pd.read_csv(res / "tables" / f"{table}.csv")
        assert len(df) and df["mean"].notna().all() and (df["n"] == len(cfg["seeds"])).all(), table
        assert df["mean"].between(0, 1).all()
        auroc = df[df.metric == "auroc"]  # every AUROC cell has its interval
        assert auroc.lo.between(0, 1).all() and auroc.hi.between(0, 1).all() and (auroc.lo <= auroc.hi).all(), table
        md = (res / "tables" / f"{table}.md").read_text()
        cells = [c.strip() for line in md.splitlines() if line.startswith("|") for c in line.split("|")]
        assert "missing" not in cells and "Missing runs" not in md, table  # no empty cell, no lacking seed
        assert re.search(r"Runs: (\d+) done, 0 missing, of \1\b", md), table  # every planned run is in
        # every table writes its critical-difference figure; a table with hard rows its per-class table
        assert (res / "plots" / f"fig_cd_{table}.png").stat().st_size > 1000, table
        hard = any(runkey.is_hard(row[2]) for row, _ in table_cells(cfg, table)) and \
            "auroc" in artefact(cfg, table).get("metrics", ["auroc"])
        assert (res / "tables" / f"{table}_classes.html").is_file() == hard, table
    assert (res / "tables" / "table2_hard_classes.csv").is_file()
    assert not (res / "tables" / "table1_general_classes.csv").exists()
    pixel = pd.read_csv(res / "tables" / "table_localization.csv")
    assert set(pixel.metric) == {"pixel_auroc", "aupro"}  # the maps' metrics, every method with a map
    for plot in plots(cfg):
        assert (res / "plots" / f"{plot}.png").stat().st_size > 1000, plot
    runs = pd.read_csv(res / "runs.csv")
    assert len(runs) == len(all_runs(cfg, runs_by_artefact(cfg))) and runs["auroc"].notna().all()
    assert set(runs.variant) >= set(METHODS)  # every method of the registry ran
    assert runs["deviations"].str.contains("weights none").all()  # the demo starts at random
    for p in res.rglob("*"):  # results are readable by the group and others
        assert p.stat().st_mode & 0o044 == 0o044 or not p.is_file(), p
    assert "Nothing to be done" in micro.smk("-n", "all_tables").stdout


def test_editing_devnet_reruns_only_what_imports_it(micro):
    jobs = micro.plan_after_edit("methods/devnet.py", "a comment is an edit")
    variants = {j["variant"] for j in trained(jobs)}
    assert "devnet" in variants and "dra" not in variants
    cfg = micro_config(micro)
    for v in variants:  # every rerun variant's code imports devnet (FLOS builds on it), or its run does (AHL)
        method = method_params(cfg, v)[0]
        assert "dra.methods.devnet" in closure(f"dra.methods.{METHODS[method]}") or v == "ahl_devnet", v
    assert set(jobs) <= {"train", "train_keep_model", "maps", "collect", "table", "table_with_classes",
                         "reproduction", "plot", "summary", "all_tables"}, set(jobs)


def test_an_ahl_run_builds_on_its_base_run_and_an_edit_to_dra_replans_both(micro):
    """AHL(DRA)'s input is the model of the `dra` run with the same six words (kept only while needed:
    Snakemake deleted it after the run); an edit to methods/dra.py reruns both."""
    runs = micro.results / "runs"
    metrics = json.loads((runs / "ahl_dra" / "demo" / "weave" / "general" / "10shot" / "seed0" / "metrics.json").read_text())
    assert metrics["texture_source"] == "synthetic" and 0 <= metrics["auroc"] <= 1  # the run records its textures
    assert not list(runs.rglob("model.pt"))  # temporary: no run keeps its model
    jobs = micro.plan_after_edit("methods/dra.py", "an edit to DRA")
    again = {(j["variant"], j["setting"], j["shots"], j["seed"]) for j in trained(jobs)}
    ahl = {k for k in again if k[0] == "ahl_dra"}
    assert ahl and {("dra", *k[1:]) for k in ahl} <= again  # each AHL(DRA) run replans with its base
    assert not {k for k in again if k[0] in ("devnet", "ahl_devnet", "flos")}  # DevNet's are untouched


def test_editing_shared_method_code_reruns_the_methods_that_share_it(micro):
    variants = {j["variant"] for j in trained(micro.plan_after_edit("methods/balanced.py", "shared"))}
    # AHL(DevNet) builds on DevNet's runs, so it reruns with them
    assert variants == {"devnet", "flos", "minns", "deepsad", "mlep", "ahl_devnet"}


def test_editing_table_code_plans_no_training(micro):
    jobs = micro.plan_after_edit("report/tables.py", "layout tweak")
    assert not trained(jobs) and "table" in jobs


def test_report_holds_every_table_and_figure(micro):
    report = micro.results / "report.html"
    micro.smk("--report", report)
    html = report.read_text(errors="replace")
    cfg = micro_config(micro)
    pages = report_pages(html)
    for name in tables(cfg):  # each table rendered as an HTML table, with its caption and CD figure
        page = [p for p in pages if f"<title>{name}</title>" in p]
        assert page and "<table" in page[0] and html_lib.escape(cfg["tables"][name]["caption"]) in page[0], name
        assert re.search(r"<td>0\.\d{3}", page[0]), name  # numbers, not a download link
        assert f"fig_cd_{name}.png" in html, name
    for name in plots(cfg):
        assert f"{name}.png" in html, name
    assert "What was run" in html and "Against the paper" in html  # the landing page
    table1 = next(p for p in pages if "<title>table1_general</title>" in p)
    assert re.search(r"<span class='ci'> \[0\.\d{3}, [01]\.\d{3}\]</span>", table1)  # intervals
    assert "critical-difference diagram" in html and "How to read it" in html
    classes = [p for p in pages if "<title>table2_hard_classes</title>" in p]
    assert classes and re.search(r"<td>(<b>)?0\.\d{3}", classes[0])
    assert "Protocol deviations" in table1  # weights none: every demo cell deviates, and says so


def test_switching_the_count_check_plans_no_prepare_and_no_training(micro):
    off = micro.overlay("counts-off.yaml", {"datasets": {"demo": {"check_counts": False}}})
    jobs = micro.plan(configs=[off])
    assert "prepare" not in jobs and not trained(jobs), jobs.keys()


def test_one_table_plans_only_its_runs(micro, tmp_path):
    """A table as the target: the runs it shows and nothing else (no runs.csv), here into fresh results."""
    fresh = micro.overlay("fresh.yaml", {"paths": {"data": micro.data.name, "results": str(tmp_path / "fresh")}})
    jobs = micro.plan(tmp_path / "fresh" / "tables" / "table2_hard.md", configs=[fresh])
    assert {j["setting"] for j in trained(jobs)} == {"hard-scratch", "hard-spot"}
    assert "collect" not in jobs and "prepare" not in jobs  # the data are there already


def test_a_stale_run_folder_never_enters_runs_csv_or_a_table(micro):
    runs = micro.results / "runs" / "devnet" / "demo" / "weave" / "general" / "10shot"
    shutil.copytree(runs / "seed0", runs / "seed9")  # left by an older config with more seeds
    try:
        metrics = runs / "seed9" / "metrics.json"
        metrics.write_text(metrics.read_text().replace('"seed": 0', '"seed": 9'))
        res = micro.results.name  # targets as the rules name them: relative to the project
        micro.smk("--cores", "1", f"{res}/runs.csv", f"{res}/tables/table1_general.csv", "--forcerun", "collect", "table")
        assert set(pd.read_csv(micro.results / "runs.csv").seed) == {0}
        cells = pd.read_csv(micro.results / "tables" / "table1_general.csv")
        assert set(cells.seeds.astype(str)) == {"0"}
    finally:
        shutil.rmtree(runs / "seed9")
        micro.smk("--cores", "2", "all_tables")  # what reads the rewritten files, again: the copy stays whole


def test_a_dataset_of_ones_own_is_prepared_trained_and_tabulated_under_its_name_and_reported(micro, tmp_path):
    raw = tmp_path / "my images"
    generate(raw, seed=3, size=32)
    small = {"epochs": 1, "iterations": 2, "batch_normal": 4, "batch_anomaly": 4}
    mine = micro.overlay("mine.yaml", {
        "paths": {"data": "my data", "results": "my results"},
        "datasets": {"bottles": {"layout": "mvtec", "raw": str(raw), "image_size": 32, "label": "My bottles"}},
        "select": {"datasets": ["bottles"], "variants": ["devnet", "dra"], "tables": ["table1_general"],
                   "shots": [10]},
        "methods": {"devnet": small, "dra": small}})
    # first only DevNet's runs (a selection of the selection); then the report of the whole, partial
    micro.smk("--cores", "2", "all_tables", configs=[mine],
              config=["select={datasets: [bottles], variants: [devnet], tables: [table1_general], shots: [10]}"])
    table = micro.base / "my results" / "tables" / "table1_general.md"
    text = table.read_text()
    assert "My bottles / grain" in text and "My bottles / weave" in text and "My bottles (mean)" in text
    assert "DRA" not in text.split("---")[0]  # only DevNet was selected
    micro.smk("--cores", "1", "all_tables", configs=[mine], config=["partial=true"])
    text = table.read_text()
    assert "missing" in text and "Runs: 2 done, 2 missing, of 4" in text
    report = micro.base / "my results" / "report.html"
    micro.smk("--report", report, configs=[mine], config=["partial=true"])
    html = report.read_text(errors="replace")
    pages = [p for p in report_pages(html) if "<table" in p and "Paper Table 1" in p]
    assert pages, "the report holds table1_general rendered as HTML"
    assert "My bottles / weave" in pages[0] and "missing" in pages[0] and "DevNet (10-shot)" in pages[0]
    assert "What was run" in html and "2 done, 2 missing, of 4" in html  # the landing page's summary


def test_failed_runs_leave_no_outputs_and_only_they_rerun(micro):
    """A bad input (a truncated image cache) fails the runs that read it with a clear message in their
    logs; the other runs finish; after the fix, the next invocation plans only what failed. Table 9
    at 48 px into results of its own: its caches are new files beside the micro demo's."""
    failing = micro.overlay("failing.yaml", {
        "paths": {"data": micro.data.name, "results": "failing"}, "select": {"tables": ["table9_crossdomain"]},
        "datasets": {"demo": {"image_size": 48}}, "methods": {"kdad": {"image_size": 48}}})
    bad = micro.data / "cache" / "demo" / "grain" / "48.npy"
    micro.smk("--cores", "2", bad.relative_to(micro.base), configs=[failing])
    bad.write_bytes(bad.read_bytes()[:1000])  # truncated
    r = micro.smk("--cores", "2", "all_tables", configs=[failing], check=False)
    assert r.returncode != 0
    runs = micro.base / "failing" / "runs"
    assert (runs / "kdad" / "demo" / "weave" / "general" / "0shot" / "seed0" / "metrics.json").is_file()
    failed = [runs / "dra_xdomain" / "demo" / t / s / "10shot" / "seed0" for t, s in
              (("weave", "from-grain"), ("grain", "from-weave"))] + [runs / "kdad" / "demo" / "grain" / "general" / "0shot" / "seed0"]
    for run in failed:
        assert not (run / "scores.csv").exists() and not (run / "metrics.json").exists(), run
    log = (micro.base / "failing" / "logs" / "train" / "kdad" / "demo" / "grain" / "general" / "0shot" / "seed0.log").read_text()
    assert "48.npy: 1,000 bytes, but 48.json records" in log and "cut short" in log and "python -m dra cache" in log
    assert not (micro.base / "failing" / "runs.csv").exists()

    bad.unlink()  # the fix: the cache is rebuilt
    jobs = micro.plan(configs=[failing])
    assert sorted((j["variant"], j["subset"]) for j in jobs["train"]) == [
        ("dra_xdomain", "grain"), ("dra_xdomain", "weave"), ("kdad", "grain")]
    assert [j["subset"] for j in jobs["cache"]] == ["grain"]
