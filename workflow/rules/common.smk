# The workflow's domain API: the configuration checked, the targets it selects, the paths of the run
# key (dra.plan.runkey) and the input functions the rules use. Planning-speed measures that reach into
# Snakemake itself live in engine.smk.
import functools
import hashlib
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod, ExecMode
from snakemake.utils import validate

from dra.plan import runkey
from dra.plan.config import (
    per_dataset,
    run_data_files,
    run_spec,
    subsets,
    variant_method,
    variant_spec,
)
from dra.plan.configcheck import check_config, coerce
from dra.plan import DraError
from dra.plan.datasets import converter, downloadable, files_of
from dra.plan.weights import IMAGENET_FILES, imagenet_path, weight_files
from dra.plan.safeyaml import load_yaml
from dra.plan.matrix import (
    all_runs,
    artefact,
    check_hard_setting,
    provenance,
    report_caption,
    runs_by_artefact,
    table_cells,
    table_layout,
)
from dra.plan.runkey import Run, pattern
from dra.plan.sources import source_files, train_modules

try:
    for (
        _configfile
    ) in workflow.configfiles:  # config.yaml and every --configfile, bounded first
        load_yaml(_configfile)
    coerce(config)
    validate(config, "../schemas/config.schema.yaml")
    check_config(config)
except DraError as e:
    raise WorkflowError(f"configuration: {e}") from None

# Without --use-conda, jobs use the interpreter running Snakemake (a venv need not be activated);
# a conda job's activation puts its own python first.
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)

DATA = config["paths"]["data"]
RES = config["paths"]["results"]
ROOT = Path(workflow.basedir).parent
SYNTH = [d for d, c in config["datasets"].items() if c.get("source") == "synth"]
try:
    ARTEFACT_RUNS = runs_by_artefact(
        config
    )  # each selected table's and figure's runs, once
    TABLES = [a for a in ARTEFACT_RUNS if a in config.get("tables", {})]
    PLOTS = [a for a in ARTEFACT_RUNS if a in config.get("plots", {})]
    RUNS = all_runs(config, ARTEFACT_RUNS)
except DraError as e:
    raise WorkflowError(f"configuration: {e}") from None
PARTIAL = bool(config.get("partial", False))

# --use-conda: the env files install this package with `pip: -e ../..`, which conda resolves from
# the folder of the env file it is given, Snakemake's copy in the conda prefix. Only the default
# prefix, .snakemake/conda in the repository, puts ../.. at the repository.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    _prefix = workflow.deployment_settings.conda_prefix or Path(".snakemake", "conda")
    if (
        Path(os.path.expandvars(_prefix)).expanduser().resolve().parents[1]
        != ROOT.resolve()
    ):
        raise WorkflowError(
            f"--use-conda with conda prefix {_prefix}: the environments install the package from "
            "../.. of the prefix, which must be the repository; run Snakemake in the repository "
            "root without --conda-prefix (docs/cluster.md)"
        )


def alternation(names):
    """A wildcard constraint matching exactly these names (checked names: no regex syntax but '.')."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


def at_data(template):
    return pattern(template, data=DATA)


def at_results(template):
    return pattern(template, results=RES)


def code(*modules):
    """The package files these modules import (transitively), declared as inputs so an edit reruns."""
    return list(source_files(*modules, project=ROOT))


@functools.cache
def code_digest(*modules):
    """One digest of the same files' contents: for rules with thousands of jobs, a parameter (whose
    change reruns the job) is far cheaper to plan than thousands of file inputs."""
    h = hashlib.sha256()
    for f in source_files(*modules, project=ROOT):
        h.update(f.encode() + b"\0" + (ROOT / f).read_bytes())
    return h.hexdigest()[:16]


def dataset_code(dataset):
    return converter(config, dataset)


def layout_arg(dataset):
    layout = config["datasets"][dataset].get("layout")
    return f"--layout {q(layout)}" if layout else ""


def check_counts(dataset):
    return config["datasets"][dataset].get("check_counts", True)


# --- run specs -------------------------------------------------------------------------------------


@functools.cache
def variant_of(variant, dataset):
    return variant_spec(config, variant, dataset)


@functools.cache
def method_of(variant):
    return variant_method(config, variant)


@functools.cache
def spec(variant, dataset, subset, setting, shots, seed):
    # the DAG asks for a run's spec several times (inputs, params): resolve it once, and the
    # variant's part (a deep merge of its method's parameters) once per variant and dataset
    return run_spec(
        config,
        variant,
        dataset,
        subset,
        setting,
        int(shots),
        int(seed),
        resolved=variant_of(variant, dataset),
    )


@functools.cache
def spec_json(variant, dataset, subset, setting, shots, seed):
    return json.dumps(
        spec(variant, dataset, subset, setting, shots, seed), sort_keys=True
    )


def model_consumers():
    """Variants whose runs' trained models a later step reads: the base of every AHL variant the
    selection runs, and the variants whose anomaly maps a selected figure draws."""
    out = set()
    for v in {r.variant for r in RUNS}:
        base = variant_of(v, RUNS[0].dataset)["params"].get("base")
        if base:
            out.add(base)
    for name in PLOTS:
        if config["plots"][name].get("kind") == "heatmaps":
            out |= {v for _, v in table_cells(config, name)}
    return out


def run_of(wc):
    return Run(
        wc.variant, wc.dataset, wc.subset, wc.setting, int(wc.shots), int(wc.seed)
    )


# --- targets ---------------------------------------------------------------------------------------


def metrics_files(runs):
    return [runkey.run_file(r, RES, "metrics") for r in runs]


def artefact_layout(wc):
    """What a table, figure or the summary is to show (the layout stage writes it to a file)."""
    if wc.name == "summary":
        plan = {
            "name": "summary",
            "provenance": provenance(config, RUNS, variant_of),
            "runs": [list(r.words().values()) for r in RUNS],
            "tables": TABLES,
            "plots": PLOTS,
            "partial": PARTIAL,
            "results": RES,
        }
        return json.dumps(plan, sort_keys=True)
    return json.dumps(table_layout(config, wc.name, variant_of), sort_keys=True)


def existing(paths):
    """`partial: true`: tables and figures from the runs done so far (none is started for them)."""
    return [p for p in paths if Path(p).is_file()] if PARTIAL else paths


def table_file(name, ext):
    return runkey.table_file(RES, name, ext)


def table_pattern(ext):
    return pattern(runkey.TABLE, results=RES, ext=ext)


def plot_pattern(ext):
    return pattern(runkey.PLOT, results=RES, ext=ext)


def layout_file(name):
    return at_results(runkey.LAYOUT).replace("{name}", name)


def summary_file(ext):
    return runkey.SUMMARY.format(results=RES, ext=ext)


def all_targets():
    out = [table_file(t, ext) for t in TABLES for ext in ("csv", "md", "tex", "html")]
    out += [table_file("reproduction", ext) for ext in ("csv", "md")] if TABLES else []
    out += [
        runkey.PLOT.format(results=RES, plot=p, ext=e)
        for p in PLOTS
        for e in ("png", "pdf")
    ]
    out += [at_results(runkey.RUNS_CSV), summary_file("md")]
    return out


def heatmap_inputs(name):
    """The anomaly maps a heatmap figure draws (one file per run it shows), else none."""
    if config["plots"][name].get("kind") != "heatmaps":
        return []
    return [at_results(runkey.MAPS).format(**r.words()) for r in ARTEFACT_RUNS[name]]


def heatmap_images():
    """Test anomalies per row of the heatmap figures (the largest any of them asks for)."""
    asked = [
        config["plots"][p].get("images", 3)
        for p in PLOTS
        if config["plots"][p].get("kind") == "heatmaps"
    ]
    return max(asked, default=3)


# --- inputs of a training run ----------------------------------------------------------------------


@functools.cache
def needed_weights(variant):
    """The pretrained files a variant's runs read: a declared input, so a missing one is known when
    the DAG is built (the `weights` rule fills torchvision's cache; a file path must exist).
    """
    return weight_files(config.get("weights", "imagenet"), method_of(variant))


@signature_once
def train_inputs(wc):
    """A run reads its data files (dra.plan.config.run_data_files), its pretrained weights and an
    AHL run its base run's model."""
    s = spec(wc.variant, wc.dataset, wc.subset, wc.setting, wc.shots, wc.seed)
    try:
        if runkey.parse_setting(wc.setting)[0] == "hard":
            check_hard_setting(config, wc.dataset, wc.subset, wc.setting)
    except DraError as e:
        raise WorkflowError(f"{run_of(wc).dir(RES)}: {e}") from None
    return {
        **run_data_files(config, s),
        "weights": needed_weights(wc.variant),
        "base": base_model(wc),
    }


def base_model(wc):
    """An AHL run builds on the trained model of its base run (the same six words, the base variant)."""
    base = spec(wc.variant, wc.dataset, wc.subset, wc.setting, wc.shots, wc.seed)[
        "params"
    ].get("base")
    return (
        [runkey.run_file(run_of(wc).with_variant(base), RES, "model")] if base else []
    )


def q(path):
    """A value quoted for the shell. Every value that reaches a shell command is quoted: `{x:q}` in
    the rule, or q() where an argument list is built here."""
    return shlex.quote(str(path))


@signature_once
def train_args(wc, input, output):
    """The train command's arguments that depend on the run: output folder, external and target
    data, weights, base model."""
    args = [f"--out {q(Path(output.metrics).parent)}"]
    args += [f"--external {q(p)}" for p in input.external]
    if input.target:
        split, manifest_, cache_ = input.target
        args.append(
            f"--target-split {q(split)} --target-manifest {q(manifest_)} --target-cache {q(cache_)}"
        )
    if input.base:
        args.append(f"--base-model {q(input.base[0])}")
    if "model" in output.keys():
        args.append(f"--save-model {q(output.model)}")
    if "maps" in output.keys():
        args.append(f"--save-maps {q(output.maps)}")
    return " ".join(args)


# --- raw files (download.smk) ----------------------------------------------------------------------
# Every dataset that declares raw files (all but the generated and the user's own); LAG is the
# external pseudo-anomaly pool.
DOWNLOADABLE = downloadable()


def raw_folder(dataset):
    """The folder `prepare --raw` reads for a real dataset: its archives, extracted."""
    return at_data(runkey.EXTRACTED).format(dataset=dataset)


def raw_input(dataset):
    ds = config["datasets"][dataset]
    if dataset in SYNTH:
        return at_data(runkey.GENERATED).format(dataset=dataset)
    if ds.get("layout"):
        return ds["raw"]
    return raw_folder(dataset)


def raw_files(dataset, manual):
    """The dataset's raw files that a person places (manual) or that a URL fetches."""
    return [
        f"{at_data(runkey.RAW).format(dataset=dataset)}/{f.name}"
        for f in files_of(dataset)
        if (f.url is None) == manual
    ]


def _extract_input(wildcards):
    # A copy the user extracted by hand into raw_folder(dataset), with no archives beside it, is
    # taken as it is (the download error messages offer this).
    files = raw_files(wildcards.dataset, True) + raw_files(wildcards.dataset, False)
    if Path(raw_folder(wildcards.dataset)).is_dir() and not all(
        Path(f).is_file() for f in files
    ):
        return []
    return files


# --- resources of a training run -------------------------------------------------------------------
# What a training run asks a cluster for: config `resources.train`, per method over `default`
# (docs/cluster.md). Without that section a run asks for one CPU and no GPU.
TRAIN_RESOURCES = config.get("resources", {}).get("train", {})
_RESOURCE_DEFAULTS = {
    "threads": 1,
    "mem_mb": 8000,
    "runtime": 120,
    "gpu": 0,
    "group": "train",
}


@functools.cache
def train_resources(variant, dataset):
    method = method_of(variant)
    merged = {
        **_RESOURCE_DEFAULTS,
        **TRAIN_RESOURCES.get("default", {}),
        **TRAIN_RESOURCES.get(method, {}),
    }
    return {k: per_dataset(v, dataset) for k, v in merged.items()}


# --- the training rules (train.smk) ----------------------------------------------------------------
SAVE_MAPS = bool(config.get("save_maps", False))
RUN_OUT = {
    "scores": at_results(runkey.RUN_SCORES),
    "metrics": at_results(runkey.RUN_METRICS),
    **({"maps": at_results(runkey.RUN_MAPS)} if SAVE_MAPS else {}),
}
KEEP_MODEL = sorted(model_consumers())


@signature_once
def train_spec(wc):
    return spec_json(wc.variant, wc.dataset, wc.subset, wc.setting, wc.shots, wc.seed)


@signature_once
def train_code(wc):
    return code_digest(*train_modules(method_of(wc.variant)))


def train_resource(name, scale_with_attempt=False):
    """A train job's `name` resource (a function for the rule); memory and wall time grow with
    each retry (attempt 1, 2, ...)."""

    @signature_once
    def get(wildcards, attempt=1):
        value = train_resources(wildcards.variant, wildcards.dataset)[name]
        return value * attempt if scale_with_attempt else value

    return get


@signature_once
def train_group(wildcards):
    return group_of(train_resources(wildcards.variant, wildcards.dataset)["group"])


def maps_inputs(wc):
    """What `python -m dra maps` reads for a run: its kept model, split, manifest, cache (and external
    pools, which DRA's references may draw pseudo anomalies from)."""
    inputs = dict(train_inputs(wc))
    for key in ("weights", "base", "target"):
        inputs.pop(key)
    inputs["model"] = runkey.run_file(run_of(wc), RES, "model")
    return inputs
