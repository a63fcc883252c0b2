"""`python -m dra datasets`, the download rules (Snakemake: tier `workflow`; their format is checked with
every rule file's in test_workflow.py), and the decoded image cache of a prepared subset."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rawlayouts as rl
from dra.cli import main
from dra.data.cache import ImageCache, build_cache
from dra.data.images import load_rgb, resize_rgb
from dra.data.manifest import manifest_digest, read_manifest
from dra.data.prepare import prepare_subset
from dra.data.download import files_of
from dra.data.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_datasets_table_states_licences_and_places(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "raw" / "sdd").mkdir(parents=True)
    (data / "raw" / "sdd" / "KolektorSDD.zip").write_bytes(b"x")
    (data / "raw" / "optical").mkdir(parents=True)
    (data / "raw" / "optical" / "Class1.zip").write_bytes(b"x")
    (data / "raw" / "lag" / "extracted").mkdir(parents=True)
    rl.write_headct(tmp_path / "headct")
    prepare_subset("headct", tmp_path / "headct", data / "prepared" / "headct", "headct", check=False)
    assert main(["datasets", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert set(lines) == set(DATASETS)
    assert "prepared" in lines["headct"]
    assert "raw present" in lines["sdd"] and "CC BY-NC-SA 4.0" in lines["sdd"]
    assert "raw partly present" in lines["optical"]
    assert "raw present (extracted)" in lines["lag"]
    assert "missing" in lines["aitex"] and f"{data}/raw/aitex/Defect_images.7z" in lines["aitex"]
    assert "(by hand)" in lines["brainmri"] and f"{data}/raw/brainmri/" in lines["brainmri"]
    assert "CC BY 4.0" in lines["hyperkvasir"]
    # the installed elpv-dataset package is not what the workflow reads: it downloads the pinned wheel
    assert lines["elpv"].split()[1] == "missing" and f"{data}/raw/elpv/elpv_dataset" in lines["elpv"]


def test_datasets_default_data_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["datasets"]) == 0
    assert "data/raw/mvtecad/mvtec_anomaly_detection.tar.xz" in capsys.readouterr().out


def scratch_workflow(tmp_path, extra=""):
    """A copy of the workflow whose data root is `d` (download rules only need that)."""
    for name in ("src", "workflow", "config", "profiles"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "paths.yaml").write_text("paths: {data: d, results: r}\n")
    with open(tmp_path / "workflow" / "Snakefile", "a") as f:
        f.write("\n" + extra)


@pytest.mark.workflow
def test_download_rules_parse_and_plan(tmp_path):
    """One download rule per real dataset; `extract` makes raw_folder(dataset) from its archives."""
    scratch_workflow(tmp_path, 'assert raw_folder("aitex") == "d/raw/aitex/extracted"\n')
    run = lambda *a: subprocess.run([str(BIN / "snakemake"), *a, "--configfile", "paths.yaml"], cwd=tmp_path,
                                    capture_output=True, text=True)
    r = run("--list-rules")
    assert r.returncode == 0, r.stderr
    rules = set(r.stdout.split())
    # a file with a URL is downloaded (and retried), one only a person can place has a rule of its own
    for d in DATASETS:
        kinds = {f.url is None for f in files_of(d)}
        assert (f"download_{d}" in rules) == (False in kinds) and (f"place_{d}" in rules) == (True in kinds), d
    assert "extract" in rules and "download_demo" not in rules
    r = run("-n", "d/raw/aitex/extracted", "d/raw/lag/extracted")
    assert r.returncode == 0, r.stderr
    assert "download_aitex" in r.stdout and "place_lag" in r.stdout and "extract" in r.stdout
    r = run("-n", "d/raw/demo/extracted")
    assert r.returncode != 0  # not a real dataset: no rule makes it


def test_cache_of_a_prepared_subset(tmp_path):
    rl.write_headct(tmp_path / "raw")
    manifest = prepare_subset("headct", tmp_path / "raw", tmp_path / "out", "headct", check=False)
    build_cache(manifest, 8, tmp_path / "c" / "8.npy")
    df = read_manifest(manifest)
    cache = ImageCache(tmp_path / "c" / "8.npy", manifest_digest(manifest))
    assert cache.array.shape == (len(df), 8, 8, 3) and cache.array.dtype == np.uint8
    rows = cache.rows(list(df.path[::-1]))
    got = cache.gather(rows)
    for i, p in enumerate(df.path[::-1]):
        assert (got[i] == resize_rgb(load_rgb(manifest.parent / p), 8)).all()


@pytest.mark.workflow
def test_extract_rule_runs_on_a_file_placed_by_hand(tmp_path):
    """The manual case end to end: a Kaggle archive put where the message said, extracted by the rule,
    then prepared from raw_folder(dataset)."""
    scratch_workflow(tmp_path)
    rl.write_headct(tmp_path / "scratch")
    rl.zip_folder(tmp_path / "scratch", tmp_path / "d" / "raw" / "headct" / "head-ct-hemorrhage.zip")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(BIN / "snakemake"), "--cores", "1", "d/raw/headct/extracted", "--configfile", "paths.yaml"],
                       cwd=tmp_path, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "d" / "logs" / "extract" / "headct.log").is_file()
    manifest = prepare_subset("headct", tmp_path / "d" / "raw" / "headct" / "extracted", tmp_path / "p", "headct",
                              check=False)
    assert len(read_manifest(manifest)) == 8
