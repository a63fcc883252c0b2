"""The workflow as a researcher with part of the paper's world uses it: a selection, a dataset of
their own, partial results in a report, the pre-flight, paths with spaces, a count check switched
without rerunning prepare, stale run folders that never enter a table."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT
from test_workflow import COPY, planned, smk


def project(tmp_path: Path) -> Path:
    base = tmp_path / "project"
    for name in COPY:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(
            src, base / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    return base


def overlay(base: Path, name: str, content: dict) -> str:
    path = base / "config" / name
    path.write_text(yaml.safe_dump(content))
    return str(path.relative_to(base))


def test_select_narrows_the_paper_protocol_to_the_selected_runs(tmp_path):
    over = tmp_path / "sel.yaml"
    over.write_text(yaml.safe_dump({"paths": {"data": str(tmp_path / "d"), "results": str(tmp_path / "r")},
                                    "select": {"datasets": ["elpv", "headct"], "variants": ["dra", "devnet"],
                                               "tables": ["table1_general", "table2_hard"], "shots": [10]}}))
    jobs = planned(smk("-n", "all_tables", "--configfile", "config/config.yaml", str(over)).stdout)
    trains = jobs["train"] + jobs.get("train_keep_model", [])
    assert {j["dataset"] for j in trains} == {"elpv", "headct"}
    assert {j["variant"] for j in trains} == {"dra", "devnet"} and {j["shots"] for j in trains} == {"10"}
    # table1: 2 datasets; table2: elpv's two hard classes (HeadCT has none); 2 variants, 3 seeds
    assert len(trains) == (2 + 2) * 2 * 3
    downloads = {r for r in jobs if r.startswith(("download_", "place_"))}
    assert downloads <= {"download_elpv", "place_headct", "place_lag"}  # nothing of an unselected dataset
    assert {j["table"] for j in jobs["table"]} == {"table1_general", "table2_hard"}


def test_the_elpv_study_plans_every_method_of_tables_1_and_2(tmp_path):
    over = tmp_path / "p.yaml"
    over.write_text(yaml.safe_dump({"paths": {"data": str(tmp_path / "d"), "results": str(tmp_path / "r")}}))
    jobs = planned(smk("-n", "all_tables", "--configfile", "config/studies/elpv-cpu.yaml", str(over)).stdout)
    trains = jobs["train"]
    assert {j["variant"] for j in trains} == {"kdad", "devnet", "flos", "saoe", "mlep", "dra"}
    assert {j["setting"] for j in trains} == {"general", "hard-mono", "hard-poly"}
    assert {j["seed"] for j in trains} == {"0", "1", "2"} and len(trains) == 3 * 3 * (5 * 2 + 1)
    assert "place_lag" not in jobs and "download_mvtecad" not in jobs  # nothing placed by hand


@pytest.mark.slow
def test_the_preflight_lists_every_missing_thing_at_once_and_runs_nothing(tmp_path):
    over = tmp_path / "med.yaml"
    data = tmp_path / "d"
    over.write_text(yaml.safe_dump({"paths": {"data": str(data), "results": str(tmp_path / "r")}, "seeds": [0],
                                    "weights": "imagenet",
                                    "select": {"datasets": ["brainmri"], "variants": ["dra", "saoe"],
                                               "tables": ["table1_general"], "shots": [10]}}))
    env = {"TORCH_HOME": str(tmp_path / "torch")}
    r = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "all_tables", "--configfile",
                        "config/config.yaml", str(over), "--nolock"], cwd=ROOT, capture_output=True, text=True,
                       env={**__import__("os").environ, **env}, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    block = out[out.index("Before any job can start"):]
    assert "- brainmri (needed by 1 runs: variants dra on brainmri)" in block or "- brainmri (needed by" in block
    assert "brain-mri-images-for-brain-tumor-detection.zip by hand" in block
    assert "- lag (needed by" in block and "variants dra, saoe on brainmri" in block and "pseudo_source: cutmix" in block
    assert "pretrained weights" in block and "resnet18-f37072fd.pth" in block and "weights: none" in block
    assert not (data / "raw").exists() and not (tmp_path / "r").exists()  # no job ran
    assert out.count("Before any job can start") == 1


@pytest.mark.slow
def test_a_dataset_of_ones_own_is_prepared_trained_and_tabulated_under_its_name_and_reported(tmp_path):
    base = project(tmp_path)
    raw = tmp_path / "my images"
    assert subprocess.run([sys.executable, "-m", "dra", "synth", "--out", str(raw), "--size", "32"]).returncode == 0
    cfg = overlay(base, "mine.yaml", {
        "paths": {"data": "my data", "results": "my results"}, "weights": "none", "device": "cpu",
        "checkpoint_every": 0, "seeds": [0],
        "datasets": {"bottles": {"layout": "mvtec", "raw": str(raw), "image_size": 32, "label": "My bottles"}},
        "select": {"datasets": ["bottles"], "variants": ["devnet", "dra"], "tables": ["table1_general"],
                   "shots": [10]},
        "methods": {"devnet": {"epochs": 1, "iterations": 2, "batch_normal": 4, "batch_anomaly": 4},
                    "dra": {"epochs": 1, "iterations": 2, "batch_normal": 4, "batch_anomaly": 4}},
        "resources": {"train": {"default": {"threads": 1, "mem_mb": 2000, "runtime": 10, "gpu": 0}}}})
    # first only DevNet's runs (a selection of the selection); then the report of the whole, partial
    smk("--cores", "2", "all_tables", "--configfile", "config/config.yaml", cfg, "--config",
        "select={datasets: [bottles], variants: [devnet], tables: [table1_general], shots: [10]}", cwd=base)
    table = base / "my results" / "tables" / "table1_general.md"
    text = table.read_text()
    assert "My bottles / grain" in text and "My bottles / weave" in text and "My bottles (mean)" in text
    assert "DRA" not in text.split("---")[0]  # only DevNet was selected
    smk("--cores", "1", "all_tables", "--configfile", "config/config.yaml", cfg, "--config", "partial=true", cwd=base)
    text = table.read_text()
    assert "missing" in text and "Runs: 2 done, 2 missing, of 4" in text
    report = base / "my results" / "report.html"
    smk("--report", str(report), "--configfile", "config/config.yaml", cfg, "--config", "partial=true", cwd=base)
    html = report.read_text(errors="replace")
    pages = [base64.b64decode(m).decode("utf-8", "replace")
             for m in re.findall(r"data:text/html;charset=utf8;(?:filename=[^;]+;)?base64,([A-Za-z0-9+/=]+)", html)]
    tables = [p for p in pages if "<table" in p and "Paper Table 1" in p]
    assert tables, "the report holds table1_general rendered as HTML"
    assert "My bottles / weave" in tables[0] and "missing" in tables[0] and "DevNet (10-shot)" in tables[0]
    assert "What was run" in html and "2 done, 2 missing, of 4" in html  # the landing page's summary


@pytest.mark.slow
def test_switching_the_count_check_plans_no_prepare_and_paths_with_spaces_run(tmp_path):
    base = project(tmp_path)
    cfg = overlay(base, "small.yaml", {
        "paths": {"data": "data dir", "results": "results dir"}, "seeds": [0],
        "datasets": {"demo": {"check_counts": False}},
        "select": {"variants": ["devnet"], "tables": ["table2_hard"], "shots": [10]}})
    smk("--cores", "2", "all_tables", "--configfile", "config/demo.yaml", cfg, cwd=base)
    md = (base / "results dir" / "tables" / "table2_hard.md").read_text()
    assert "missing" not in md.split("---")[0] and "scratch" in md
    for p in (base / "results dir").rglob("*"):
        assert p.stat().st_mode & 0o044 == 0o044 or not p.is_file(), p  # readable by the group and others
    back = overlay(base, "back.yaml", {"datasets": {"demo": {"check_counts": True}}})
    jobs = planned(smk("-n", "all_tables", "--configfile", "config/demo.yaml", cfg, back, cwd=base).stdout)
    assert "prepare" not in jobs and "train" not in jobs, jobs.keys()


@pytest.mark.slow
def test_a_stale_run_folder_never_enters_runs_csv_or_a_table(tmp_path):
    base = project(tmp_path)
    cfg = overlay(base, "small.yaml", {"seeds": [0], "select": {"variants": ["devnet"], "tables": ["table1_general"],
                                                               "shots": [10]}})
    smk("--cores", "2", "all_tables", "--configfile", "config/demo.yaml", cfg, cwd=base)
    runs = base / "results" / "demo" / "runs" / "devnet" / "demo" / "weave" / "general" / "10shot"
    shutil.copytree(runs / "seed0", runs / "seed9")  # left by an older config with more seeds
    metrics = runs / "seed9" / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"seed": 0', '"seed": 9'))
    smk("--cores", "1", "all_tables", "--configfile", "config/demo.yaml", cfg, "--forcerun", "collect", "table",
        cwd=base)
    assert set(pd.read_csv(base / "results" / "demo" / "runs.csv").seed) == {0}
    cells = pd.read_csv(base / "results" / "demo" / "tables" / "table1_general.csv")
    assert set(cells.seeds.astype(str)) == {"0"}
