"""The conda environments of workflow/envs (`--use-conda`) agree with pyproject.toml's pins, install
the package itself, and every rule that runs a command names one. (No conda channel is reachable
here, so the environments are checked as files, not created.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "workflow" / "envs"
ENV_FILES = sorted(ENVS.glob("*.yaml"))


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned(requirements: list[str]) -> dict[str, str]:
    """{canonical name: version} of `name==version` requirements; anything else fails."""
    out = {}
    for text in requirements:
        req = Requirement(text)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{text}: not pinned with =="
        out[req.name.lower().replace("_", "-")] = specs[0].version
    return out


def env_parts(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(conda dependencies, pip requirements, pip options such as -e) of one env file."""
    env = yaml.safe_load(path.read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path.name}: unexpected {dep}"
            pip += dep["pip"]
        else:
            conda.append(dep)
    options = [p for p in pip if p.startswith("-")]
    return conda, [p for p in pip if not p.startswith("-")], options


def test_there_are_a_training_and_a_report_environment():
    assert {p.name for p in ENV_FILES} >= {"train.yaml", "report.yaml"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_parses_with_channels_python_and_pip(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] and "defaults" not in env["channels"]
    conda, _, _ = env_parts(path)
    assert "pip" in conda
    python = [d for d in conda if d.split("=")[0] == "python"]
    assert len(python) == 1, f"{path.name}: python must be pinned once"
    version = python[0].split("=", 1)[1]
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(f"{version}.0")


# Which of pyproject's extras each environment holds besides the dependencies: the report stages
# need no torch.
EXTRAS = {"train.yaml": ["train"], "report.yaml": []}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_every_dependency_as_pyproject_does(path):
    project = pyproject()["project"]
    want = pinned(project["dependencies"] + [r for e in EXTRAS[path.name] for r in project["optional-dependencies"][e]])
    _, pip, _ = env_parts(path)
    have = pinned(pip)
    missing = {k: v for k, v in want.items() if k not in have}
    differ = {k: (have[k], v) for k, v in want.items() if k in have and have[k] != v}
    extra = sorted(set(have) - set(want))
    assert not missing, f"{path.name} lacks {missing} (pyproject.toml pins them)"
    assert not differ, f"{path.name} pins other versions (env, pyproject): {differ}"
    assert not extra, f"{path.name} pins {extra}, which pyproject.toml does not"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_the_package_from_the_repository(path):
    """Conda jobs clear PYTHONPATH, so the package must be installed into the environment: editable,
    from ../.. . conda runs pip in the folder of the env file it is handed: workflow/envs/ when
    created by hand, and Snakemake's copy <conda-prefix>/<hash>.yaml under --use-conda, whose default
    prefix is .snakemake/conda in the working folder (common.smk refuses any other prefix)."""
    _, _, options = env_parts(path)
    assert options == ["-e ../.."]
    for pip_cwd in (path.parent, ROOT / ".snakemake" / "conda"):
        target = (pip_cwd / "../..").resolve()
        assert target == ROOT and (target / "pyproject.toml").is_file()
    assert 'conda_prefix or Path(".snakemake", "conda")' in (ROOT / "workflow/rules/common.smk").read_text()


@pytest.mark.workflow  # parses the Snakefile
def test_every_rule_that_runs_a_command_names_an_env_of_workflow_envs():
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(resource_settings=ResourceSettings(),
                          config_settings=ConfigSettings(configfiles=[ROOT / "config" / "demo.yaml"]),
                          snakefile=ROOT / "workflow" / "Snakefile", workdir=ROOT)
        rules = list(wf._workflow.rules)  # pinned Snakemake 9.27; no public rule listing
    commands = [r for r in rules if r.shellcmd or r.run_func is not None and not r.norun]
    assert {r.name for r in commands} >= {"synth", "prepare", "cache", "split", "train", "collect", "table",
                                         "weights"}
    for rule in commands:
        assert rule.conda_env, f"rule {rule.name} names no conda environment"
        env = (ROOT / "workflow" / "rules" / rule.conda_env).resolve()
        assert env.parent == ENVS and env.is_file(), f"rule {rule.name}: {rule.conda_env}"
    by_name = {r.name: (ROOT / "workflow/rules" / r.conda_env).name for r in commands}
    assert by_name["train"] == "train.yaml" and by_name["table"] == "report.yaml"


def test_the_report_environment_and_the_report_stages_are_torch_free(tmp_path):
    """report.yaml pins no torch, and collect, table (with its critical-difference figure and
    per-class table), reproduction, plot, layout and summary run with torch made unimportable (a
    meta-path hook that refuses it)."""
    import json
    import subprocess
    import sys

    _, pip, _ = env_parts(ENVS / "report.yaml")
    assert not {"torch", "torchvision"} & set(pinned(pip))
    assert {r.split("==")[0] for r in pyproject()["project"]["optional-dependencies"]["train"]} == {"torch", "torchvision"}
    assert not any(r.startswith(("torch", "torchvision")) for r in pyproject()["project"]["dependencies"])

    from runfiles import write_run

    run = write_run(tmp_path, "dra", "mvtecad", "carpet", "general", 10, 0, [0, 0, 0, 1, 1], [0.1, 0.4, 0.3, 0.8, 0.2])
    layout = {"name": "t", "caption": "t", "rows": [["mvtecad", "carpet", "general"]],
              "cells": [["mvtecad", "carpet", "general", "dra"]], "columns": [["dra", 10]], "seeds": [0],
              "metrics": ["auroc"], "labels": {"dra": "DRA"}, "kind": "bars"}
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision'):\n"
        "            raise ImportError('torch is not in the report environment')\n"
        "sys.meta_path.insert(0, NoTorch())\n")
    os = __import__("os")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(block), os.environ.get("PYTHONPATH")]))}

    def stage(*args):
        r = subprocess.run([sys.executable, "-m", "dra", *map(str, args)], capture_output=True, text=True, env=env,
                           cwd=tmp_path)
        assert r.returncode == 0, (args[0], r.stderr[-2000:])

    assert subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True).returncode != 0
    stage("layout", "--json", json.dumps(layout), "--out", tmp_path / "layout.json")
    stage("collect", run / "metrics.json", "--out", tmp_path / "runs.csv")
    stage("table", "t", run / "metrics.json", run / "scores.csv", "--layout", f"@{tmp_path / 'layout.json'}", "--paper",
          ROOT / "config" / "paper_results.csv", "--out", tmp_path / "t", "--cd-out", tmp_path / "cd",
          "--classes-out", tmp_path / "classes")
    stage("reproduction", tmp_path / "t.csv", "--out", tmp_path / "rep")
    stage("plot", "t", run / "metrics.json", "--layout", f"@{tmp_path / 'layout.json'}", "--out", tmp_path / "p")
    plan = {"name": "summary", "provenance": {"datasets": {"mvtecad": "MVTec AD"}, "variants": ["dra"], "seeds": [0],
                                              "budget": 1.0, "weights": "none", "image_sizes": {"mvtecad": [448]},
                                              "epochs": {"dra": [30]}, "runs": 1},
            "runs": [["dra", "mvtecad", "carpet", "general", 10, 0]], "tables": ["t"], "plots": [], "partial": False}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    stage("summary", tmp_path / "t.csv", "--runs", tmp_path / "runs.csv", "--plan", tmp_path / "plan.json",
          "--out", tmp_path / "summary")
    assert "1 done, 0 missing, of 1" in (tmp_path / "summary.md").read_text()
