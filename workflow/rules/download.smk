# Raw files: download (local rules: compute nodes often have no internet) and safe extraction.
# Each real dataset declares its files in its module (dra.data.<dataset>.FILES: name, URL or none
# for a file placed by hand, pinned SHA-256 where known); `python -m dra datasets` lists them.
# A file with a URL is downloaded (the command makes three attempts, resuming a partial file; a
# failed download is shown once and not retried by Snakemake, which offline would only repeat the
# error); a file only a person can place fails once with the placement message. The pre-flight
# (preflight.smk) lists every download, with the key that does without it, and every file to place
# before any job starts.
for _dataset in DOWNLOADABLE:
    if raw_files(_dataset, manual=False):

        rule:
            name:
                f"download_{_dataset}"
            output:
                raw_files(_dataset, manual=False),
            log:
                at_data(runkey.DOWNLOAD_LOG).format(dataset=_dataset),
            localrule: True
            conda:
                "../envs/train.yaml"
            params:
                dataset=_dataset,
                folder=lambda wc, output: str(Path(output[0]).parent),
                files=" ".join(
                    f"--file {q(f.name)}"
                    for f in files_of(_dataset)
                    if f.url is not None
                ),
            shell:
                # the progress lines go to the console as well as to the log; the outcome to the log only
                "python -m dra download {params.dataset:q} --out {params.folder:q} {params.files} --log {log:q}"

    if raw_files(_dataset, manual=True):

        rule:
            name:
                f"place_{_dataset}"
            output:
                raw_files(_dataset, manual=True),
            log:
                at_data(runkey.PLACE_LOG).format(dataset=_dataset),
            localrule: True
            conda:
                "../envs/train.yaml"
            params:
                dataset=_dataset,
                folder=lambda wc, output: str(Path(output[0]).parent),
                files=" ".join(
                    f"--file {q(f.name)}" for f in files_of(_dataset) if f.url is None
                ),
            shell:
                "python -m dra download {params.dataset:q} --out {params.folder:q} {params.files} --log {log:q}"


rule extract:
    input:
        _extract_input,
    output:
        directory(at_data(runkey.EXTRACTED)),
    log:
        at_data(runkey.EXTRACT_LOG),
    wildcard_constraints:
        dataset=alternation(DOWNLOADABLE),
    conda:
        "../envs/train.yaml"
    params:
        raw=lambda wildcards: at_data(runkey.RAW).format(dataset=wildcards.dataset),
    shell:
        "python -m dra extract {wildcards.dataset:q} --raw {params.raw:q} --out {output:q} > {log:q} 2>&1"
