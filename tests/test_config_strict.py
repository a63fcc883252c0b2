"""A typo can never train the wrong model: every key and value of the configuration is checked when the
workflow is parsed (a dry run stops naming it), the same check runs for a spec given to `dra train`
by hand, and Snakemake's --config overrides of the documented keys plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from dra.plan.config import load_config, method_params
from dra.plan.configcheck import check_config, coerce
from dra.errors import DraError
from dra.plan.params import declarations, defaults

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def dry(tmp_path, overlay: dict | None = None, *args, target="all_tables", env=None):
    files = ["config/demo.yaml"]
    base = {"paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / "res")}}
    (tmp_path / "over.yaml").write_text(yaml.safe_dump({**base, **(overlay or {})}))
    files.append(str(tmp_path / "over.yaml"))
    cmd = [SNAKEMAKE, "-n", target, "--configfile", *files, "--nolock", *args]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("overlay, named", [
    ({"variants": {"x": {"method": "dra", "head": ["seen"]}}}, ["variants.x", "'head'", "did you mean heads?"]),
    ({"methods": {"devnet": {"lrr": 0.5}}}, ["methods.devnet", "'lrr'", "did you mean lr?"]),
    ({"methods": {"dra": {"lr": "1.0e30"}}}, ["methods.dra", "lr '1.0e30'", "a number > 0 and <= 1"]),
    ({"methods": {"dra": {"heads": ["seen", "noise"]}}}, ["heads", "'noise'", "each one of"]),
    ({"datasets": {"foo": {"image_size": 64}}}, ["datasets.foo", "not a dataset this package knows", "layout: mvtec"]),
    ({"variants": {"x": {"method": "drra"}}}, ["variants.x", "'drra'", "did you mean dra?"]),
    ({"methods": {"minns": {"dropout": 1.5}}}, ["dropout 1.5", "<= 1"]),
    ({"select": {"datasets": ["demoo"]}}, ["select.datasets", "'demoo'", "did you mean demo?"]),
])
def test_each_typo_stops_a_dry_run_naming_its_key(tmp_path, overlay, named):
    code, out = dry(tmp_path, overlay)
    assert code != 0, out[-2000:]
    for text in named:
        assert text in out, (text, out[-2000:])
    assert "Traceback" not in out


def test_a_hard_setting_of_a_class_the_config_does_not_list_is_an_error(tmp_path):
    target = str(tmp_path / "res" / "runs" / "dra" / "demo" / "weave" / "hard-nosuch" / "10shot" / "seed0" / "metrics.json")
    code, out = dry(tmp_path, None, target=target)
    assert code != 0 and "class 'nosuch' is not among the hard classes" in out and "datasets.demo.hard.weave" in out
    assert "['scratch', 'spot']" in out and "src/dra" not in out  # Snakemake names the rule; no frame of ours


def test_the_documented_command_line_overrides_plan(tmp_path):
    code, out = dry(tmp_path, None, "--config", "seeds=[0,1,2]", "weights=none", "device=cpu", "budget=0.5")
    assert code == 0, out[-3000:]
    assert "seed=2" in out  # the third seed, given as a string on the command line, planned as a number


def test_every_shipped_config_validates():
    for files in (["config.yaml"], ["config.yaml", "demo.yaml"], *[["config.yaml", f"studies/{p.name}"]
                                                                   for p in (ROOT / "config" / "studies").glob("*.yaml")]):
        cfg = load_config(*(ROOT / "config" / f for f in files))
        check_config(coerce(cfg))
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


def test_a_hand_given_spec_with_an_unknown_key_is_refused_by_train(tmp_path):
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    from dra.plan.config import run_spec

    spec = run_spec(cfg, "dra", "demo", "weave", "general", 10, 0)
    spec["params"]["head"] = ["seen"]
    r = subprocess.run([sys.executable, "-m", "dra", "train", "--spec", json.dumps(spec), "--split", "s", "--manifest",
                        "m", "--cache", "c", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown parameter 'head'" in r.stderr and "did you mean heads?" in r.stderr
    assert "Traceback" not in r.stderr
    spec["params"].pop("head")
    spec["params"]["n_ref"] = "five"
    r = subprocess.run([sys.executable, "-m", "dra", "train", "--spec", json.dumps(spec), "--split", "s", "--manifest",
                        "m", "--cache", "c", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1 and "n_ref 'five'; expected an integer >= 1" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["params", "drra"], "unknown method 'drra' (did you mean dra?)"),
    (["train", "--spec", "{}", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o"], "the run spec lacks"),
    (["train", "--spec", "@/nonexistent.json", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o"],
     "cannot read it"),
    (["train", "--spec", "{}", "--split", "s", "--manifest", "m", "--cache", "c", "--out", "o", "--device", "gpu"],
     "--device 'gpu'"),
    (["layout", "--json", "[1]", "--out", "x.json"], "expected an object"),
    (["bench", "--methods", "dra,nope"], "nope"),
])
def test_user_mistakes_at_the_command_line_are_errors_not_tracebacks(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "dra", *args], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-1500:]


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


def test_a_dry_run_with_imagenet_weights_and_an_empty_cache_plans_the_weights_file(tmp_path):
    env = {**__import__("os").environ, "TORCH_HOME": str(tmp_path / "torch")}
    code, out = dry(tmp_path, {"weights": "imagenet"}, env=env)
    assert code == 0, out[-2000:]
    assert "rule weights:" in out and str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in out


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
