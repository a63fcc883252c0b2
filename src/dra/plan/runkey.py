"""The run key and every path built from it: one owner for the six words, the setting grammar and
the file layout under the data and results folders.

A run is (variant, dataset, subset, setting, shots, seed). A setting is `general`, `hard-<class>`
(labeled anomalies of that class only; the class leaves the test set) or `from-<subset>` (cross
domain: trained on that subset of the same dataset, fine-tuned and tested on this one). Rules,
planning, splits, training and the report all build their paths here; the Snakefile turns the same
templates into wildcard patterns (`pattern`). Imports nothing heavy: the Snakefile uses it at parse
time."""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, fields

from dra.errors import DraError

WORDS = ("variant", "dataset", "subset", "setting", "shots", "seed")

# The alphabet of every name that becomes a path, a wildcard or a shell argument (datasets, subsets,
# anomaly classes, variants, tables, figures, row groups): no shell, regex or markup syntax.
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
NAME_MAX = 100
_NAME = re.compile(rf"^{NAME}$")
SEED_MAX = 2**32 - 1  # numpy's and torch's seeds


def check_name(value, where: str) -> str:
    """`value` if it is a name of the alphabet above, else an error naming `where`."""
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > NAME_MAX or ".." in value:
        raise DraError(f"{where}: {value!r} is not a usable name; names of datasets, subsets, classes, variants, "
                       f"tables and row groups are letters, digits, '_', '-' and '.' (not '..'), starting with a "
                       f"letter or digit, at most {NAME_MAX} characters")
    return value


GENERAL = "general"
HARD = "hard-"
FROM = "from-"
HARD_MEAN = "hard-mean"  # a table's mean row over a subset's hard classes (never a run's setting)
SETTING_PATTERN = rf"general|hard-{NAME}|from-{NAME}"
SPLIT_SETTING_PATTERN = rf"general|hard-{NAME}"  # a split's: cross-domain runs read their source's general one
SECTION_KINDS = ("general", "hard", "crossdomain")  # how a table section names its settings


def hard(cls: str) -> str:
    return f"{HARD}{cls}"


def from_source(subset: str) -> str:
    return f"{FROM}{subset}"


def parse_setting(setting: str) -> tuple[str, str | None]:
    """`general` -> ("general", None); `hard-<c>` -> ("hard", c); `from-<s>` -> ("crossdomain", s)."""
    if setting == GENERAL:
        return "general", None
    for prefix, kind in ((HARD, "hard"), (FROM, "crossdomain")):
        if setting.startswith(prefix) and len(setting) > len(prefix) and "/" not in setting:
            return kind, setting[len(prefix):]
    raise DraError(f"setting {setting!r}: expected 'general', 'hard-<anomaly class>' or 'from-<source subset>'")


def is_hard(setting: str) -> bool:
    """A hard setting of one class (not a table's hard-mean row)."""
    return setting != HARD_MEAN and parse_setting(setting)[0] == "hard"


def source_of(setting: str) -> str | None:
    """A cross-domain setting's source subset; None for any other setting."""
    kind, arg = parse_setting(setting)
    return arg if kind == "crossdomain" else None


def hard_class(setting: str) -> str | None:
    """The class of a hard setting, None for the general one; a cross-domain setting is not a split's."""
    kind, arg = parse_setting(setting)
    if kind == "crossdomain":
        raise DraError(f"setting {setting!r}: a split is general or hard-<class>; a cross-domain run reads its "
                       "source's general split")
    return arg


def split_setting(setting: str) -> tuple[str | None, str]:
    """The (source subset, setting) whose split a run of `setting` trains on: a cross-domain run
    trains on its source's general split."""
    kind, arg = parse_setting(setting)
    return (arg, GENERAL) if kind == "crossdomain" else (None, setting)


@dataclass(frozen=True, order=True)
class Run:
    variant: str
    dataset: str
    subset: str
    setting: str
    shots: int
    seed: int

    def dir(self, results: str) -> str:
        return RUN_DIR.format(results=results, **self.words())

    def words(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_variant(self, variant: str) -> "Run":
        return Run(variant, *astuple(self)[1:])


# --- path templates ------------------------------------------------------------------------------
RUN_DIR = "{results}/runs/{variant}/{dataset}/{subset}/{setting}/{shots}shot/seed{seed}"
RUN_FILES = {"scores": "scores.csv", "metrics": "metrics.json", "model": "model.pt", "maps": "maps.npz"}
CHECKPOINT = "checkpoint.pt"  # in the run folder while the run is unfinished (dra.run.checkpoint)
RUN_SCORES = RUN_DIR + "/scores.csv"
RUN_METRICS = RUN_DIR + "/metrics.json"
RUN_MODEL = RUN_DIR + "/model.pt"
RUN_MAPS = RUN_DIR + "/maps.npz"
RUN_LOG = "{results}/logs/train/{variant}/{dataset}/{subset}/{setting}/{shots}shot/seed{seed}.log"
RUN_BENCHMARK = "{results}/benchmarks/train/{variant}/{dataset}/{subset}/{setting}/{shots}shot/seed{seed}.tsv"
SPLIT = "{results}/splits/{dataset}/{subset}/{setting}/seed{seed}.json"
SPLIT_LOG = "{results}/logs/split/{dataset}/{subset}/{setting}/seed{seed}.log"
RAW = "{data}/raw/{dataset}"                  # a dataset's raw files as downloaded or placed
EXTRACTED = RAW + "/extracted"                # ... its archives extracted: what prepare reads
GENERATED = RAW + "/generated"                # a generated dataset (python -m dra synth)
PREPARED = "{data}/prepared/{dataset}/{subset}"
MANIFEST = PREPARED + "/manifest.csv"
PREPARE_LOG = "{data}/logs/prepare/{dataset}/{subset}.log"
CACHE = "{data}/cache/{dataset}/{subset}/{size}.npy"
CACHE_MASKS = "{data}/cache/{dataset}/{subset}/{size}.masks.npy"
CACHE_META = "{data}/cache/{dataset}/{subset}/{size}.json"
CACHE_LOG = "{data}/logs/cache/{dataset}/{subset}/{size}.log"
MAPS = "{results}/maps/{variant}/{dataset}/{subset}/{setting}/{shots}shot/seed{seed}.npz"
MAPS_LOG = "{results}/logs/maps/{variant}/{dataset}/{subset}/{setting}/{shots}shot/seed{seed}.log"
RUNS_CSV = "{results}/runs.csv"
TABLE = "{results}/tables/{table}.{ext}"   # csv, md, tex, html
TABLE_CLASSES = "{results}/tables/{table}_classes.{ext}"   # a table's hard rows per unseen class: csv, md, html
CD_PLOT = "{results}/plots/fig_cd_{table}.{ext}"          # a table's critical-difference figure: png, pdf
PLOT = "{results}/plots/{plot}.{ext}"      # png, pdf
LAYOUT = "{results}/layouts/{name}.json"
SUMMARY = "{results}/summary.{ext}"        # md, rst

# logs of the rules that are not a run's
SYNTH_LOG = "{data}/logs/synth/{dataset}.log"
DOWNLOAD_LOG = "{data}/logs/download/{dataset}.log"
PLACE_LOG = "{data}/logs/download/{dataset}-by-hand.log"
EXTRACT_LOG = "{data}/logs/extract/{dataset}.log"
WEIGHTS_LOG = "{data}/logs/weights.log"
LAYOUT_LOG = "{results}/logs/layout/{name}.log"
COLLECT_LOG = "{results}/logs/collect.log"
TABLE_LOG = "{results}/logs/table/{table}.log"
REPRODUCTION_LOG = "{results}/logs/reproduction.log"
PLOT_LOG = "{results}/logs/plot/{plot}.log"
SUMMARY_LOG = "{results}/logs/summary.log"

_FIELD = re.compile(r"{(\w+)}")


def pattern(template: str, **fixed) -> str:
    """`template` with the fixed fields filled in (data, results folders) and the others left as
    Snakemake wildcards: pattern(SPLIT, results="res") == "res/splits/{dataset}/{subset}/{setting}/seed{seed}.json"."""
    return _FIELD.sub(lambda m: str(fixed[m.group(1)]) if m.group(1) in fixed else m.group(0), template)


def run_file(run: Run, results: str, kind: str) -> str:
    return f"{run.dir(results)}/{RUN_FILES[kind]}"


def table_file(results: str, table: str, ext: str) -> str:
    return TABLE.format(results=results, table=table, ext=ext)
