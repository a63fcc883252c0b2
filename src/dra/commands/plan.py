"""`python -m dra plan`: what a study will do, on one screen, before it starts: the runs per table,
dataset and variant, which are done, which an edit reruns and why, which resume from a checkpoint,
what will be downloaded and what only a person can place. The same configuration arguments as
Snakemake (config/config.yaml first, then each --configfile, then --config); the workflow prints the
same lines at the head of a dry run."""

from pathlib import Path

from dra.errors import DraError


def configure(p):
    p.add_argument("--configfile", type=Path, nargs="+", action="extend", default=[],
                   help="config files merged over config/config.yaml, in order (as snakemake --configfile)")
    p.add_argument("--config", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="top-level keys set last, VALUE read as YAML (as snakemake --config)")


def overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DraError(f"--config {item!r}: expected KEY=VALUE")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise DraError(f"--config {item!r}: its value is not YAML ({str(e).splitlines()[0]})") from None
    return out


def run(args):
    from dra.plan.config import DEFAULT_CONFIG, deep_merge, load_config
    from dra.plan.configcheck import check_config, coerce
    from dra.plan.matrix import runs_by_artefact
    from dra.plan.overview import overview

    files = [f for f in args.configfile if Path(f).resolve() != DEFAULT_CONFIG.resolve()]
    cfg = deep_merge(load_config(DEFAULT_CONFIG, *files), overrides(args.config))
    cfg = check_config(coerce(cfg))
    sources = " + ".join(str(f) for f in files) or "config/config.yaml"
    print("\n".join(overview(cfg, runs_by_artefact(cfg), sources)))
