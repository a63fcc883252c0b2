"""The Snakemake profiles: profiles/slurm parses, names only real options, and plans the demo's
training runs into group jobs with the config's resources (dry runs, tier `workflow`: no SLURM
needed; the real SLURM test is scripts/slurm_test.sh). The config's resources are checked in process."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from configs import parsed
from dra.errors import DraError
from dra.plan.config import load_config, method_params

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
PROFILES = ROOT / "profiles"


@pytest.fixture(scope="module")
def snakemake_help():
    return subprocess.run([SNAKEMAKE, "--help"], capture_output=True, text=True, check=True).stdout


@pytest.mark.workflow
@pytest.mark.parametrize("name", ["default", "slurm"])
def test_profile_names_only_real_options(name, snakemake_help):
    profile = yaml.safe_load((PROFILES / name / "config.yaml").read_text())
    assert isinstance(profile, dict) and profile
    unknown = [k for k in profile if not re.search(rf"--{re.escape(k)}\b", snakemake_help)]
    assert not unknown, f"profiles/{name}: not Snakemake options: {unknown}"


def test_slurm_profile_uses_the_plugin_and_keeps_site_settings_apart():
    profile = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    defaults = dict(item.split("=", 1) for item in profile["default-resources"])
    assert set(defaults) == {"slurm_account", "slurm_partition"}  # the command line replaces this list
    assert "gpu=local" in profile["set-resource-scopes"]  # one GPU per group, not per workflow
    caps = dict(item.split("=", 1) for item in profile["resources"])
    assert int(caps["gpu"]) >= 1 and int(caps["mem_mb"]) > 0 and profile["cores"] >= 1
    components = dict(item.split("=", 1) for item in profile["group-components"])
    assert int(components["train"]) > 1 and "train_long" in components
    assert profile["retries"] >= 1
    default = yaml.safe_load((PROFILES / "default" / "config.yaml").read_text())
    assert "executor" not in default and not any(k.startswith("slurm") for k in default)


def dry_run(tmp_path, *args, resources=None):
    overlay = {"paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / "results")},
               # the methods that train from a start of their own (AHL's runs wait for theirs)
               "select": {"variants": ["kdad", "devnet", "flos", "saoe", "mlep", "dra", "deepsad", "minns"]}}
    if resources is not None:
        overlay["resources"] = resources
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    cmd = [SNAKEMAKE, "--profile", "profiles/slurm", "-n", "all_tables", "--configfile", "config/demo.yaml",
           str(tmp_path / "overlay.yaml"), "--nolock",
           "--default-resources", "slurm_account=dummy", "slurm_partition=gpu", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def jobs_of(out: str, rule: str) -> list[str]:
    """The dry run's job blocks of `rule`, each with the name of its group ('' for none)."""
    blocks, group = [], ""
    for block in re.split(r"\n(?=\S|\s*\[)", out):
        head = re.search(r"Group job (\S+) \(", block)
        if head:
            group = head.group(1)
        elif re.match(r"\s*\[", block) and not block.startswith(" "):
            group = ""
        if re.search(rf"^\s*(local)?rule {rule}:", block, re.M):
            blocks.append((group if block.startswith(" ") else "", block))
    return blocks


def demo_methods() -> dict[str, str]:
    """variant -> method in the demo configuration."""
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    return {v: method_params(cfg, v)[0] for v in cfg["variants"]}


def train_jobs(out: str) -> list[tuple[str, str, str]]:
    """(group, method, resources) of each train job in a dry run."""
    methods = demo_methods()
    return [(group, methods[re.search(r"variant=(\w+)", block).group(1)],
             re.search(r"resources: (.*)", block).group(1)) for group, block in jobs_of(out, "train(?:_keep_model)?")]


@pytest.mark.workflow
def test_dry_run_bundles_train_jobs_into_groups(tmp_path):
    r = dry_run(tmp_path, resources={"train": {"default": {"gpu": 1}}})
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    trains = train_jobs(out)
    assert len(trains) >= 24  # the demo's tables: every method, 1 and 10 shots, two seeds
    for group, method, res in trains:
        assert group == ("train_long" if method == "kdad" else "train"), (group, method)
        # demo.yaml's values over config.yaml's, the overlay's GPU; the command line's site settings
        assert "gpu=1" in res and "runtime=10" in res and "mem_mb=2000" in res, res
        assert "slurm_account=dummy" in res and "slurm_partition=gpu" in res
    n = {g: sum(1 for t in trains if t[0] == g) for g in ("train", "train_long")}
    # group-components: 16 runs to a SLURM job (train), 2 (train_long)
    assert out.count("Group job train (") == math.ceil(n["train"] / 16) < n["train"]
    assert out.count("Group job train_long (") == math.ceil(n["train_long"] / 2)
    assert out.count("Group job splits (") >= 1
    # collect and table are local rules: planned, never grouped
    tables = jobs_of(out, "table") + jobs_of(out, "table_with_classes")
    assert tables and all(g == "" for g, _ in jobs_of(out, "collect") + tables)


@pytest.mark.workflow
def test_resources_per_method_and_dataset_and_group_from_the_config(tmp_path):
    resources = {"train": {"default": {"gpu": 1, "runtime": 11},
                           "dra": {"runtime": 7, "mem_mb": {"per_dataset": {"demo": 1234}, "default": 1},
                                   "group": "train_long", "threads": 2},
                           "kdad": {"group": "train", "runtime": 11}}}
    r = dry_run(tmp_path, resources=resources)
    assert r.returncode == 0, r.stdout + r.stderr
    trains = train_jobs(r.stdout)
    assert {m for _, m, _ in trains} >= {"dra", "devnet"}
    for group, method, res in trains:
        if method == "dra":
            assert group == "train_long" and "runtime=7" in res and "mem_mb=1234" in res
        else:
            assert group == "train" and "runtime=11" in res and "mem_mb=2000" in res
    n_dra = sum(1 for _, m, _ in trains if m == "dra")
    assert r.stdout.count("Group job train_long (") == math.ceil(n_dra / 2)


@pytest.mark.workflow
def test_runs_join_a_group_only_where_the_profile_bundles_it(tmp_path):
    # the command line's group-components replace the profile's list: train_long bundled, train not
    r = dry_run(tmp_path, "--group-components", "train_long=2", resources={"train": {"default": {"gpu": 1}}})
    assert r.returncode == 0, r.stdout + r.stderr
    trains = train_jobs(r.stdout)
    assert {m for _, m, _ in trains} >= {"kdad", "dra"}
    for group, method, res in trains:
        assert group == ("train_long" if method == "kdad" else ""), (group, method)
        assert "gpu=1" in res and "mem_mb=2000" in res, res  # resources do not depend on the group
    assert "Group job train (" not in r.stdout


def test_resources_naming_an_unknown_method_fail_at_start_up():
    with pytest.raises(DraError, match="'dra_typo' is not a method"):
        parsed({"resources": {"train": {"default": {"gpu": 1}, "dra_typo": {"gpu": 2}}}})


def test_resources_are_validated_by_the_schema():
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match=r"(?s)-1 is not valid.*\['resources'\]"):
        parsed({"resources": {"train": {"default": {"gpu": -1}}}})
