"""The real workflow: config validation, lint and format, the DAG of the paper protocol, the demo
end to end in a temporary copy, and precise reruns after a code change."""

from __future__ import annotations

import base64
import html as html_lib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
COPY = ("src", "workflow", "config", "profiles", "pyproject.toml")


def smk(*args, cwd=ROOT, check=True):
    r = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def planned(output: str) -> dict[str, list[dict]]:
    """rule -> wildcards of each planned job, from a dry run's output."""
    jobs: dict[str, list[dict]] = {}
    rule = None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
            jobs.setdefault(rule, []).append({})
        elif rule and line.strip().startswith("wildcards:"):
            pairs = line.strip()[len("wildcards:"):].split(",")
            jobs[rule][-1] = dict(p.strip().split("=", 1) for p in pairs)
    return jobs


def test_rule_files_are_formatted_and_lint_clean():
    r = subprocess.run([str(Path(sys.executable).parent / "snakefmt"), "--check", "workflow/"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lint = smk("--lint", "--configfile", "config/demo.yaml", check=False)
    assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr


def test_paper_protocol_dag_plans_tables_1_and_2_before_any_data(tmp_path):
    over = tmp_path / "paths.yaml"
    over.write_text(yaml.safe_dump({"paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / "res")}}))
    r = smk("-n", "all_tables", "--configfile", "config/config.yaml", str(over))
    jobs = planned(r.stdout)
    datasets = {j["dataset"] for j in jobs["train"]}
    assert datasets >= {"mvtecad", "aitex", "sdd", "elpv", "optical", "mastcam", "brainmri", "headct", "hyperkvasir"}
    assert {j["setting"] for j in jobs["train"] if j["dataset"] == "elpv"} >= {"general", "hard-mono", "hard-poly"}
    assert "download_mvtecad" in jobs and "prepare" in jobs and "split" in jobs


def test_bad_config_value_stops_with_its_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"methods": {"dra": {"loss": "hinge"}}}))
    r = smk("-n", "all_tables", "--configfile", "config/demo.yaml", str(bad), check=False)
    assert r.returncode != 0 and "hinge" in r.stdout + r.stderr and "loss" in r.stdout + r.stderr
    bad.write_text(yaml.safe_dump({"no_such_key": 1}))
    r = smk("-n", "all_tables", "--configfile", "config/demo.yaml", str(bad), check=False)
    assert r.returncode != 0 and "no_such_key" in r.stdout + r.stderr


def test_demo_plans_per_class_tables_and_cd_figures_beside_the_tables(tmp_path):
    """Every table writes its critical-difference figure; a table with hard rows its per-class table."""
    over = tmp_path / "paths.yaml"
    over.write_text(yaml.safe_dump({"paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / "res")}}))
    out = smk("-n", "all_tables", "--configfile", "config/demo.yaml", str(over)).stdout
    jobs = planned(out)
    with_classes = {j["table"] for j in jobs["table_with_classes"]}
    assert {"table2_hard", "table8_hard_extra"} <= with_classes
    assert not with_classes & {j["table"] for j in jobs["table"]} and "table1_general" not in with_classes
    for name in yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["tables"]:
        assert f"plots/fig_cd_{name}.png" in out, name
    assert "tables/table2_hard_classes.html" in out and "tables/table1_general_classes" not in out


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    """A copy of the project in which the demo has run once, end to end."""
    base = tmp_path_factory.mktemp("project")
    for name in COPY:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, base / name,
                                                             **({"ignore": shutil.ignore_patterns("__pycache__")}
                                                                if src.is_dir() else {}))
    smk("--cores", "2", "all_tables", "--configfile", "config/demo.yaml", cwd=base)
    return base


def planned_after_edit(project: Path, module: str, comment: str) -> dict[str, list[dict]]:
    """The jobs a dry run of the demo plans after a comment is appended to `module` (then restored)."""
    path = project / "src" / "dra" / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n# {comment}\n")
        return planned(smk("-n", "all_tables", "--configfile", "config/demo.yaml", cwd=project).stdout)
    finally:
        path.write_text(original)


@pytest.mark.slow
def test_demo_tables_hold_a_value_in_every_cell(demo_copy):
    cfg = yaml.safe_load((demo_copy / "config" / "demo.yaml").read_text())
    for table in cfg["tables"]:
        df = pd.read_csv(demo_copy / "results" / "demo" / "tables" / f"{table}.csv")
        assert len(df) and df["mean"].notna().all() and (df["n"] == len(cfg["seeds"])).all(), table
        assert df["mean"].between(0, 1).all()
        auroc = df[df.metric == "auroc"]  # every AUROC cell has its interval
        assert auroc.lo.between(0, 1).all() and auroc.hi.between(0, 1).all() and (auroc.lo <= auroc.hi).all(), table
        md = (demo_copy / "results" / "demo" / "tables" / f"{table}.md").read_text()
        cells = [c.strip() for line in md.splitlines() if line.startswith("|") for c in line.split("|")]
        assert "missing" not in cells and "Missing runs" not in md, table  # no empty cell, no lacking seed
        assert re.search(r"Runs: (\d+) done, 0 missing, of \1\b", md), table  # every planned run is in
    runs = pd.read_csv(demo_copy / "results" / "demo" / "runs.csv")
    assert runs["auroc"].notna().all() and len(runs) >= 24
    assert runs["deviations"].str.contains("weights none").all()  # the demo starts at random
    # nothing left to do
    assert "Nothing to be done" in smk("-n", "all_tables", "--configfile", "config/demo.yaml", cwd=demo_copy).stdout


@pytest.mark.slow
def test_editing_devnet_reruns_only_what_imports_it(demo_copy):
    jobs = planned_after_edit(demo_copy, "methods/devnet.py", "a comment is an edit")
    variants = {j["variant"] for j in jobs.get("train", []) + jobs.get("train_keep_model", [])}
    assert "devnet" in variants and "dra" not in variants
    sys.path.insert(0, str(demo_copy / "src"))
    from dra.plan.config import load_config, method_params
    from dra.plan.methods import METHODS
    from dra.plan.sources import closure

    cfg = load_config(demo_copy / "config" / "config.yaml", demo_copy / "config" / "demo.yaml")
    for v in variants:  # every rerun variant's code imports devnet (FLOS builds on it), or its run does (AHL)
        method = method_params(cfg, v)[0]
        assert "dra.methods.devnet" in closure(f"dra.methods.{METHODS[method]}") or v == "ahl_devnet", v
    assert set(jobs) <= {"train", "train_keep_model", "maps", "collect", "table", "reproduction", "plot", "summary",
                         "all_tables"}, set(jobs)


@pytest.mark.slow
def test_an_ahl_run_builds_on_its_base_run_and_an_edit_to_dra_replans_both(demo_copy):
    """AHL(DRA)'s input is the model of the `dra` run with the same six words (kept only while needed:
    Snakemake deleted it after the demo); an edit to methods/dra.py reruns both."""
    runs = demo_copy / "results" / "demo" / "runs"
    metrics = json.loads((runs / "ahl_dra" / "demo" / "weave" / "general" / "10shot" / "seed0" / "metrics.json").read_text())
    assert metrics["texture_source"] == "synthetic" and 0 <= metrics["auroc"] <= 1  # the run records its textures
    assert not list(runs.rglob("model.pt"))  # temporary: no run keeps its 45 MB model
    jobs = planned_after_edit(demo_copy, "methods/dra.py", "an edit to DRA")
    trained = {(j["variant"], j["setting"], j["shots"], j["seed"]) for j in jobs.get("train", []) + jobs["train_keep_model"]}
    ahl = {k for k in trained if k[0] == "ahl_dra"}
    assert ahl and {("dra", *k[1:]) for k in ahl} <= trained  # each AHL(DRA) run replans with its base
    assert not {k for k in trained if k[0] in ("devnet", "ahl_devnet", "flos")}  # DevNet's are untouched


@pytest.mark.slow
def test_editing_shared_method_code_reruns_the_methods_that_share_it(demo_copy):
    jobs = planned_after_edit(demo_copy, "methods/balanced.py", "shared by the balanced-batch methods")
    variants = {j["variant"] for j in jobs["train"] + jobs.get("train_keep_model", [])}
    # AHL(DevNet) builds on DevNet's runs, so it reruns with them
    assert variants == {"devnet", "flos", "minns", "deepsad", "mlep", "ahl_devnet"}


@pytest.mark.slow
def test_editing_table_code_plans_no_training(demo_copy):
    jobs = planned_after_edit(demo_copy, "report/tables.py", "layout tweak")
    assert "train" not in jobs and "train_keep_model" not in jobs and "table" in jobs


@pytest.mark.slow
def test_one_table_plans_only_its_runs(demo_copy, tmp_path):
    over = tmp_path / "paths.yaml"
    over.write_text(yaml.safe_dump({"paths": {"data": "data/demo", "results": str(tmp_path / "fresh")}}))
    jobs = planned(smk("-n", str(tmp_path / "fresh" / "tables" / "table2_hard.md"), "--configfile",
                       "config/demo.yaml", str(over), cwd=demo_copy).stdout)
    assert {j["setting"] for j in jobs["train"] + jobs.get("train_keep_model", [])} <= {"hard-scratch", "hard-spot"}
    assert "collect" not in jobs


@pytest.mark.slow
def test_report_holds_every_table_and_figure(demo_copy):
    report = demo_copy / "results" / "demo" / "report.html"
    smk("--report", str(report), "--configfile", "config/demo.yaml", cwd=demo_copy)
    html = report.read_text(errors="replace")
    cfg = yaml.safe_load((demo_copy / "config" / "demo.yaml").read_text())
    pages = [base64.b64decode(m).decode("utf-8", "replace")
             for m in re.findall(r"data:text/html;charset=utf8;(?:filename=[^;]+;)?base64,([A-Za-z0-9+/=]+)", html)]
    for name, table in cfg["tables"].items():  # each table rendered as an HTML table, with its caption
        page = [p for p in pages if f"<title>{name}</title>" in p]
        assert page and "<table" in page[0] and html_lib.escape(table["caption"]) in page[0], name
        assert re.search(r"<td>0\.\d{3}", page[0]), name  # numbers, not a download link
    for name in cfg["plots"]:
        assert f"{name}.png" in html, name
    assert "What was run" in html and "Against the paper" in html  # the landing page
    # intervals in the table pages, each table's CD figure with its how-to-read caption, the per-class table
    table1 = next(p for p in pages if "<title>table1_general</title>" in p)
    assert re.search(r"<span class='ci'> \[0\.\d{3}, [01]\.\d{3}\]</span>", table1)
    for name in cfg["tables"]:
        assert f"fig_cd_{name}.png" in html, name
    assert "critical-difference diagram" in html and "How to read it" in html
    classes = [p for p in pages if "<title>table2_hard_classes</title>" in p]
    assert classes and re.search(r"<td>(<b>)?0\.\d{3}", classes[0])
    assert "Protocol deviations" in table1  # weights none: every demo cell deviates, and says so


@pytest.mark.slow
def test_failed_runs_leave_no_outputs_and_only_they_rerun(tmp_path):
    """A bad input (a truncated image cache) fails the runs that read it with a clear message in their
    logs; the other runs finish; after the fix, the next invocation plans only what failed."""
    for name in COPY:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    # only Table 9, one seed: cross-domain runs read both subsets' caches, KDAD on weave only weave's
    demo = yaml.safe_load((tmp_path / "config" / "demo.yaml").read_text())
    table9 = {**demo["tables"]["table9_crossdomain"], "variants": ["dra_xdomain", "kdad"], "shots": [10]}
    demo.update(seeds=[0], tables={"table9_crossdomain": table9}, plots={})
    (tmp_path / "config" / "demo.yaml").write_text(yaml.safe_dump(demo))
    protocol = (ROOT / "config" / "config.yaml").read_text().split("\nrow_groups:")[0]
    (tmp_path / "config" / "config.yaml").write_text(protocol + "\ntables: {}\nplots: {}\n")
    cfg = ["--configfile", "config/demo.yaml"]
    smk("--cores", "2", "data/demo/cache/demo/grain/64.npy", *cfg, cwd=tmp_path)
    bad = tmp_path / "data" / "demo" / "cache" / "demo" / "grain" / "64.npy"
    bad.write_bytes(bad.read_bytes()[:1000])  # truncated
    r = smk("--cores", "2", "all_tables", *cfg, cwd=tmp_path, check=False)
    assert r.returncode != 0
    runs = tmp_path / "results" / "demo" / "runs"
    assert (runs / "kdad" / "demo" / "weave" / "general" / "0shot" / "seed0" / "metrics.json").is_file()
    failed = [runs / "dra_xdomain" / "demo" / t / s / "10shot" / "seed0" for t, s in
              (("weave", "from-grain"), ("grain", "from-weave"))] + [runs / "kdad" / "demo" / "grain" / "general" / "0shot" / "seed0"]
    for run in failed:
        assert not (run / "scores.csv").exists() and not (run / "metrics.json").exists(), run
    log = tmp_path / "results" / "demo" / "logs" / "train" / "kdad" / "demo" / "grain" / "general" / "0shot" / "seed0.log"
    assert "unreadable image cache" in log.read_text() and "64.npy" in log.read_text()
    assert not (tmp_path / "results" / "demo" / "runs.csv").exists()

    bad.unlink()  # the fix: the cache is rebuilt
    jobs = planned(smk("-n", "all_tables", *cfg, cwd=tmp_path).stdout)
    assert sorted((j["variant"], j["subset"]) for j in jobs["train"]) == [
        ("dra_xdomain", "grain"), ("dra_xdomain", "weave"), ("kdad", "grain")]
    assert [j["subset"] for j in jobs["cache"]] == ["grain"]
