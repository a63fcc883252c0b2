"""The job matrix comes from the config alone (what the workflow plans, computed in process by the
planning functions it calls; test_workflow.py dry-runs the paper protocol once); code tracking follows
imports."""

import json

import pytest

from configs import parsed
from dra.plan.config import load_config, run_spec, variant_spec
from dra.plan.datasets import files_of
from dra.errors import DraError
from dra.plan.matrix import runs_by_artefact, table_layout, table_rows, table_runs
from dra.plan.sources import closure

from conftest import ROOT


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "config" / "config.yaml")


def test_table1_rows_cover_all_nine_datasets(cfg):
    rows = table_rows(cfg, "table1_general")
    assert len(rows) == 15 + 8
    assert {d for d, _, _ in rows} == {"mvtecad", "aitex", "sdd", "elpv", "optical", "mastcam", "brainmri", "headct",
                                       "hyperkvasir"}
    assert all(st == "general" for _, _, st in rows)


def test_table2_rows_are_the_papers_thirty_hard_settings(cfg):
    rows = table_rows(cfg, "table2_hard")
    assert len(rows) == 30
    assert ("mvtecad", "carpet", "hard-metal_contamination") in rows and ("elpv", "elpv", "hard-poly") in rows


def test_runs_are_rows_x_columns_x_seeds(cfg):
    layout = table_layout(cfg, "table1_general")
    runs = table_runs(cfg, "table1_general")
    assert len(runs) == len(layout["rows"]) * len(layout["columns"]) * len(cfg["seeds"])
    if "kdad" in cfg["tables"]["table1_general"]["variants"]:
        assert {r.shots for r in runs if r.variant == "kdad"} == {0}  # unsupervised: trained once, no shots


def test_unknown_row_or_hard_subset_is_an_error(cfg):
    bad = dict(cfg, tables={"x": {"sections": [{"setting": "hard", "datasets": ["sdd"]}], "variants": ["dra"],
                                  "shots": [10]}})
    with pytest.raises(DraError, match="datasets.sdd.hard"):
        table_rows(bad, "x")
    bad["tables"]["x"]["sections"][0]["datasets"] = ["mvtecad/nosuch"]
    with pytest.raises(DraError, match="unknown subset 'nosuch'"):
        table_rows(bad, "x")


def test_run_spec_resolves_variant_and_dataset(cfg):
    s = run_spec(cfg, "dra_1a", "brainmri", "brainmri", "general", 10, 2)
    assert s["params"]["heads"] == ["seen"] and s["params"]["pseudo"] == "lag" and s["image_size"] == 224
    assert run_spec(cfg, "dra", "mvtecad", "carpet", "general", 1, 0)["image_size"] == 448


def test_run_spec_from_a_resolved_variant_is_the_same_spec(cfg):
    """The Snakefile resolves each (variant, dataset) once and passes it in: same spec, same digest."""
    for variant, dataset in [("dra_1a", "brainmri"), ("saoe", "sdd"), ("kdad", "mvtecad")]:
        resolved = variant_spec(cfg, variant, dataset)
        for subset, setting, shots, seed in [(dataset, "general", 10, 2), ("x", "hard-y", 1, 0)]:
            direct = run_spec(cfg, variant, dataset, subset, setting, shots, seed)
            via = run_spec(cfg, variant, dataset, subset, setting, shots, seed, resolved=resolved)
            assert json.dumps(via, sort_keys=True) == json.dumps(direct, sort_keys=True)
            assert list(via) == list(direct)  # the same key order in metrics.json


def test_code_tracking_separates_methods_and_reports():
    devnet = set(closure("dra.commands.train", "dra.methods.devnet"))
    assert "dra.methods.devnet" in devnet and "dra.run.train" in devnet and "dra.nets.losses" in devnet
    assert "dra.methods.dra" not in devnet and not any(m.startswith("dra.report") for m in devnet)
    table = set(closure("dra.commands.table"))
    assert "dra.report.tables" in table
    assert not any(m.startswith("dra.methods") or m == "dra.run.train" for m in table)


def datasets_read(cfg: dict) -> set[str]:
    """The datasets the selected runs read: their own and the external pools they draw from."""
    return {r.dataset for r in cfg["_runs"]} | {(run_spec(cfg, *r.words().values())["external"] or {}).get("pool")
                                               for r in cfg["_runs"]} - {None}


def test_select_narrows_the_paper_protocol_to_the_selected_runs():
    cfg = parsed({"select": {"datasets": ["elpv", "headct"], "variants": ["dra", "devnet"],
                             "tables": ["table1_general", "table2_hard"], "shots": [10]}}, files=("config.yaml",))
    runs = cfg["_runs"]
    assert {r.dataset for r in runs} == {"elpv", "headct"}
    assert {r.variant for r in runs} == {"dra", "devnet"} and {r.shots for r in runs} == {10}
    # table1: 2 datasets; table2: elpv's two hard classes (HeadCT has none); 2 variants, 3 seeds
    assert len(runs) == (2 + 2) * 2 * 3
    assert datasets_read(cfg) == {"elpv", "headct", "lag"}  # DRA on HeadCT draws LAG; nothing unselected
    assert set(runs_by_artefact(cfg)) == {"table1_general", "table2_hard"}


def test_the_elpv_study_plans_every_method_of_tables_1_and_2_and_needs_nothing_placed_by_hand():
    cfg = parsed(files=("config.yaml", "studies/elpv-cpu.yaml"))
    runs = cfg["_runs"]
    assert {r.variant for r in runs} == {"kdad", "devnet", "flos", "saoe", "mlep", "dra"}
    assert {r.setting for r in runs} == {"general", "hard-mono", "hard-poly"}
    assert {r.seed for r in runs} == {0, 1, 2} and len(runs) == 3 * 3 * (5 * 2 + 1)
    read = datasets_read(cfg)
    assert read == {"elpv", "textures"} and cfg["datasets"]["textures"]["source"] == "synth"  # SAOE's outliers
    assert all(f.url for f in files_of("elpv"))  # downloaded (from PyPI), not placed by hand
