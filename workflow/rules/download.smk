# Raw files: download (local rules: compute nodes often have no internet) and safe extraction.
# Each real dataset declares its files in its module (dra.data.<dataset>.FILES: name, URL or none
# for a file placed by hand, pinned SHA-256 where known); `python -m dra datasets` lists them.
from pathlib import Path

from dra.data.download import files_of
from dra.data.registry import DATASETS

_RAW_DATA = config.get("paths", {}).get("data", "data")
# Every dataset that declares raw files (all but the generated demo); LAG is the external
# pseudo-anomaly pool.
DOWNLOADABLE = [d for d in DATASETS if files_of(d)]


def raw_folder(dataset):
    """The folder `prepare --raw` reads for a real dataset: its archives, extracted."""
    return f"{_RAW_DATA}/raw/{dataset}/extracted"


def raw_files(dataset):
    return [f"{_RAW_DATA}/raw/{dataset}/{f.name}" for f in files_of(dataset)]


def _extract_input(wildcards):
    # A copy the user extracted by hand into raw_folder(dataset), with no archives beside it, is
    # taken as it is (the download error messages offer this).
    files = raw_files(wildcards.dataset)
    if Path(raw_folder(wildcards.dataset)).is_dir() and not all(
        Path(f).is_file() for f in files
    ):
        return []
    return files


for _dataset in DOWNLOADABLE:

    rule:
        name:
            f"download_{_dataset}"
        output:
            raw_files(_dataset),
        log:
            f"{_RAW_DATA}/logs/download/{_dataset}.log",
        retries: 2
        localrule: True
        conda:
            "../envs/train.yaml"
        params:
            dataset=_dataset,
            folder=f"{_RAW_DATA}/raw/{_dataset}",
        shell:
            # the progress lines go to the console as well as to the log
            "python -m dra download {params.dataset} --out {params.folder} 2>&1 | tee {log}"


rule extract:
    input:
        _extract_input,
    output:
        directory(f"{_RAW_DATA}/raw/{{dataset}}/extracted"),
    log:
        f"{_RAW_DATA}/logs/extract/{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(DOWNLOADABLE),
    conda:
        "../envs/train.yaml"
    params:
        raw=lambda wildcards: f"{_RAW_DATA}/raw/{wildcards.dataset}",
    shell:
        "python -m dra extract {wildcards.dataset} --raw {params.raw} --out {output} > {log} 2>&1"
