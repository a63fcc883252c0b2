# Config validation and the helpers rules use: the job matrix, paths, code tracking.
import functools
import hashlib
import inspect
import json
import os
import sys
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.exceptions import WorkflowError
from snakemake.resources import Resource
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from dra.data.download import files_of
from dra.data.registry import DATASETS, LAYOUTS
from dra.config import (
    external_subsets,
    method_params,
    per_dataset,
    run_spec,
    subsets,
    variant_spec,
)
from dra.plan import all_runs, table_layout, table_runs
from dra.sources import source_files

validate(config, "../schemas/config.schema.yaml")

# Without --use-conda, jobs use the interpreter running Snakemake (a venv need not be activated);
# a conda job's activation puts its own python first.
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)

DATA = config["paths"]["data"]
RES = config["paths"]["results"]
ROOT = Path(workflow.basedir).parent
SYNTH = [d for d, c in config["datasets"].items() if c.get("source") == "synth"]
REAL = [d for d in config["datasets"] if d not in SYNTH]
TABLES = list(config["tables"])
PLOTS = list(config.get("plots", {}))

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


def signature_once(func):
    """Store a function's signature for Snakemake (its own hook), which otherwise inspects it again at
    every call, several per job; for the 3,207 training jobs of the paper protocol that is 2 s.
    """
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


# The same for Snakemake's own Resource.evaluate, whose signature it inspects at every resource of
# every job (33,000 times for the paper protocol: about 1 s of a dry run). Its bound methods see the
# function's attribute; it takes **kwargs, so Snakemake passes it the same arguments either way.
signature_once(Resource.evaluate)


def alternation(names):
    return "|".join(sorted(names)) or "(?!)"


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


@signature_once
def train_code(wc):
    return code_digest("dra.commands.train", f"dra.methods.{_spec_method(wc.variant)}")


@functools.cache
def _spec_method(variant):
    return method_params(config, variant)[0]


def dataset_code(dataset):
    """The module that converts `dataset` (the layout's, for a dataset of the user's own)."""
    layout = config["datasets"][dataset].get("layout")
    return LAYOUTS[layout] if layout else DATASETS[dataset]


def layout_arg(dataset):
    layout = config["datasets"][dataset].get("layout")
    return f"--layout {layout}" if layout else ""


def check_counts(dataset):
    return config["datasets"][dataset].get("check_counts", True)


def raw_input(dataset):
    if dataset in SYNTH:
        return f"{DATA}/raw/{dataset}/generated"
    return raw_folder(dataset)


def manifest(dataset, subset):
    return f"{DATA}/prepared/{dataset}/{subset}/manifest.csv"


def cache(dataset, subset, size):
    return f"{DATA}/cache/{dataset}/{subset}/{size}.npy"


def run_dir(variant, dataset, subset, setting, shots, seed):
    return f"{RES}/runs/{variant}/{dataset}/{subset}/{setting}/{shots}shot/seed{seed}"


def spec_of(wc):
    return _spec(
        wc.variant, wc.dataset, wc.subset, wc.setting, int(wc.shots), int(wc.seed)
    )


@functools.cache
def _variant_spec(variant, dataset):
    return variant_spec(config, variant, dataset)


@functools.cache
def _spec(variant, dataset, subset, setting, shots, seed):
    # the DAG asks for a run's spec several times (inputs, params): resolve it once, and the
    # variant's part (a deep merge of its method's parameters) once per variant and dataset
    return run_spec(
        config,
        variant,
        dataset,
        subset,
        setting,
        shots,
        seed,
        resolved=_variant_spec(variant, dataset),
    )


@functools.cache
def spec_json(variant, dataset, subset, setting, shots, seed):
    return json.dumps(
        _spec(variant, dataset, subset, setting, int(shots), int(seed)), sort_keys=True
    )


# What a training run asks a cluster for: config `resources.train`, per method over `default`
# (docs/cluster.md). Without that section a run asks for one CPU and no GPU.
TRAIN_RESOURCES = config.get("resources", {}).get("train", {})
_unknown = sorted(set(TRAIN_RESOURCES) - {"default"} - set(config["methods"]))
if _unknown:
    raise ValueError(
        f"config resources.train: {_unknown} are not methods; expected `default` or one of "
        f"{sorted(config['methods'])}"
    )
_RESOURCE_DEFAULTS = {
    "threads": 1,
    "mem_mb": 8000,
    "runtime": 120,
    "gpu": 0,
    "group": "train",
}


@functools.cache
def _train_resources(variant, dataset):
    method = _spec_method(variant)
    merged = {
        **_RESOURCE_DEFAULTS,
        **TRAIN_RESOURCES.get("default", {}),
        **TRAIN_RESOURCES.get(method, {}),
    }
    return {k: per_dataset(v, dataset) for k, v in merged.items()}


def train_resource(name, scale_with_attempt=False):
    """A train job's `name` resource (a function for the rule); memory and wall time grow with
    each retry (attempt 1, 2, ...)."""

    @signature_once
    def get(wildcards, attempt=1):
        value = _train_resources(wildcards.variant, wildcards.dataset)[name]
        return value * attempt if scale_with_attempt else value

    return get


@signature_once
def train_group(wildcards):
    """The group a run joins: its method's `group` where the profile bundles that group
    (group-components), else none. Snakemake ignores groups in local runs but forms them in dry
    runs; unbundled, each is a group of one job: the same to run, but 3,207 of them cost more than
    1 s of the paper protocol's dry run. (`--groups train=...` on the command line still wins.)
    Inside a cluster job (remote mode, which is not told the group-components) the group stays:
    there it makes the job's members run in that one Snakemake instead of one srun each.
    """
    group = _train_resources(wildcards.variant, wildcards.dataset)["group"]
    if workflow.remote_exec or group in workflow.group_settings.group_components:
        return group
    return None


def metrics_files(runs):
    return [f"{r.path(RES)}/metrics.json" for r in runs]


def all_targets():
    out = [f"{RES}/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md", "tex")]
    out += (
        [f"{RES}/tables/reproduction.{ext}" for ext in ("csv", "md")] if TABLES else []
    )
    out += [f"{RES}/plots/{p}.{ext}" for p in PLOTS for ext in ("png", "pdf")]
    out.append(f"{RES}/runs.csv")
    return out


@signature_once
def train_inputs(wc):
    """A run reads its split, manifest and cache; a cross-domain run (setting from-<source>) trains
    on the source subset's general split and fine-tunes and tests on its own (the target's).
    """
    spec = spec_of(wc)
    size = spec["image_size"]
    source = wc.setting[len("from-") :] if wc.setting.startswith("from-") else None
    train_subset, setting = (source, "general") if source else (wc.subset, wc.setting)
    inputs = {
        "split": f"{RES}/splits/{wc.dataset}/{train_subset}/{setting}/seed{wc.seed}.json",
        "manifest": manifest(wc.dataset, train_subset),
        "cache": cache(wc.dataset, train_subset, size),
        "external": [cache(d, s, size) for d, s in external_subsets(config, spec)],
        "target": [],
    }
    if source:
        inputs["target"] = [
            f"{RES}/splits/{wc.dataset}/{wc.subset}/general/seed{wc.seed}.json",
            manifest(wc.dataset, wc.subset),
            cache(wc.dataset, wc.subset, size),
        ]
    return inputs


def train_args(input, output):
    """The train command's arguments that depend on the run: output folder, external and target data."""
    args = [f"--out {Path(output.scores).parent}"]
    args += [f"--external {p}" for p in input.external]
    if input.target:
        split, manifest_, cache_ = input.target
        args.append(
            f"--target-split {split} --target-manifest {manifest_} --target-cache {cache_}"
        )
    return " ".join(args)


# --- raw files (download.smk) ---
# Every dataset that declares raw files (all but the generated demo); LAG is the external
# pseudo-anomaly pool.
DOWNLOADABLE = [d for d in DATASETS if files_of(d)]


def raw_folder(dataset):
    """The folder `prepare --raw` reads for a real dataset: its archives, extracted."""
    return f"{DATA}/raw/{dataset}/extracted"


def raw_files(dataset):
    return [f"{DATA}/raw/{dataset}/{f.name}" for f in files_of(dataset)]


def _extract_input(wildcards):
    # A copy the user extracted by hand into raw_folder(dataset), with no archives beside it, is
    # taken as it is (the download error messages offer this).
    files = raw_files(wildcards.dataset)
    if Path(raw_folder(wildcards.dataset)).is_dir() and not all(
        Path(f).is_file() for f in files
    ):
        return []
    return files
