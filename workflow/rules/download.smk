# Raw files: download (local rules: compute nodes often have no internet) and safe extraction.
# Each real dataset declares its files in its module (dra.data.<dataset>.FILES: name, URL or none
# for a file placed by hand, pinned SHA-256 where known); `python -m dra datasets` lists them.
for _dataset in DOWNLOADABLE:

    rule:
        name:
            f"download_{_dataset}"
        output:
            raw_files(_dataset),
        log:
            f"{DATA}/logs/download/{_dataset}.log",
        retries: 2
        localrule: True
        conda:
            "../envs/train.yaml"
        params:
            dataset=_dataset,
            folder=lambda wc, output: str(Path(output[0]).parent),
        shell:
            # the progress lines go to the console as well as to the log
            "python -m dra download {params.dataset} --out {params.folder} 2>&1 | tee {log}"


rule extract:
    input:
        _extract_input,
    output:
        directory(f"{DATA}/raw/{{dataset}}/extracted"),
    log:
        f"{DATA}/logs/extract/{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(DOWNLOADABLE),
    conda:
        "../envs/train.yaml"
    params:
        raw=lambda wildcards: f"{DATA}/raw/{wildcards.dataset}",
    shell:
        "python -m dra extract {wildcards.dataset} --raw {params.raw} --out {output} > {log} 2>&1"
