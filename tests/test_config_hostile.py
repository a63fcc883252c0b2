"""Hostile and careless configuration (issue 21): a name that would reach a shell, a regular
expression or markup, a dataset of one's own under a paper dataset's name, a `hard:` subset that
does not exist, seeds and budgets out of range, a relabelled manifest, two workflows writing one
folder. Each is refused where it is made, naming the key or file; the checker is called in process
on the merged overlay, as the Snakefile calls it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from dra.data.splits import write_split
from dra.errors import DraError
from dra.plan.config import deep_merge, load_config
from dra.plan.configcheck import check_config, coerce
from dra.plan.lock import hold_lock
from dra.plan.runkey import SEED_MAX
from dra.run.inputs import SubsetFiles, open_subset

DEMO = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
HOSTILE = ["x`touch PWNED`", "a;rm -rf b", "$(id)", "<svg onload=alert(2)>", "a b", "a|b", "a(b", "..", "-rf",
           "a/b", ""]


def checked(overlay: dict) -> dict:
    return check_config(coerce(deep_merge(DEMO, overlay)))


def refused(overlay: dict, *named: str) -> str:
    with pytest.raises(DraError) as e:
        checked(overlay)
    for text in named:
        assert text in str(e.value), (text, str(e.value))
    return str(e.value)


def table(name: str) -> dict:
    return {"tables": {name: {"caption": "c", "sections": [{"setting": "general", "datasets": "general9"}],
                              "variants": ["dra"], "shots": [10]}}}


# --- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE)
def test_a_name_outside_the_alphabet_is_refused_naming_its_key(name):
    refused(table(name), "config tables", repr(name), "letters, digits")
    refused({"variants": {name: {"method": "dra"}}}, "config variants", repr(name))
    refused({"datasets": {name: {"image_size": 64, "layout": "mvtec", "source": "synth"}}}, "config datasets",
            repr(name))


@pytest.mark.parametrize("where, overlay", [
    ("config datasets.demo.hard.weave", {"datasets": {"demo": {"hard": {"weave": ["spot", "a;b"]}}}}),
    ("config datasets.demo.subsets", {"datasets": {"demo": {"subsets": ["weave", "$(id)"]}}}),
    ("config row_groups.general9", {"row_groups": {"general9": ["demo/we ave"]}}),
    ("config tables.table1_general.sections.datasets",
     {"tables": {"table1_general": {"sections": [{"setting": "general", "datasets": ["demo/`id`"]}]}}}),
])
def test_subset_class_and_row_names_are_checked_too(where, overlay):
    refused(overlay, where)


def test_the_shipped_configs_pass():
    for extra in ("demo.yaml", "studies/elpv-cpu.yaml", "studies/gpu-subset.yaml"):
        check_config(coerce(load_config(ROOT / "config" / "config.yaml", ROOT / "config" / extra)))


SHELL_FIELD = re.compile(r"{([^{}]+)}")
# arguments a rule builds in Python, each part quoted with q() in workflow/rules/common.smk or the rule
BUILT = {"params.args", "params.external", "params.maps", "params.extra", "params.layout", "params.check",
         "params.files"}


def test_every_value_a_rule_puts_in_a_shell_command_is_quoted():
    """The audit of issue 21, kept: every {field} of every shell: command is `:q` or an argument list
    built with q() (and those builders quote: checked by grepping them)."""
    seen = 0
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.findall(r"shell:\n((?:\s+(?:#.*|\".*\"|'.*')\n)+)", text):
            for field in SHELL_FIELD.findall(block):
                seen += 1
                assert field.endswith(":q") or field in BUILT, f"{smk.name}: {{{field}}} reaches a shell unquoted"
    assert seen > 40
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    for line in re.findall(r'f"--[a-z-]+ \{[^}]*\}', common):
        assert "{q(" in line, line


@pytest.mark.workflow
def test_a_table_named_with_shell_syntax_runs_nothing_and_creates_no_file(tmp_path):
    """The reported exploit, end to end through Snakemake: refused while parsing, nothing executed."""
    over = tmp_path / "pwn.yaml"
    name = f"x`touch {tmp_path}/PWNED`"
    over.write_text(yaml.safe_dump({**table(name), "select": {"tables": [name]},
                                    "paths": {"data": str(tmp_path / "d"), "results": str(tmp_path / "r")}}))
    r = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "all_tables",
                        "--configfile", "config/demo.yaml", str(over), "--nolock"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode != 0 and "is not a usable name" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "r").exists()


# --- datasets ------------------------------------------------------------------------------------

def test_a_dataset_of_ones_own_may_not_take_a_paper_datasets_name(tmp_path):
    refused({"datasets": {"elpv": {"layout": "mvtec", "raw": str(tmp_path)}}}, "datasets.elpv", "'elpv'", "ELPV",
            "elpv_own")


def test_raw_is_refused_for_a_paper_dataset_rather_than_ignored(tmp_path):
    refused({"datasets": {"elpv": {"raw": str(tmp_path)}}}, "config datasets.elpv.raw", "layout: mvtec")


def test_a_hard_key_naming_a_subset_that_does_not_exist_is_an_error():
    refused({"datasets": {"demo": {"hard": {"weav": ["spot"]}}}}, "config datasets.demo.hard", "'weav'",
            "did you mean weave?", "['weave', 'grain']")


def test_a_discovered_subset_folder_with_shell_syntax_is_refused(tmp_path):
    raw = tmp_path / "raw"
    for sub in ("ok", "bad;name"):
        for part in ("train/good", "test/good", "test/crack"):
            (raw / sub / part).mkdir(parents=True)
    refused({"datasets": {"mine": {"layout": "mvtec", "raw": str(raw), "image_size": 64}}}, "subset folder",
            "bad;name")


def test_a_discovered_anomaly_class_folder_with_markup_is_refused(tmp_path):
    raw = tmp_path / "raw"
    for part in ("train/good", "test/good", "test/crack", "test/<svg onload=alert(2)>"):
        (raw / "ok" / part).mkdir(parents=True)
    refused({"datasets": {"mine": {"layout": "mvtec", "raw": str(raw), "image_size": 64}}}, "anomaly class folder",
            "<svg onload=alert(2)>", "not a usable name")


# --- numbers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay, named", [
    ({"seeds": [SEED_MAX + 1]}, ["config seeds", "4294967296", "from 0 to 4294967295"]),
    ({"seeds": [-1]}, ["config seeds", "-1"]),
    ({"seeds": [99999999999999999999]}, ["config seeds"]),
    ({"seeds": [0, 1, 0]}, ["config seeds", "seed 0 is given twice"]),
    ({"seeds": ["0", "0"]}, ["seed 0 is given twice"]),  # --config 'seeds=[0,0]' passes strings
    ({"budget": "inf"}, ["config budget", "'inf'", "finite"]),
    ({"budget": float("nan")}, ["config budget", "finite"]),
    ({"budget": 0}, ["config budget"]),
    ({"budget": 1e9}, ["config budget", "<= 100"]),
    ({"split_seed": -3}, ["config split_seed"]),
    ({"datasets": {"demo": {"image_size": 100000}}}, ["datasets.demo.image_size", "from 16 to 2048"]),
    ({"localization": {"size": 1 << 20}}, ["localization.size"]),
    ({"localization": {"sigma": float("inf")}}, ["localization.sigma"]),
    ({"select": {"shots": [11]}}, ["select.shots", "from 1 to 10"]),
    ({"tables": {"table1_general": {"seeds": [1, 1]}}}, ["tables.table1_general.seeds", "twice"]),
])
def test_numbers_out_of_range_are_refused_at_parse_time(overlay, named):
    refused(overlay, *named)


def test_numbers_in_range_pass():
    cfg = checked({"seeds": ["0", str(SEED_MAX)], "budget": "0.1", "localization": {"size": 64, "sigma": 0}})
    assert cfg["seeds"] == [0, SEED_MAX] and cfg["budget"] == 0.1


# --- files ---------------------------------------------------------------------------------------

def test_a_relabelled_copy_of_the_manifest_is_refused_naming_it(world, tmp_path):
    manifest = world.manifests["weave"]
    write_split(manifest, "general", None, 0, tmp_path / "split.json", "demo", "weave")
    relabelled = tmp_path / "manifest.csv"
    lines = manifest.read_text().splitlines()
    header = lines[0].split(",")
    row = next(i for i, line in enumerate(lines[1:], 1) if line.split(",")[header.index("label")] == "1")
    cells = lines[row].split(",")
    cells[header.index("label")] = "0"  # an anomaly relabelled normal
    lines[row] = ",".join(cells)
    relabelled.write_text("\n".join(lines) + "\n")
    spec = {"image_size": 48}
    with pytest.raises(DraError) as e:
        open_subset(SubsetFiles(tmp_path / "split.json", relabelled, tmp_path / "48.npy"), spec)
    assert str(relabelled) in str(e.value) and "was made from" in str(e.value)


def test_a_second_workflow_writing_the_same_folder_is_refused(tmp_path):
    """The lock is per process (POSIX): a second process asking for it is refused, naming the holder."""
    hold_lock(tmp_path, "the results folder")
    code = ("import sys\nfrom dra.errors import DraError\nfrom dra.plan.lock import hold_lock\n"
            f"try:\n    hold_lock({str(tmp_path)!r}, 'the results folder')\nexcept DraError as e:\n"
            "    print(e)\n    sys.exit(3)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stdout + r.stderr
    assert str(tmp_path) in r.stdout and "another workflow" in r.stdout and "pid " in r.stdout
