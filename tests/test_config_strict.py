"""A typo can never train the wrong model: every key and value of the configuration is checked when the
workflow is parsed (checked here in process as common.smk checks it, tests/configs.py; a dry run in
test_workflow.py shows such an error reaching the user as one line), the same check runs for a spec
given to `dra train` by hand, and Snakemake's --config overrides of the documented keys plan."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from configs import parsed
from conftest import ROOT
from dra.cli import main
from dra.plan.config import load_config, method_params, run_spec
from dra.plan.configcheck import coerce
from dra.errors import DraError
from dra.plan.params import declarations, defaults


@pytest.mark.parametrize("overlay, named", [
    ({"variants": {"x": {"method": "dra", "head": ["seen"]}}}, ["variants.x", "'head'", "did you mean heads?"]),
    ({"methods": {"devnet": {"lrr": 0.5}}}, ["methods.devnet", "'lrr'", "did you mean lr?"]),
    ({"methods": {"dra": {"lr": "1.0e30"}}}, ["methods.dra", "lr '1.0e30'", "a number > 0 and <= 1"]),
    ({"methods": {"dra": {"heads": ["seen", "noise"]}}}, ["heads", "'noise'", "each one of"]),
    ({"datasets": {"foo": {"image_size": 64}}}, ["datasets.foo", "not a dataset this package knows", "layout: mvtec"]),
    ({"variants": {"x": {"method": "drra"}}}, ["variants.x", "'drra'", "did you mean dra?"]),
    ({"methods": {"minns": {"dropout": 1.5}}}, ["dropout 1.5", "<= 1"]),
    ({"select": {"datasets": ["demoo"]}}, ["select.datasets", "'demoo'", "did you mean demo?"]),
    ({"methods": {"dra": {"loss": "hinge"}}}, ["methods.dra", "loss 'hinge'", "one of"]),
])
def test_each_typo_is_refused_naming_its_key(overlay, named):
    with pytest.raises(DraError) as e:
        parsed(overlay)
    for text in named:
        assert text in str(e.value), (text, str(e.value))


def test_an_unknown_top_level_key_is_refused_by_the_schema():
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match="'no_such_key' was unexpected"):
        parsed({"no_such_key": 1})


def test_the_documented_command_line_overrides_plan():
    cfg = parsed(config=("seeds=[0,1,2]", "weights=none", "device=cpu", "budget=0.5"))
    # Snakemake's parser hands the seeds over as strings; they are planned as numbers
    assert cfg["seeds"] == [0, 1, 2] and cfg["budget"] == 0.5 and cfg["weights"] == "none"
    assert {r.seed for r in cfg["_runs"]} == {0, 1, 2}


def test_every_shipped_config_validates():
    studies = [("config.yaml", f"studies/{p.name}") for p in (ROOT / "config" / "studies").glob("*.yaml")]
    for files in (("config.yaml",), ("config.yaml", "demo.yaml"), ("config.yaml", "demo.yaml", "micro.yaml"),
                  *studies):
        cfg = parsed(files=files)
        assert cfg["_runs"], files
        for variant in cfg["variants"]:
            method, params = method_params(cfg, variant)
            assert set(params) <= set(declarations(method)), (files, variant)


def test_every_method_declares_its_defaults_once_and_they_are_valid():
    from dra.plan.methods import METHODS
    from dra.plan.params import check_params

    for method in METHODS:
        d = defaults(method)
        assert check_params(method, d, method) == d  # each default is a valid value of its own declaration


def test_config_yaml_repeats_no_declared_default():
    """The protocol's values live in the methods' modules; config.yaml's `methods:` only overrides."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for method, over in (cfg.get("methods") or {}).items():
        for key, value in over.items():
            assert defaults(method)[key] != value, f"config.yaml repeats {method}.{key}"


def test_a_hand_given_spec_with_an_unknown_key_is_refused_by_train(tmp_path, capsys):
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    spec = run_spec(cfg, "dra", "demo", "weave", "general", 10, 0)
    spec["params"]["head"] = ["seen"]
    args = ["--split", "s", "--manifest", "m", "--cache", "c", "--out", str(tmp_path / "o")]
    assert main(["train", "--spec", json.dumps(spec), *args]) == 1
    err = capsys.readouterr().err
    assert "unknown parameter 'head'" in err and "did you mean heads?" in err
    spec["params"].pop("head")
    spec["params"]["n_ref"] = "five"
    assert main(["train", "--spec", json.dumps(spec), *args]) == 1
    assert "n_ref 'five'; expected an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["params", "drra"], "unknown method 'drra' (did you mean dra?)"),
    (["train", "--spec", "{}", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o"], "the run spec lacks"),
    (["train", "--spec", "@/nonexistent.json", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o"],
     "cannot read it"),
    (["train", "--spec", "{}", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o", "--device", "gpu"],
     "--device 'gpu'"),
    (["train", "--spec", "{not json", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o"],
     "--spec: not valid JSON"),
    (["layout", "--json", "[1]", "--out", "x.json"], "expected an object"),
    (["bench", "--methods", "dra,nope"], "nope"),
])
def test_user_mistakes_at_the_command_line_are_errors_not_tracebacks(tmp_path, monkeypatch, capsys, args, message):
    """`python -m dra` runs main() (test_cli.py starts it as a process): a DraError is one line on
    stderr and exit status 1, and nothing is written; any other exception would fail the test here."""
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1, err[-1500:]
    assert not list(tmp_path.iterdir())


def test_a_method_construction_error_is_a_dra_error_naming_the_value():
    from methods_fixtures import easy_data, tiny_spec
    from dra.methods import method_class
    import torch

    data = easy_data(n_normal=8)
    spec = tiny_spec("minns", {"widths": [256, 64]})
    with pytest.raises(DraError, match=r"minns widths \[256, 64\]: expected the first to be 512"):
        method_class("minns")(spec["params"], data, torch.Generator())
    spec = tiny_spec("mlep", {"batch_normal": 5})
    with pytest.raises(DraError, match="expected an even number"):
        method_class("mlep")(spec["params"], data, torch.Generator())


def test_coerce_turns_command_line_strings_into_numbers_and_names_a_bad_one():
    cfg = coerce({"seeds": ["0", "1"], "split_seed": "42", "budget": "0.1", "select": {"shots": ["10"]}})
    assert cfg == {"seeds": [0, 1], "split_seed": 42, "budget": 0.1, "select": {"shots": [10]}}
    with pytest.raises(DraError, match=r"config seeds: 'one'; expected an integer"):
        coerce({"seeds": ["one"]})


def test_the_declarations_read_from_source_are_the_modules_own():
    """The workflow reads PARAMS from each method module's source without importing torch; what it
    reads is exactly what the imported module holds."""
    import importlib

    from dra.plan.methods import METHODS
    from dra.plan.params import _module_declarations, method_file

    for method, module in METHODS.items():
        read, constants = _module_declarations(method_file(method))
        imported = importlib.import_module(f"dra.methods.{module}")
        assert read == imported.PARAMS, method
        for name in ("UNSUPERVISED", "EXTENDS", "METHOD_DEFAULTS"):
            assert constants.get(name) == getattr(imported, name, None), (method, name)


def test_planning_imports_no_torch():
    """The Snakefile parses every configuration without torch (each cluster job parses it again):
    importing every module of dra.plan, and planning the whole protocol, imports none."""
    code = ("import importlib, pkgutil, sys\nimport dra.plan\n"
            "names = [m.name for m in pkgutil.iter_modules(dra.plan.__path__)]\n"
            "assert {'runkey', 'config', 'matrix', 'preflight', 'methods'} <= set(names), names\n"
            "for name in names:\n    importlib.import_module(f'dra.plan.{name}')\n"
            "from dra.plan.config import load_config\nfrom dra.plan.configcheck import check_config, coerce\n"
            "from dra.plan.matrix import all_runs\nfrom dra.plan.preflight import needs\n"
            "cfg = check_config(coerce(load_config()))\nneeds(cfg, all_runs(cfg))\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
