"""`python -m dra <stage>`: every stage takes explicit input and output paths, so a rule's command
runs by hand exactly as Snakemake runs it. Each stage lives in its own module (dra.commands.*),
imported only when called, so `--help` and cheap stages never import torch."""

from __future__ import annotations

import argparse
import importlib
import sys

from dra.errors import DraError

# stage -> (module, one-line help). The module defines configure(parser) and run(args).
STAGES = {
    "synth": ("dra.commands.synth", "generate the demo dataset in MVTec layout"),
    "download": ("dra.commands.download", "download a dataset's raw files (checksum verified) or say where to put them"),
    "extract": ("dra.commands.extract", "extract a dataset's raw archives safely into one folder"),
    "prepare": ("dra.commands.prepare", "convert a raw dataset into the uniform layout + manifest.csv"),
    "datasets": ("dra.commands.datasets", "list datasets: state, licence, where their files go"),
    "plan": ("dra.commands.plan", "what a configuration will run, on one screen: runs, reruns and why, downloads"),
    "cache": ("dra.commands.cache", "decode and resize a prepared subset once into a uint8 array"),
    "split": ("dra.commands.split", "write a general or hard split (JSON) for one seed"),
    "params": ("dra.commands.params", "list each method's parameters: defaults and allowed values"),
    "train": ("dra.commands.train", "train one run and write scores.csv + metrics.json"),
    "maps": ("dra.commands.maps", "anomaly maps of a few test anomalies from a run's trained model"),
    "layout": ("dra.commands.layout", "write a table's or figure's layout (what the workflow planned for it)"),
    "collect": ("dra.commands.collect", "gather the given runs' metrics into runs.csv"),
    "table": ("dra.commands.table", "write one paper table as CSV, Markdown, LaTeX and HTML"),
    "reproduction": ("dra.commands.reproduction", "list every table's cells flagged against the paper"),
    "plot": ("dra.commands.plot", "draw one paper figure"),
    "summary": ("dra.commands.summary", "what a configuration ran (the report's landing page)"),
    "weights": ("dra.commands.weights", "fill the pretrained-weights cache (online machines only)"),
    "bench": ("dra.commands.bench", "measure training images/s and peak memory per method"),
}


def build_parser(stages=STAGES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dra",
        description="Stage commands of the DRA reproduction pipeline. Each takes explicit input and output "
                    "paths and is exactly what a Snakemake rule runs; `python -m dra STAGE --help` for its options.")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for name, (_, help_) in stages.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        parser.parse_args(argv)  # prints help or the unknown-stage error
        return 2
    module = importlib.import_module(STAGES[argv[0]][0])
    stage_parser = argparse.ArgumentParser(prog=f"python -m dra {argv[0]}", description=STAGES[argv[0]][1])
    module.configure(stage_parser)
    args = stage_parser.parse_intermixed_args(argv[1:])  # positional file lists may follow the options
    try:
        module.run(args)
    except DraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
