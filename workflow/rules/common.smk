# Config validation and the helpers rules use: the job matrix, paths, code tracking.
import json
import os
import sys
from pathlib import Path

from snakemake.utils import validate

from dra.config import external_subsets, run_spec, subsets
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


def alternation(names):
    return "|".join(sorted(names)) or "(?!)"


def code(*modules):
    """The package files these modules import (transitively), declared as inputs so an edit reruns."""
    return source_files(*modules, relative_to=ROOT)


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
    return run_spec(
        config,
        wc.variant,
        wc.dataset,
        wc.subset,
        wc.setting,
        int(wc.shots),
        int(wc.seed),
    )


def metrics_files(runs):
    return [f"{r.path(RES)}/metrics.json" for r in runs]


def all_targets():
    out = [f"{RES}/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md", "tex")]
    out += [f"{RES}/plots/{p}.png" for p in config.get("plots", {})]
    out.append(f"{RES}/runs.csv")
    return out


def train_inputs(wc):
    spec = spec_of(wc)
    size = spec["image_size"]
    inputs = {
        "split": f"{RES}/splits/{wc.dataset}/{wc.subset}/{wc.setting}/seed{wc.seed}.json",
        "manifest": manifest(wc.dataset, wc.subset),
        "cache": cache(wc.dataset, wc.subset, size),
        "code": code("dra.commands.train", f"dra.methods.{spec['method']}"),
    }
    inputs["external"] = [cache(d, s, size) for d, s in external_subsets(config, spec)]
    return inputs
