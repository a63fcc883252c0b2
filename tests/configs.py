"""A configuration as the Snakefile checks it when it is parsed (workflow/rules/common.smk), in process:
the files merged as Snakemake merges --configfile files, overlays and --config items (parsed by
Snakemake's own parser) over them, numbers coerced, the schema validated, every key and value
checked, the job matrix built. test_workflow.py proves, with one dry run, that such an error reaches
the user as one clear line."""

from __future__ import annotations

from pathlib import Path

from dra.plan.config import deep_merge, load_config
from dra.plan.configcheck import check_config, coerce
from dra.plan.matrix import all_runs, runs_by_artefact

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def parsed(*overlays: dict, files=("config.yaml", "demo.yaml"), config: tuple[str, ...] = ()) -> dict:
    """The checked configuration of config/`files` with `overlays` and `config` (KEY=VALUE items as on
    Snakemake's command line) over them; a DraError (ours) or a WorkflowError (the schema's) otherwise."""
    from snakemake.cli import parse_config
    from snakemake.utils import validate

    cfg = load_config(*(ROOT / "config" / f for f in files))
    for over in (*overlays, parse_config(list(config))):
        cfg = deep_merge(cfg, over)
    coerce(cfg)
    validate(cfg, str(SCHEMA))
    check_config(cfg)
    cfg["_runs"] = all_runs(cfg, runs_by_artefact(cfg))
    return cfg
