"""Snakemake on the real project (`make test-workflow`): the rule files formatted and lint-clean, the
paper protocol's DAG planned before any data (the one dry run of it), a configuration error reaching
the user as one clear line, and the pre-flight. Job-matrix claims are in test_plan.py (in process);
whole-pipeline runs in test_e2e.py."""

from __future__ import annotations

import pytest

from snake import BIN, ROOT, paths_overlay, planned, smk

pytestmark = pytest.mark.workflow


def test_rule_files_are_formatted_and_lint_clean():
    import subprocess

    r = subprocess.run([str(BIN / "snakefmt"), "--check", "workflow/"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lint = smk("--lint", "--configfile", "config/demo.yaml", check=False)
    assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr


def test_paper_protocol_dag_plans_every_dataset_and_the_weights_before_any_data(tmp_path):
    """config.yaml as it ships (ImageNet weights, nine datasets), nothing downloaded yet, an empty
    torchvision cache: the weights are one local job the training runs wait for."""
    torch_home = tmp_path / "torch"
    r = smk("-n", "all_tables", "--configfile", "config/config.yaml", paths_overlay(tmp_path),
            env={"TORCH_HOME": str(torch_home)})
    jobs = planned(r.stdout)
    datasets = {j["dataset"] for j in jobs["train"]}
    assert datasets >= {"mvtecad", "aitex", "sdd", "elpv", "optical", "mastcam", "brainmri", "headct", "hyperkvasir"}
    assert {j["setting"] for j in jobs["train"] if j["dataset"] == "elpv"} >= {"general", "hard-mono", "hard-poly"}
    assert "download_mvtecad" in jobs and "prepare" in jobs and "split" in jobs
    assert len(jobs["weights"]) == 1  # one local job, on the machine Snakemake runs on (a login node)
    assert "localrule: True" in (ROOT / "workflow" / "rules" / "weights.smk").read_text()
    for arch in ("resnet18-f37072fd.pth", "vgg16-397923af.pth"):
        assert str(torch_home / "hub" / "checkpoints" / arch) in r.stdout


def test_a_configuration_error_stops_a_dry_run_as_one_clear_line(tmp_path):
    """What tests/configs.py checks in process reaches the user from Snakemake: the key, the value,
    the closest valid name, on one line, and no traceback."""
    over = paths_overlay(tmp_path, variants={"x": {"method": "dra", "head": ["seen"]}})
    r = smk("-n", "all_tables", "--configfile", "config/demo.yaml", over, "--nolock", check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    lines = [line for line in out.splitlines() if "'head'" in line]
    assert len(lines) == 1 and "variants.x" in lines[0] and "did you mean heads?" in lines[0], out[-2000:]
    assert "Traceback" not in out


def test_a_hard_setting_of_a_class_the_config_does_not_list_is_an_error(tmp_path):
    """An error raised while the DAG is built (a target's wildcards), not when the config is parsed."""
    target = tmp_path / "res" / "runs" / "dra" / "demo" / "weave" / "hard-nosuch" / "10shot" / "seed0" / "metrics.json"
    r = smk("-n", target, "--configfile", "config/demo.yaml", paths_overlay(tmp_path), "--nolock", check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "class 'nosuch' is not among the hard classes" in out and "datasets.demo.hard.weave" in out
    assert "['scratch', 'spot']" in out and "src/dra" not in out  # Snakemake names the rule; no frame of ours


def test_the_preflight_lists_every_missing_thing_at_once_and_runs_nothing(tmp_path):
    data = tmp_path / "data"
    over = paths_overlay(tmp_path, seeds=[0], weights="imagenet",
                         select={"datasets": ["brainmri"], "variants": ["dra", "saoe"], "tables": ["table1_general"],
                                 "shots": [10]})
    r = smk("--cores", "1", "all_tables", "--configfile", "config/config.yaml", over, "--nolock",
            env={"TORCH_HOME": str(tmp_path / "torch")}, check=False, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    block = out[out.index("Before any job can start"):]
    assert "- brainmri (needed by 1 runs: variants dra on brainmri)" in block or "- brainmri (needed by" in block
    assert "brain-mri-images-for-brain-tumor-detection.zip by hand" in block
    assert "- lag (needed by" in block and "variants dra, saoe on brainmri" in block and "pseudo_source: cutmix" in block
    assert "pretrained weights" in block and "resnet18-f37072fd.pth" in block and "weights: none" in block
    assert not (data / "raw").exists() and not (tmp_path / "res").exists()  # no job ran
    assert out.count("Before any job can start") == 1
